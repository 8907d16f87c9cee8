//! From the YAML tree to the typed model, reporting every mistake with its place.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ayanami_event::{EventKind, EventName, is_name, is_var_path, parse_route};

use crate::model::{
    ANY_METHOD, Composition, Cors, Deploy, Flow, Function, FunctionKind, Gateway, METHODS, Piece,
    Route, Service, Span, Wiring, WiringSpans, Word,
};
use crate::yaml::{Node, Value};
use crate::{Diagnostic, defaults};

mod auth;
mod deploy;
mod triggers;

/// Collects diagnostics while the tree is turned into a model.
pub(crate) struct Decoder {
    pub(crate) diagnostics: Vec<Diagnostic>,
}

type Fields<'a> = BTreeMap<&'a str, &'a Node>;

impl Decoder {
    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            span,
            message: message.into(),
        });
    }

    /// The entries of a map node, with unknown and repeated keys reported.
    ///
    /// An unknown key that is a typo of a missing allowed key is decoded as
    /// that key, so the typo is the only mistake reported for it.
    fn fields<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
        allowed: &[&'a str],
    ) -> Option<Fields<'a>> {
        let entries = self.entries(node, what)?;
        let present = |name: &str| entries.iter().any(|(k, _)| k.as_str() == Some(name));
        let mut fields = Fields::new();
        for (key, value) in entries {
            let name = key.as_str().unwrap_or_default();
            if !allowed.contains(&name) {
                match typo_of(name, allowed).filter(|k| !present(k)) {
                    Some(meant) => {
                        self.error(
                            key.span,
                            format!("unknown key `{name}` in {what}; did you mean `{meant}`?"),
                        );
                        fields.insert(meant, value);
                    }
                    None => self.error(
                        key.span,
                        format!(
                            "unknown key `{name}` in {what}; expected one of {}",
                            backticked(allowed)
                        ),
                    ),
                }
            } else if fields.insert(name, value).is_some() {
                self.error(key.span, format!("key `{name}` appears twice in {what}"));
            }
        }
        Some(fields)
    }

    fn entries<'a>(&mut self, node: &'a Node, what: &str) -> Option<&'a [(Node, Node)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            Value::Scalar { text, .. } if text.is_empty() => Some(&[]),
            _ => {
                self.error(
                    node.span,
                    format!("{what} must be a map, not {}", node.describe()),
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => {
                self.error(
                    node.span,
                    format!("{what} must be a string, not {}", node.describe()),
                );
                None
            }
        }
    }

    fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.string(node, what)?;
        if is_name(&text) {
            return Some(text);
        }
        self.error(
            node.span,
            format!("{what} `{text}` may hold only ASCII letters, digits, `_` and `-`, so that it fits in an event name"),
        );
        None
    }

    fn names(&mut self, node: Option<&Node>, what: &str) -> Vec<String> {
        self.spanned_names(node, what)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Like [`Self::names`], with where each name is written.
    fn spanned_names(&mut self, node: Option<&Node>, what: &str) -> Vec<(String, Span)> {
        let Some(node) = node else { return Vec::new() };
        let Value::Seq(items) = &node.value else {
            self.error(
                node.span,
                format!("{what} must be a list of names, not {}", node.describe()),
            );
            return Vec::new();
        };
        let mut names: Vec<(String, Span)> = Vec::with_capacity(items.len());
        for item in items {
            let Some(name) = self.name(item, what) else {
                continue;
            };
            if names.iter().any(|(n, _)| *n == name) {
                self.error(item.span, format!("`{name}` is listed twice; list it once"));
                continue;
            }
            names.push((name, item.span));
        }
        names
    }

    fn duration(&mut self, node: Option<&Node>, what: &str, default: Duration) -> Duration {
        let Some(node) = node else { return default };
        let parsed = node.as_str().and_then(parse_duration);
        parsed.unwrap_or_else(|| {
            self.error(
                node.span,
                format!(
                    "{what} must be a duration above zero and at most 8760h (a year), such as `500ms`, `30s` or `2m`"
                ),
            );
            default
        })
    }

    pub(crate) fn composition(&mut self, root: Option<&Node>, dir: PathBuf) -> Composition {
        let mut composition = Composition {
            name: String::new(),
            dir,
            gateway: None,
            triggers: crate::trigger::Triggers::default(),
            services: Vec::new(),
            flows: Vec::new(),
            deploy: Deploy::default(),
        };
        let Some(root) = root else {
            self.error(
                Span { line: 1, column: 1 },
                "the composition is empty; it needs at least `name`",
            );
            return composition;
        };
        let Some(fields) = self.fields(
            root,
            "the composition",
            &["name", "gateway", "triggers", "services", "flows", "deploy"],
        ) else {
            return composition;
        };
        match fields.get("name") {
            Some(node) => {
                composition.name = self.name(node, "the project name").unwrap_or_default()
            }
            None => self.error(root.span, "the composition needs a `name`"),
        }
        composition.gateway = fields.get("gateway").and_then(|node| self.gateway(node));
        if let Some(node) = fields.get("triggers") {
            composition.triggers = self.triggers(node);
        }
        if let Some(node) = fields.get("services") {
            composition.services =
                self.named_map(node, "`services`", "service", |d, name, _, node| {
                    d.service(name, node)
                });
        }
        if let Some(node) = fields.get("flows") {
            composition.flows = self.named_map(node, "`flows`", "flow", |d, name, span, node| {
                d.flow(name, span, node)
            });
        }
        self.reply_flows(&mut composition.triggers, &composition.flows);
        if let Some(node) = fields.get("deploy") {
            composition.deploy = self.deploy(node, &composition);
        }
        composition
    }

    /// The entries of a map from names to `noun`s, decoded with `decode`,
    /// which is given each name, where it is written and its value.
    fn named_map<T>(
        &mut self,
        node: &Node,
        what: &str,
        noun: &str,
        mut decode: impl FnMut(&mut Self, String, Span, &Node) -> Option<T>,
    ) -> Vec<T> {
        let Some(entries) = self.entries(node, what) else {
            return Vec::new();
        };
        let mut seen = Vec::new();
        let mut items = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.name(key, &format!("the {noun} name")) else {
                continue;
            };
            if seen.contains(&name) {
                self.error(key.span, format!("`{name}` appears twice in {what}"));
                continue;
            }
            seen.push(name.clone());
            items.extend(decode(self, name, key.span, value));
        }
        items
    }

    fn gateway(&mut self, node: &Node) -> Option<Gateway> {
        let fields = self.fields(
            node,
            "`gateway`",
            &[
                "port",
                "timeout",
                "max_body",
                "max_in_flight",
                "routes",
                "cors",
                "auth",
            ],
        )?;
        let port = match fields.get("port") {
            Some(node) => node
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| {
                    self.error(
                        node.span,
                        "`port` of the gateway must be a number from 0 to 65535",
                    );
                    defaults::PORT
                }),
            None => defaults::PORT,
        };
        let max_body = match fields.get("max_body") {
            Some(node) => node.as_str().and_then(parse_size).unwrap_or_else(|| {
                self.error(
                    node.span,
                    "`max_body` must be a size above zero, such as `1048576`, `512KiB` or `2MiB`",
                );
                defaults::MAX_BODY
            }),
            None => defaults::MAX_BODY,
        };
        let max_in_flight = match fields.get("max_in_flight") {
            Some(node) => node
                .as_str()
                .and_then(|t| t.parse().ok())
                .filter(|n| (1..=defaults::MAX_COUNT).contains(n))
                .unwrap_or_else(|| {
                    self.error(
                        node.span,
                        "`max_in_flight` must be a whole number from 1 to 1000000, such as `1024`",
                    );
                    defaults::MAX_IN_FLIGHT
                }),
            None => defaults::MAX_IN_FLIGHT,
        };
        let routes = match fields.get("routes") {
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items.iter().filter_map(|item| self.route(item)).collect(),
            Some(other) => {
                self.error(
                    other.span,
                    format!("`routes` must be a list, not {}", other.describe()),
                );
                Vec::new()
            }
            None => Vec::new(),
        };
        Some(Gateway {
            port,
            timeout: self.duration(
                fields.get("timeout").copied(),
                "`timeout`",
                defaults::TIMEOUT,
            ),
            max_body,
            max_in_flight,
            routes,
            cors: fields.get("cors").and_then(|node| self.cors(node)),
            auth: fields
                .get("auth")
                .map(|node| self.auth(node))
                .unwrap_or_default(),
        })
    }

    fn cors(&mut self, node: &Node) -> Option<Cors> {
        let allowed = ["origins", "methods", "headers", "max_age"];
        let fields = self.fields(node, "`cors`", &allowed)?;
        let origins = self.strings(fields.get("origins").copied(), "`origins` of `cors`");
        for (origin, span) in &origins {
            if !is_origin(origin) {
                self.error(
                    *span,
                    format!("`{origin}` is not an origin; write `*` or a scheme and host such as `https://example.com`, without a path"),
                );
            }
        }
        if origins.is_empty() {
            self.error(
                node.span,
                "`cors` needs `origins`: the origins allowed, such as `[\"https://example.com\"]` or `[\"*\"]`",
            );
        }
        let methods = match fields.get("methods") {
            Some(list) => {
                let methods = self.strings(Some(list), "`methods` of `cors`");
                self.methods(methods.into_iter(), false, "`cors`")
            }
            None => ["GET", "HEAD", "POST"].map(str::to_owned).to_vec(),
        };
        let mut headers = Vec::new();
        for (header, span) in self.strings(fields.get("headers").copied(), "`headers` of `cors`") {
            if is_name(&header) {
                headers.push(header.to_ascii_lowercase());
            } else {
                self.error(
                    span,
                    format!("`{header}` is not a header name; use letters, digits and `-`"),
                );
            }
        }
        let max_age = self.duration(
            fields.get("max_age").copied(),
            "`max_age`",
            defaults::CORS_MAX_AGE,
        );
        Some(Cors {
            origins: origins.into_iter().map(|(o, _)| o).collect(),
            methods,
            headers,
            max_age,
        })
    }

    /// The strings of a list node, with where each is written.
    fn strings(&mut self, node: Option<&Node>, what: &str) -> Vec<(String, Span)> {
        let Some(node) = node else { return Vec::new() };
        let Value::Seq(items) = &node.value else {
            self.error(
                node.span,
                format!("{what} must be a list, not {}", node.describe()),
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| Some((self.string(item, what)?, item.span)))
            .collect()
    }

    /// Upper-cased `methods`, each reported where it is written when unknown;
    /// `ANY` is allowed, alone, where `any` says so.
    fn methods(
        &mut self,
        methods: impl Iterator<Item = (String, Span)>,
        any: bool,
        what: &str,
    ) -> Vec<String> {
        let mut known = Vec::new();
        for (mut method, span) in methods {
            method.make_ascii_uppercase();
            if METHODS.contains(&method.as_str()) || (any && method == ANY_METHOD) {
                known.push(method);
                continue;
            }
            let mut choices = METHODS.join(", ");
            if any {
                choices.push_str(", or `ANY` for every method");
            }
            self.error(
                span,
                format!("unknown method `{method}` in {what}; use one of {choices}"),
            );
        }
        known
    }

    fn route(&mut self, node: &Node) -> Option<Route> {
        let fields = self.fields(node, "a route", &["path", "method", "methods"])?;
        let Some(path_node) = fields.get("path") else {
            self.error(node.span, "a route needs a `path`, such as `/hello/{name}`");
            return None;
        };
        let path = self.string(path_node, "`path`")?;
        let segments = match parse_route(&path) {
            Ok(segments) => segments,
            Err(error) => {
                self.error(path_node.span, error.to_string());
                return None;
            }
        };
        let written = match (fields.get("method"), fields.get("methods")) {
            (Some(one), None) => self
                .string(one, "`method`")
                .map(|m| (m, one.span))
                .into_iter()
                .collect(),
            (None, Some(list)) => self.strings(Some(list), "`methods`"),
            (None, None) => vec![("GET".to_owned(), node.span)],
            (Some(_), Some(list)) => {
                self.error(list.span, "a route takes `method` or `methods`, not both");
                return None;
            }
        };
        let count = written.len();
        let methods = self.methods(written.into_iter(), true, &format!("route `{path}`"));
        if methods.len() != count {
            return None;
        }
        if methods.len() > 1 && methods.iter().any(|m| m == ANY_METHOD) {
            self.error(
                node.span,
                format!(
                    "route `{path}` lists `ANY`, which already answers every method; list it alone"
                ),
            );
            return None;
        }
        if methods.is_empty() {
            self.error(
                node.span,
                format!("route `{path}` lists no method; list one, or `ANY` for every method"),
            );
            return None;
        }
        Some(Route {
            path,
            segments,
            methods,
            span: node.span,
        })
    }

    fn service(&mut self, name: String, node: &Node) -> Option<Service> {
        let what = format!("service `{name}`");
        let fields = self.fields(node, &what, &["functions"])?;
        let functions = match fields.get("functions") {
            Some(node) => self.named_map(
                node,
                &format!("the functions of {what}"),
                "function",
                |d, function, span, node| d.function(&name, function, span, node),
            ),
            None => Vec::new(),
        };
        Some(Service { name, functions })
    }

    fn function(
        &mut self,
        service: &str,
        name: String,
        span: Span,
        node: &Node,
    ) -> Option<Function> {
        let what = format!("function `{service}.{name}`");
        let allowed = [
            "kind",
            "run",
            "inputs",
            "outputs",
            "timeout",
            "env",
            "concurrency",
            "url",
        ];
        let fields = self.fields(node, &what, &allowed)?;
        let mut inputs = self.names(fields.get("inputs").copied(), "an input");
        let mut outputs = self.names(fields.get("outputs").copied(), "an output");
        let kind_name = fields.get("kind").and_then(|k| self.string(k, "`kind`"));
        if let (Some(url), Some(kind)) = (fields.get("url"), kind_name.as_deref())
            && kind != "http"
        {
            self.error(
                url.span,
                format!("{what} is of kind `{kind}`; only kind `http` takes `url`, so remove it"),
            );
        }
        if kind_name.as_deref() == Some("outside") {
            return self.outside(what, name, span, &fields, inputs, outputs);
        }
        let kind = match kind_name.as_deref() {
            Some("http") => self.http(&what, span, &fields)?,
            kind_name => {
                self.program(&what, span, &fields, kind_name, &mut inputs, &mut outputs)?
            }
        };
        let concurrency = match fields.get("concurrency") {
            Some(node) => {
                let parsed = node
                    .as_str()
                    .and_then(|t| t.parse::<usize>().ok())
                    .filter(|n| (1..=defaults::MAX_COUNT).contains(n));
                if parsed.is_none() {
                    self.error(
                        node.span,
                        "`concurrency` must be a whole number of calls from 1 to 1000000",
                    );
                }
                parsed
            }
            None => None,
        };
        let env = match fields.get("env") {
            Some(node) => self.env(node, &what),
            None => BTreeMap::new(),
        };
        Some(Function {
            name,
            kind,
            inputs,
            outputs,
            timeout: self.duration(
                fields.get("timeout").copied(),
                "`timeout`",
                defaults::FUNCTION_TIMEOUT,
            ),
            env,
            concurrency,
            span,
        })
    }

    /// The kind of a function Ayanami starts a program for, from its `run`.
    fn program(
        &mut self,
        what: &str,
        span: Span,
        fields: &Fields<'_>,
        kind_name: Option<&str>,
        inputs: &mut Vec<String>,
        outputs: &mut Vec<String>,
    ) -> Option<FunctionKind> {
        let Some(run) = fields.get("run") else {
            self.error(span, format!("{what} needs `run`: the command it runs"));
            return None;
        };
        let run_text = self.string(run, "`run`")?;
        let kind = match kind_name {
            Some("cmd") => {
                let argv = self.template(what, &run_text, run.span, inputs)?;
                if outputs.is_empty() {
                    outputs.push("output".to_owned());
                }
                if outputs.len() > 1 {
                    self.error(
                        fields["outputs"].span,
                        format!(
                            "{what} is a `cmd`, whose one output is its stdout; list one name in `outputs`"
                        ),
                    );
                }
                FunctionKind::Cmd { argv }
            }
            Some("exec") => {
                let argv = self.argv(what, &run_text, run.span)?;
                FunctionKind::Exec { argv }
            }
            Some("worker") => {
                let argv = self.argv(what, &run_text, run.span)?;
                FunctionKind::Worker { argv }
            }
            Some(other) => {
                let span = fields["kind"].span;
                self.error(
                    span,
                    format!(
                        "unknown kind `{other}` of {what}; use `cmd`, `exec`, `worker`, `http` or `outside`"
                    ),
                );
                return None;
            }
            None => {
                self.error(
                    span,
                    format!("{what} needs `kind`: `cmd`, `exec`, `worker`, `http` or `outside`"),
                );
                return None;
            }
        };
        Some(kind)
    }

    /// The kind of a function served by a web service at its `url`.
    fn http(&mut self, what: &str, span: Span, fields: &Fields<'_>) -> Option<FunctionKind> {
        for key in ["run", "env"] {
            if let Some(node) = fields.get(key) {
                self.error(
                    node.span,
                    format!(
                        "{what} is `http`, so Ayanami starts no program for it; remove `{key}`"
                    ),
                );
            }
        }
        let Some(node) = fields.get("url") else {
            self.error(
                span,
                format!("{what} is `http`; it needs `url`, the address its inputs are POSTed to, such as `http://127.0.0.1:9000/fn`"),
            );
            return None;
        };
        let url = self.string(node, "`url`")?;
        if let Err(problem) = check_url(&url) {
            self.error(node.span, format!("`url` of {what} {problem}"));
            return None;
        }
        Some(FunctionKind::Http { url })
    }

    /// A function some program outside Ayanami serves over NATS: Ayanami
    /// runs nothing for it, but flows need its inputs and outputs.
    fn outside(
        &mut self,
        what: String,
        name: String,
        span: Span,
        fields: &Fields<'_>,
        inputs: Vec<String>,
        outputs: Vec<String>,
    ) -> Option<Function> {
        if let Some(run) = fields.get("run") {
            self.error(
                run.span,
                format!("{what} is `outside`, so Ayanami runs nothing for it; remove `run`"),
            );
        }
        if inputs.is_empty() || outputs.is_empty() {
            self.error(
                span,
                format!(
                    "{what} is `outside`; list its `inputs` and `outputs` so flows can call it"
                ),
            );
            return None;
        }
        Some(Function {
            name,
            kind: FunctionKind::Outside,
            inputs,
            outputs,
            timeout: self.duration(
                fields.get("timeout").copied(),
                "`timeout`",
                defaults::FUNCTION_TIMEOUT,
            ),
            env: BTreeMap::new(),
            concurrency: None,
            span,
        })
    }

    fn env(&mut self, node: &Node, what: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for (key, value) in self
            .entries(node, &format!("`env` of {what}"))
            .unwrap_or_default()
        {
            let (key_span, value_span) = (key.span, value.span);
            let (Some(key), Some(value)) = (
                self.string(key, "a variable name"),
                self.string(value, "a value"),
            ) else {
                continue;
            };
            if key.is_empty() || key.contains(['=', '\0']) {
                self.error(
                    key_span,
                    format!("`{}` in `env` of {what} is not a variable name; it may not be empty or hold `=` or a NUL", key.escape_debug()),
                );
                continue;
            }
            if value.contains('\0') {
                self.error(
                    value_span,
                    format!("the value of `{key}` in `env` of {what} holds a NUL, which no environment can"),
                );
                continue;
            }
            env.insert(key, value);
        }
        env
    }

    fn argv(&mut self, what: &str, run: &str, span: Span) -> Option<Vec<String>> {
        match shell_words::split(run) {
            Ok(argv) if argv.iter().any(|word| word.contains('\0')) => {
                self.error(
                    span,
                    format!("`run` of {what} holds a NUL, which no program's arguments can"),
                );
                None
            }
            Ok(argv) if !argv.is_empty() => Some(argv),
            Ok(_) => {
                self.error(span, format!("`run` of {what} is empty"));
                None
            }
            Err(_) => {
                self.error(span, format!("`run` of {what} has an unclosed quote"));
                None
            }
        }
    }

    fn template(
        &mut self,
        what: &str,
        run: &str,
        span: Span,
        inputs: &mut Vec<String>,
    ) -> Option<Vec<Word>> {
        let words = self.argv(what, run, span)?;
        let declared = !inputs.is_empty();
        let mut argv = Vec::with_capacity(words.len());
        for word in words {
            let pieces = match split_template(&word) {
                Ok(pieces) => pieces,
                Err(message) => {
                    self.error(span, format!("`run` of {what}: {message}"));
                    return None;
                }
            };
            for piece in &pieces {
                let Piece::Input(input) = piece else { continue };
                if declared && !inputs.contains(input) {
                    self.error(
                        span,
                        format!(
                            "`${input}` in `run` of {what} is not one of its inputs ({}); add `{input}` to `inputs` or use one of those",
                            backticked(inputs)
                        ),
                    );
                } else if !inputs.contains(input) {
                    inputs.push(input.clone());
                }
            }
            argv.push(Word(pieces));
        }
        if inputs.is_empty() {
            self.error(
                span,
                format!(
                    "`run` of {what} names no input; pass one as `$name`, as in `figlet $input`"
                ),
            );
        }
        Some(argv)
    }

    fn flow(&mut self, name: String, span: Span, node: &Node) -> Option<Flow> {
        let what = format!("flow `{name}`");
        let errors_before = self.diagnostics.len();
        let fields = self.fields(node, &what, &["inputs", "outputs", "timeout", "wirings"])?;
        let wirings = match fields.get("wirings") {
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items.iter().filter_map(|w| self.wiring(&what, w)).collect(),
            Some(other) => {
                self.error(
                    other.span,
                    format!(
                        "`wirings` of {what} must be a list, not {}",
                        other.describe()
                    ),
                );
                Vec::new()
            }
            None => Vec::new(),
        };
        let mut inputs = self.names(fields.get("inputs").copied(), "an input");
        let listed = fields.contains_key("inputs");
        let triggered = wirings
            .iter()
            .filter(|w: &&Wiring| w.from.as_ref().is_some_and(|e| e.kind() == EventKind::Trig));
        let mut by_event: Vec<(EventName, Vec<&str>)> = Vec::new();
        for wiring in triggered {
            // Without a list, a flow's inputs are what its triggers set.
            if !listed && !inputs.contains(&wiring.var) {
                inputs.push(wiring.var.clone());
            }
            let Some(event) = wiring.from.as_ref().map(EventName::base) else {
                continue;
            };
            match by_event.iter_mut().find(|(e, _)| *e == event) {
                Some((_, vars)) => vars.push(&wiring.var),
                None => by_event.push((event, vec![&wiring.var])),
            }
        }
        // Each trigger event starts an instance of its own, so each must set
        // every input, or its instances wait until their deadline.
        let unset = by_event.iter().find_map(|(event, vars)| {
            let missing = inputs.iter().find(|i| !vars.contains(&i.as_str()))?;
            Some((event, missing))
        });
        match unset {
            Some((event, missing)) if listed => self.error(
                span,
                format!("{what} lists input `{missing}`, which `{event}` does not set; an instance that event starts would wait for it until its deadline. Set it from the trigger, or remove it from `inputs`"),
            ),
            Some((event, _)) => self.error(
                span,
                format!("{what} starts from several trigger events, and `{event}` does not set all of its inputs ({}); each event starts an instance of its own, which would wait for the rest until its deadline. Set the same variables from every trigger", backticked(&inputs)),
            ),
            None => {}
        }
        let settable: Vec<&str> = inputs
            .iter()
            .map(String::as_str)
            .chain(
                wirings
                    .iter()
                    .filter(|w| w.sets_var())
                    .map(|w| w.var.as_str()),
            )
            .collect();
        // A mistake in a wiring or a list leaves them incomplete; say nothing
        // more about them until it is fixed.
        let complete = self.diagnostics.len() == errors_before;
        let declared_outputs = self.spanned_names(fields.get("outputs").copied(), "an output");
        for (output, output_span) in &declared_outputs {
            if complete && !settable.contains(&output.as_str()) {
                self.error(
                    *output_span,
                    format!("output `{output}` of {what} is never set by a wiring; set it with `from` or `value`, or remove it from `outputs`"),
                );
            }
        }
        let mut outputs: Vec<String> = declared_outputs.into_iter().map(|(o, _)| o).collect();
        if !fields.contains_key("outputs") {
            // Without a list, a flow's outputs are what it answers a trigger
            // with: the variable set, for a wiring that publishes a part of one.
            let answers = wirings
                .iter()
                .filter(|w| w.to.iter().any(|e| e.kind() == EventKind::Trig))
                .map(|w| set_prefix(&w.var, &settable).unwrap_or(&w.var));
            for answer in answers {
                if !outputs.iter().any(|o| o == answer) {
                    outputs.push(answer.to_owned());
                }
            }
        }
        let complete = self.diagnostics.len() == errors_before;
        if inputs.is_empty() && complete {
            self.error(span, format!("{what} has no inputs, so nothing can start it; list `inputs` or wire one `from` a trigger"));
        }
        if outputs.is_empty() && complete {
            self.error(
                span,
                format!(
                    "{what} has no outputs, so it would end as soon as it starts; list `outputs`"
                ),
            );
        }
        Some(Flow {
            name,
            inputs,
            outputs,
            timeout: self.duration(
                fields.get("timeout").copied(),
                "`timeout`",
                defaults::TIMEOUT,
            ),
            wirings,
            span,
        })
    }

    fn wiring(&mut self, flow: &str, node: &Node) -> Option<Wiring> {
        let what = format!("a wiring of {flow}");
        let fields = self.fields(node, &what, &["from", "var", "value", "apply", "to"])?;
        let Some(var_node) = fields.get("var") else {
            self.error(
                node.span,
                format!("{what} needs `var`: the variable it sets or publishes"),
            );
            return None;
        };
        let var = self.string(var_node, "`var`")?;
        if !is_var_path(&var) {
            self.error(
                var_node.span,
                format!(
                    "variable `{var}` must be names joined by `.`, such as `request.form.text`"
                ),
            );
        }
        let from = fields.get("from").and_then(|n| self.event(n));
        let to_nodes = match fields.get("to") {
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items.iter().collect(),
            Some(node) => vec![*node],
            None => Vec::new(),
        };
        let (to, to_spans) = to_nodes
            .into_iter()
            .filter_map(|n| Some((self.event(n)?, n.span)))
            .unzip();
        let apply = fields.get("apply").and_then(|node| {
            let text = self.string(node, "`apply`")?;
            let parsed = text
                .split_once('.')
                .filter(|(s, f)| is_name(s) && is_name(f));
            if parsed.is_none() {
                self.error(
                    node.span,
                    format!("`apply` must name a function as `service.function`, not `{text}`"),
                );
            }
            parsed.map(|(s, f)| (s.to_owned(), f.to_owned()))
        });
        let span_of = |key| fields.get(key).map_or(node.span, |n| n.span);
        Some(Wiring {
            from,
            var,
            value: fields.get("value").map(|n| n.to_json()),
            apply,
            to,
            span: node.span,
            spans: WiringSpans {
                var: var_node.span,
                from: span_of("from"),
                apply: span_of("apply"),
                to: to_spans,
            },
        })
    }

    fn event(&mut self, node: &Node) -> Option<EventName> {
        let text = self.string(node, "an event")?;
        match text.parse() {
            Ok(event) => Some(event),
            Err(error) => {
                let mut message = error.to_string();
                // A route parameter written as in the path: `{name}` for `_name`.
                let param = text.split('.').find_map(|token| {
                    let inner = token.strip_prefix('{')?.strip_suffix('}')?;
                    Some((token, inner))
                });
                if let Some((token, inner)) = param {
                    let escaped = match inner.strip_prefix('*') {
                        Some(rest) => format!("__{rest}"),
                        None => format!("_{inner}"),
                    };
                    message.push_str(&format!(
                        "; in an event, the route parameter `{token}` is written `{escaped}`"
                    ));
                }
                self.error(node.span, message);
                None
            }
        }
    }
}

