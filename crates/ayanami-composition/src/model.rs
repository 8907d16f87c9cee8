//! The typed composition: services, the gateway and flows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ayanami_event::{Direction, EventName, RouteSegment};
use serde_json::Value;

use crate::trigger::Triggers;

/// A line and column (both from 1) in the composition file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

/// A whole application: what `ayanami.yaml` says.
#[derive(Debug, Clone)]
pub struct Composition {
    /// The project's name.
    pub name: String,
    /// The folder holding `ayanami.yaml`; functions run from here.
    pub dir: PathBuf,
    /// The HTTP trigger, if the application has one.
    pub gateway: Option<Gateway>,
    /// The schedules and NATS subjects that start flows.
    pub triggers: Triggers,
    /// The services, in file order.
    pub services: Vec<Service>,
    /// The flows, in file order.
    pub flows: Vec<Flow>,
    /// How `ayanami build` ships the application; empty when unsaid.
    pub deploy: Deploy,
}

impl Composition {
    /// The service called `name`.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The function `service.function`.
    #[must_use]
    pub fn function(&self, service: &str, function: &str) -> Option<&Function> {
        self.service(service)?
            .functions
            .iter()
            .find(|f| f.name == function)
    }

    /// The flow called `name`.
    #[must_use]
    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.name == name)
    }
}

/// The HTTP gateway: a port and routes.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The port `ayanami run` listens on unless `--port` says otherwise.
    pub port: u16,
    /// How long a request may wait for its response (504 after).
    pub timeout: Duration,
    /// The largest request body accepted, in bytes (413 beyond).
    pub max_body: usize,
    /// How many requests may be in flight at once (503 beyond).
    pub max_in_flight: usize,
    /// The routes, in file order.
    pub routes: Vec<Route>,
    /// Which other origins may call the gateway from a browser, if any.
    pub cors: Option<Cors>,
    /// Groups of routes that need credentials, in file order.
    pub auth: Vec<AuthGroup>,
}

/// Routes under some path prefixes that need a bearer token or a user and
/// password. The secrets are named here and read when the gateway starts,
/// never written in the composition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthGroup {
    /// The group's name, also the realm a client is told.
    pub name: String,
    /// How a client proves who it is.
    pub scheme: AuthScheme,
    /// Path prefixes, by whole segments: `/admin` covers `/admin/x`, not `/administrator`.
    pub paths: Vec<String>,
    /// Where the secrets are.
    pub secrets: SecretSource,
}

/// How a client proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Bearer <token>`; the secrets are tokens, one a line.
    Bearer,
    /// `Authorization: Basic ...`; the secrets are `user:password` lines.
    Basic,
}

/// Where the secrets of an [`AuthGroup`] are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the gateway's process.
    Env(String),
    /// A file, relative to the project folder.
    File(PathBuf),
}

/// The gateway's cross-origin rules, answered on preflight requests.
#[derive(Debug, Clone)]
pub struct Cors {
    /// Origins such as `https://example.com`, or `*` for every origin.
    pub origins: Vec<String>,
    /// Upper-case methods a cross-origin request may use.
    pub methods: Vec<String>,
    /// Lower-case request headers a cross-origin request may send.
    pub headers: Vec<String>,
    /// How long a browser may keep a preflight answer.
    pub max_age: Duration,
}

impl Cors {
    /// Whether a request from `origin` is allowed.
    #[must_use]
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }
}

/// The methods a route may list.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The method of a route that answers every method no other route of its
/// path lists; its events carry the token `any`.
pub const ANY_METHOD: &str = "ANY";

/// One HTTP route and the methods it answers.
#[derive(Debug, Clone)]
pub struct Route {
    /// The path as written, such as `/hello/{name}`.
    pub path: String,
    /// The path split into segments.
    pub segments: Vec<RouteSegment>,
    /// Upper-case method names, such as `GET`; [`ANY_METHOD`] stands for
    /// every method that no other route of the same path lists.
    pub methods: Vec<String>,
    /// Where the route is written.
    pub span: Span,
}

impl Route {
    fn head(&self, trigger: &str, method: &str) -> Vec<String> {
        let mut head = vec![trigger.to_owned(), method.to_ascii_lowercase()];
        head.extend(self.segments.iter().map(RouteSegment::token));
        head
    }

    /// The event the gateway publishes a request on: `trig.request.<method>.<route>.out`.
    #[must_use]
    pub fn request_event(&self, method: &str) -> EventName {
        EventName::trigger(self.head("request", method), Direction::Out, None)
    }

    /// The event the gateway takes a response from: `trig.response.<method>.<route>.in`.
    #[must_use]
    pub fn response_event(&self, method: &str) -> EventName {
        EventName::trigger(self.head("response", method), Direction::In, None)
    }
}

/// A named group of functions.
#[derive(Debug, Clone)]
pub struct Service {
    /// The service's name, a subject token.
    pub name: String,
    /// Its functions, in file order.
    pub functions: Vec<Function>,
}

