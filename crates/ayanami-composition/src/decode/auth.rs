//! The gateway's `auth:` groups: which routes need credentials, and where
//! the secrets are. A secret written into the composition is refused.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::model::{AuthGroup, AuthScheme, SecretSource, Span};
use crate::yaml::{Node, Value};

use super::Decoder;

/// Keys that would put a secret into the composition itself.
const LITERAL_SECRETS: [&str; 6] = ["token", "tokens", "password", "secret", "users", "user"];

impl Decoder {
    pub(super) fn auth(&mut self, node: &Node) -> Vec<AuthGroup> {
        // Which group took each prefix: a request under it could prove
        // itself to one group only, so the other's secrets would never work.
        let mut owners: HashMap<String, String> = HashMap::new();
        self.named_map(node, "`auth`", "auth group", |d, name, span, node| {
            let group = d.auth_group(name, span, node)?;
            for path in &group.paths {
                if let Some(owner) = owners.insert(path.clone(), group.name.clone()) {
                    let prefix = if path.is_empty() { "every route" } else { path.as_str() };
                    d.error(
                        span,
                        format!(
                            "auth groups `{owner}` and `{}` both cover `{prefix}`; give each prefix to one group",
                            group.name
                        ),
                    );
                }
            }
            Some(group)
        })
    }

    fn auth_group(&mut self, name: String, span: Span, node: &Node) -> Option<AuthGroup> {
        let what = format!("auth group `{name}`");
        let mut allowed = vec!["scheme", "paths", "env", "file"];
        allowed.extend(LITERAL_SECRETS);
        let fields = self.fields(node, &what, &allowed)?;
        let mut literal = false;
        for key in LITERAL_SECRETS {
            if let Some(value) = fields.get(key) {
                literal = true;
                self.error(
                    value.span,
                    format!("{what} must not hold its secrets: `{key}` would put them in the composition; name an environment variable with `env:` or a file with `file:` that holds them"),
                );
            }
        }

        let scheme = match fields.get("scheme") {
            None => AuthScheme::Bearer,
            Some(node) => match self.string(node, "`scheme`")?.to_ascii_lowercase().as_str() {
                "bearer" => AuthScheme::Bearer,
                "basic" => AuthScheme::Basic,
                other => {
                    self.error(
                        node.span,
                        format!("unknown `scheme` `{other}` in {what}; use `bearer` or `basic`"),
                    );
                    return None;
                }
            },
        };

        let mut paths = Vec::new();
        for (path, span) in self.strings(fields.get("paths").copied(), "`paths`") {
            if path.contains(['{', '}']) {
                self.error(
                    span,
                    format!("`{path}` in {what} is a route, but `paths` takes plain prefixes, such as `/hello` for `/hello/{{name}}`"),
                );
            } else if path.starts_with('/') {
                paths.push(path.trim_end_matches('/').to_owned());
            } else {
                self.error(
                    span,
                    format!("`{path}` in {what} is not a path; write a prefix such as `/admin`"),
                );
            }
        }
        match fields.get("paths") {
            None => paths.push(String::new()),
            Some(node) if matches!(&node.value, Value::Seq(items) if items.is_empty()) => {
                self.error(
                    node.span,
                    format!("`paths` of {what} lists no path, so it protects nothing; leave `paths` out to protect every route"),
                );
            }
            Some(_) => {}
        }

        let secrets = match (fields.get("env"), fields.get("file")) {
            (Some(env), None) => {
                let variable = self.string(env, "`env`")?;
                if variable.is_empty() || variable.contains(['=', '\0']) {
                    self.error(
                        env.span,
                        format!("`env` of {what} must name an environment variable"),
                    );
                    return None;
                }
                SecretSource::Env(variable)
            }
            (None, Some(file)) => {
                let path = self.string(file, "`file`")?;
                if path.is_empty() {
                    self.error(file.span, format!("`file` of {what} must name a file"));
                    return None;
                }
                SecretSource::File(PathBuf::from(path))
            }
            (Some(_), Some(file)) => {
                self.error(file.span, format!("{what} takes `env` or `file`, not both"));
                return None;
            }
            (None, None) => {
                if literal {
                    return None;
                }
                self.error(
                    span,
                    format!("{what} needs `env: VARIABLE` or `file: PATH`, where its secrets are"),
                );
                return None;
            }
        };
        Some(AuthGroup {
            name,
            scheme,
            paths,
            secrets,
        })
    }
}