/// The names as `` `a`, `b` ``, for messages.
pub(crate) fn backticked<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one name of `candidates` that `word` is most likely a typo of.
fn typo_of<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let mut close: Vec<(usize, &'a str)> = candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(distance, c)| *distance <= 2 && *distance < c.len())
        .collect();
    close.sort_unstable();
    match close[..] {
        [(_, only)] => Some(only),
        [(best, first), (next, _), ..] if best < next => Some(first),
        _ => None,
    }
}

/// The Levenshtein distance between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The longest prefix of the variable path `var` that is one of `settable`.
fn set_prefix<'a>(var: &'a str, settable: &[&str]) -> Option<&'a str> {
    let mut prefix = var;
    loop {
        if settable.contains(&prefix) {
            return Some(prefix);
        }
        prefix = prefix.rsplit_once('.')?.0;
    }
}

/// Splits one template word into text and `$input` / `${input}` pieces; `$$` is a `$`.
fn split_template(word: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            let Some(end) = braced.find('}') else {
                return Err(format!("`${{` without a closing `}}` in `{word}`"));
            };
            (&braced[..end], &braced[end + 1..])
        } else if let Some(next) = after.strip_prefix('$') {
            text.push('$');
            rest = next;
            continue;
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if !is_name(name) {
            return Err(format!(
                "`$` must be followed by an input name in `{word}`; write `$$` for a literal `$`"
            ));
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Input(name.to_owned()));
        rest = next;
    }
    text.push_str(rest);
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Whether `text` is `*` or an origin such as `https://example.com:8443`.
fn is_origin(text: &str) -> bool {
    if text == "*" {
        return true;
    }
    let Some((scheme, host)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic());
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    scheme_ok && host_ok
}