/// One function: named inputs in, named outputs out, or an error.
#[derive(Debug, Clone)]
pub struct Function {
    /// The function's name, a subject token.
    pub name: String,
    /// How it runs.
    pub kind: FunctionKind,
    /// Its input names; a call starts when all are published for one ID.
    pub inputs: Vec<String>,
    /// Its output names.
    pub outputs: Vec<String>,
    /// How long one call may take before it is killed.
    pub timeout: Duration,
    /// The environment the function sees besides `PATH` and `HOME`.
    pub env: BTreeMap<String, String>,
    /// How many calls may run at once; later ones wait, in order.
    pub concurrency: Option<usize>,
    /// Where the function's name is written.
    pub span: Span,
}

/// How a function runs.
#[derive(Debug, Clone)]
pub enum FunctionKind {
    /// An argv template; inputs replace `$name` as whole arguments, stdout is `output`.
    Cmd {
        /// The template's words.
        argv: Vec<Word>,
    },
    /// A program given the inputs as a JSON object on stdin, answering one on stdout.
    Exec {
        /// The program and its arguments.
        argv: Vec<String>,
    },
    /// A long-lived program: one JSON request per line on stdin, one JSON
    /// reply per line on stdout, many calls in flight.
    Worker {
        /// The program and its arguments.
        argv: Vec<String>,
    },
    /// A web service: the inputs are POSTed to `url` as one JSON object,
    /// the outputs are the JSON object it answers with.
    Http {
        /// An `http://` URL, such as `http://127.0.0.1:9000/fn`.
        url: String,
    },
    /// A program outside Ayanami that serves the function over NATS by the
    /// event convention; Ayanami only calls it.
    Outside,
}

/// One word of a `cmd` template: text and `$input` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word(pub Vec<Piece>);

/// A part of a [`Word`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// The value of an input.
    Input(String),
}

/// A flow: a single-assignment dataflow graph wired to events.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The flow's name, a subject token.
    pub name: String,
    /// Variables that start an instance when set.
    pub inputs: Vec<String>,
    /// Variables that end an instance once all are set.
    pub outputs: Vec<String>,
    /// How long an instance may live before it fails.
    pub timeout: Duration,
    /// The event wirings, in file order.
    pub wirings: Vec<Wiring>,
    /// Where the flow's name is written.
    pub span: Span,
}

/// One event wiring of a flow; see "Flows" in `DESIGN.md`.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// The event that sets the variable; `None` sets it at start from `value`,
    /// or only publishes a variable set elsewhere.
    pub from: Option<EventName>,
    /// The variable, a dotted path.
    pub var: String,
    /// A constant that replaces the event's data.
    pub value: Option<Value>,
    /// A function `(service, function)` applied before the variable is set.
    pub apply: Option<(String, String)>,
    /// Events the variable is published to once set.
    pub to: Vec<EventName>,
    /// Where the wiring is written.
    pub span: Span,
    /// Where each of its parts is written.
    pub spans: WiringSpans,
}

/// Where the parts of a [`Wiring`] are written, so that a mistake in one
/// part is reported on its own line.
#[derive(Debug, Clone, Default)]
pub struct WiringSpans {
    /// Where `var` is written.
    pub var: Span,
    /// Where `from` is written, if it is.
    pub from: Span,
    /// Where `apply` is written, if it is.
    pub apply: Span,
    /// Where each event of `to` is written, in the same order.
    pub to: Vec<Span>,
}

impl Wiring {
    /// Whether this wiring sets its variable (rather than only publishing it).
    #[must_use]
    pub fn sets_var(&self) -> bool {
        self.from.is_some() || self.value.is_some()
    }
}

/// The optional `deploy:` section: what `ayanami build` needs beyond the
/// application itself.
#[derive(Debug, Clone, Default)]
pub struct Deploy {
    /// The image registry, such as `ghcr.io/acme`.
    pub registry: Option<String>,
    /// The image tag.
    pub tag: Option<String>,
    /// A NATS server run elsewhere; without it the deployable runs its own.
    pub nats: Option<String>,
    /// How many nodes the deployable's own NATS has: one server, or a
    /// cluster. Unset means one.
    pub nats_nodes: Option<u32>,
    /// The host name of the gateway's Ingress; without it there is none.
    pub ingress: Option<String>,
    /// Replicas and autoscaling per component, by [`ComponentName`].
    pub components: Vec<(ComponentName, Scale)>,
}

/// A component as `deploy.components` names it: `gateway`, `flow.NAME` or
/// `service.NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentName {
    /// The HTTP gateway.
    Gateway,
    /// A flow, by name.
    Flow(String),
    /// A service, by name.
    Service(String),
    /// Every schedule trigger.
    Schedules,
    /// Every NATS subject trigger.
    Subjects,
}

/// How many replicas of a component run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// The fixed count, or the starting count when autoscaled.
    pub replicas: u32,
    /// Scale on CPU use between bounds, if set.
    pub autoscale: Option<Autoscale>,
}

/// Bounds and target for a HorizontalPodAutoscaler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autoscale {
    /// The fewest replicas.
    pub min: u32,
    /// The most replicas.
    pub max: u32,
    /// The average CPU use to aim for, in percent of the request.
    pub cpu: u32,
}

impl Deploy {
    /// The scale of `component`: from `deploy.components`, else one replica.
    #[must_use]
    pub fn scale(&self, component: &ComponentName) -> Scale {
        let set = self.components.iter().find(|(name, _)| name == component);
        set.map_or(
            Scale {
                replicas: 1,
                autoscale: None,
            },
            |(_, scale)| *scale,
        )
    }
}