/// Checks an `http` function's URL: `http://`, a host, maybe a port, then a
/// path and query of visible ASCII; says what is wrong otherwise.
fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(match url.split_once("://") {
            Some(("https", _)) => "is `https`, which Ayanami does not speak to functions; use `http://`, through a local proxy for a remote server".to_owned(),
            _ => "must start with `http://`, as in `http://127.0.0.1:9000/fn`".to_owned(),
        });
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, _)) if !host.ends_with(']') && host.contains(':') => (authority, None),
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let ipv6 = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !(ipv6 || plain) {
        return Err("has no valid host; write it as `http://HOST:PORT/PATH`".to_owned());
    }
    if port.is_some_and(|p| !p.parse::<u16>().is_ok_and(|p| p > 0)) {
        return Err("has a port that is not a number from 1 to 65535".to_owned());
    }
    if let Some(bad) = target.chars().find(|c| !c.is_ascii_graphic() || *c == '#') {
        return Err(format!(
            "holds {bad:?}, which a URL's path or query may not hold; percent-encode it"
        ));
    }
    Ok(())
}

/// Parses `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds; `None`
/// for anything else, and for zero.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let number: f64 = text[..split].parse().ok()?;
    let seconds = match text[split..].trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero() && *d <= defaults::MAX_DURATION)
}

/// Parses `1048576`, `512KiB`, `2MiB`, `1MB` and the like into bytes.
fn parse_size(text: &str) -> Option<usize> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: usize = text[..split].parse().ok()?;
    let unit = match text[split..].trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit).filter(|bytes| *bytes > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_text_and_inputs() {
        let input = |n: &str| Piece::Input(n.to_owned());
        let text = |t: &str| Piece::Text(t.to_owned());
        assert_eq!(split_template("$input").unwrap(), [input("input")]);
        assert_eq!(
            split_template("--text=${a}x").unwrap(),
            [text("--text="), input("a"), text("x")]
        );
        assert_eq!(
            split_template("$a-$b").unwrap(),
            [input("a"), text("-"), input("b")]
        );
        assert_eq!(split_template("cost:$$5").unwrap(), [text("cost:$5")]);
        assert_eq!(split_template("").unwrap(), [text("")]);
        assert!(split_template("${a").is_err());
        assert!(split_template("$").is_err());
    }

    #[test]
    fn typos_are_guessed_only_when_one_key_is_close() {
        let keys = [
            "kind",
            "run",
            "inputs",
            "outputs",
            "timeout",
            "env",
            "concurrency",
        ];
        assert_eq!(typo_of("kidn", &keys), Some("kind"));
        assert_eq!(typo_of("input", &keys), Some("inputs"));
        assert_eq!(typo_of("retries", &keys), None);
        assert_eq!(typo_of("methos", &["method", "methods"]), None);
        assert_eq!(typo_of("x", &["to", "var"]), None);
    }

    #[test]
    fn origins_have_a_scheme_and_a_host_and_no_path() {
        for origin in [
            "*",
            "https://example.com",
            "http://localhost:8080",
            "http://[::1]:80",
        ] {
            assert!(is_origin(origin), "{origin}");
        }
        for origin in [
            "example.com",
            "https://",
            "https://a.com/",
            "://a.com",
            "https://a b",
        ] {
            assert!(!is_origin(origin), "{origin}");
        }
    }

    #[test]
    fn http_urls_need_the_scheme_a_host_and_a_sane_port() {
        for good in [
            "http://127.0.0.1:9000/fn",
            "http://localhost/",
            "http://example.com",
            "http://[::1]:8080/a/b?x=1&y=%20",
            "http://svc-1.default.svc:80?q",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "https://example.com/",
            "ftp://example.com/",
            "127.0.0.1:9000/fn",
            "http://",
            "http://:80/",
            "http://user@host/",
            "http://host:0/",
            "http://host:65536/",
            "http://host:x/",
            "http://host/a b",
            "http://host/a#frag",
            "http://host/é",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_sizes_take_units() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("0ms"), None);
        assert_eq!(parse_duration("8760h"), Some(defaults::MAX_DURATION));
        assert_eq!(parse_duration("8761h"), None);
        assert_eq!(parse_duration("10000000000000000000s"), None);
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("2 lots"), None);
    }
}
