//! Reading a composition into a [`Graph`].

use std::collections::{BTreeSet, HashMap, HashSet};

use ayanami_composition::{Composition, Flow, Wiring};
use ayanami_event::{Direction, EventKind, EventName};
use serde_json::Value;

use crate::{Cluster, Edge, EdgeKind, Graph, GraphError, Node, NodeKind};

/// The longest constant shown on a variable, in characters.
const VALUE_WIDTH: usize = 24;

pub(crate) fn build(composition: &Composition, only: Option<&str>) -> Result<Graph, GraphError> {
    let flows: Vec<&Flow> = match only {
        None => composition.flows.iter().collect(),
        Some(name) => {
            let flow = composition
                .flow(name)
                .ok_or_else(|| unknown_flow(composition, name))?;
            vec![flow]
        }
    };

    let mut builder = Builder::new(composition);
    for flow in flows {
        builder.flow(flow);
    }
    let mut graph = builder.finish(&composition.name);
    if only.is_some() {
        prune(&mut graph);
    }
    Ok(graph)
}

fn unknown_flow(composition: &Composition, name: &str) -> GraphError {
    let known = composition
        .flows
        .iter()
        .map(|f| format!("`{}`", f.name))
        .collect::<Vec<_>>()
        .join(", ");
    GraphError::UnknownFlow {
        name: name.to_owned(),
        known,
    }
}

/// Keeps only the routes and functions some arrow touches.
fn prune(graph: &mut Graph) {
    let used: HashSet<&str> = graph
        .edges
        .iter()
        .flat_map(|e| [e.from.as_str(), e.to.as_str()])
        .collect();
    let used: HashSet<String> = used.into_iter().map(str::to_owned).collect();
    for cluster in &mut graph.clusters {
        cluster.nodes.retain(|n| used.contains(&n.id));
    }
    graph.clusters.retain(|c| !c.nodes.is_empty());
}

struct Builder {
    gateway: Option<Cluster>,
    triggers: Option<Cluster>,
    flows: Vec<Cluster>,
    services: Vec<Cluster>,
    loose: Vec<Node>,
    edges: Vec<Edge>,
    /// A route's request and response events, without variable, to its node.
    routes: HashMap<String, String>,
    /// How a trigger's node hears of a flow's failure: `500` for a route,
    /// `error` for a replying subject; absent for a trigger nobody waits on.
    failures: HashMap<String, &'static str>,
    /// The flow that answers each replying subject trigger, to its node.
    replies: HashMap<String, String>,
    /// `(service, function)` to its node.
    functions: HashMap<(String, String), String>,
    /// Events of no route or function, to their node.
    events: HashMap<String, String>,
    /// The last number given to a node of each kind.
    next: HashMap<&'static str, usize>,
}

impl Builder {
    fn new(composition: &Composition) -> Self {
        let mut builder = Self {
            gateway: None,
            triggers: None,
            flows: Vec::new(),
            services: Vec::new(),
            loose: Vec::new(),
            edges: Vec::new(),
            routes: HashMap::new(),
            failures: HashMap::new(),
            replies: HashMap::new(),
            functions: HashMap::new(),
            events: HashMap::new(),
            next: HashMap::new(),
        };
        builder.gateway(composition);
        builder.triggers(composition);
        builder.services(composition);
        builder
    }

    fn id(&mut self, prefix: &'static str) -> String {
        let next = self.next.entry(prefix).or_default();
        *next += 1;
        format!("{prefix}{next}")
    }

    fn gateway(&mut self, composition: &Composition) {
        let Some(gateway) = &composition.gateway else {
            return;
        };
        let mut nodes = Vec::new();
        for route in &gateway.routes {
            for method in &route.methods {
                let id = self.id("route");
                let request = route.request_event(method).to_string();
                let response = route.response_event(method).to_string();
                self.routes.insert(request, id.clone());
                self.routes.insert(response, id.clone());
                self.failures.insert(id.clone(), "500");
                nodes.push(Node {
                    id,
                    label: format!("{method} {}", route.path),
                    kind: NodeKind::Route,
                });
            }
        }
        self.gateway = Some(Cluster {
            id: "gateway".to_owned(),
            label: "gateway".to_owned(),
            nodes,
        });
    }

    /// Schedules and subjects, drawn like routes: flows start from them.
    fn triggers(&mut self, composition: &Composition) {
        let triggers = &composition.triggers;
        if triggers.is_empty() {
            return;
        }
        let mut nodes = Vec::new();
        for schedule in &triggers.schedules {
            let id = self.id("trigger");
            self.routes.insert(schedule.event().to_string(), id.clone());
            nodes.push(Node {
                id,
                label: format!(
                    "{}: {} ({})",
                    schedule.name, schedule.expression, schedule.zone
                ),
                kind: NodeKind::Route,
            });
        }
        for subject in &triggers.subjects {
            let id = self.id("trigger");
            self.routes.insert(subject.event().to_string(), id.clone());
            if let Some(flow) = &subject.reply {
                self.failures.insert(id.clone(), "error");
                self.replies.insert(flow.clone(), id.clone());
            }
            nodes.push(Node {
                id,
                label: format!("{}: {}", subject.name, subject.subject),
                kind: NodeKind::Route,
            });
        }
        self.triggers = Some(Cluster {
            id: "triggers".to_owned(),
            label: "triggers".to_owned(),
            nodes,
        });
    }

    fn services(&mut self, composition: &Composition) {
        for service in &composition.services {
            let mut nodes = Vec::new();
            for function in &service.functions {
                let id = self.id("function");
                let key = (service.name.clone(), function.name.clone());
                self.functions.insert(key, id.clone());
                nodes.push(Node {
                    id,
                    label: format!("{}.{}", service.name, function.name),
                    kind: NodeKind::Function,
                });
            }
            let id = self.id("service");
            self.services.push(Cluster {
                id,
                label: format!("service {}", service.name),
                nodes,
            });
        }
    }

    fn flow(&mut self, flow: &Flow) {
        let mut vars = FlowVars::default();
        for input in &flow.inputs {
            vars.add(|| self.id("var"), input, None);
        }
        for wiring in flow.wirings.iter().filter(|w| w.sets_var()) {
            let constant = wiring.value.as_ref().filter(|_| wiring.from.is_none());
            vars.add(|| self.id("var"), &wiring.var, constant);
        }

        let mut calls = BTreeSet::new();
        let mut handled = BTreeSet::new();
        let mut routes = Vec::new();
        for wiring in &flow.wirings {
            let var = vars.node_of(&wiring.var, || self.id("var"));
            if let Some(from) = &wiring.from {
                if from.direction() == Direction::Err
                    && let Some((service, function)) = from.function()
                {
                    handled.insert((service.to_owned(), function.to_owned()));
                }
                if let Some(route) = self.routes.get(&from.base().to_string()) {
                    routes.push(route.clone());
                }
                self.wire_from(wiring, from, &var.id);
            }
            if let Some((service, function)) = &wiring.apply {
                calls.insert((service.clone(), function.clone()));
            }
            for to in &wiring.to {
                if let Some((service, function)) = to.function() {
                    calls.insert((service.to_owned(), function.to_owned()));
                }
                self.wire_to(&wiring.var, &var, to);
            }
        }

        if let Some(trigger) = self.replies.get(&flow.name).cloned() {
            for output in &flow.outputs {
                let var = vars.node_of(output, || self.id("var"));
                self.edge(var.id, trigger.clone(), "reply", EdgeKind::Value);
            }
        }
        let mut nodes = vars.nodes;
        let unhandled: Vec<_> = calls.difference(&handled).collect();
        if !unhandled.is_empty() {
            let failure = self.id("failure");
            for call in unhandled {
                if let Some(function) = self.functions.get(call) {
                    self.edge(function.clone(), failure.clone(), "err", EdgeKind::Error);
                }
            }
            routes.dedup();
            for route in routes {
                if let Some(label) = self.failures.get(&route).copied() {
                    self.edge(failure.clone(), route, label, EdgeKind::Error);
                }
            }
            nodes.push(Node {
                id: failure,
                label: format!("flow.{}.err", flow.name),
                kind: NodeKind::Failure,
            });
        }
        let id = self.id("flow");
        self.flows.push(Cluster {
            id,
            label: format!("flow {}", flow.name),
            nodes,
        });
    }

    fn wire_from(&mut self, wiring: &Wiring, from: &EventName, var: &str) {
        let (source, mut label, kind) = self.source(from);
        if let Some(value) = &wiring.value {
            label = join(&label, &format!("= {}", short(value)));
        }
        if let Some((service, function)) = &wiring.apply {
            label = join(&label, &format!("apply {service}.{function}"));
        }
        self.edge(source, var.to_owned(), &label, kind);
    }

    fn wire_to(&mut self, wired: &str, var: &VarNode, to: &EventName) {
        let (target, label) = self.target(to);
        let label = match wired.strip_prefix(var.name.as_str()) {
            Some(sub) if !sub.is_empty() => {
                let sub = sub.trim_start_matches('.');
                if label.is_empty() {
                    sub.to_owned()
                } else {
                    format!("{sub} → {label}")
                }
            }
            _ => label,
        };
        self.edge(var.id.clone(), target, &label, EdgeKind::Value);
    }

    /// Where an event a flow receives comes from, what the arrow says, and
    /// whether it is an error.
    fn source(&mut self, event: &EventName) -> (String, String, EdgeKind) {
        let var = event.var().unwrap_or_default().to_owned();
        let error = event.direction() == Direction::Err;
        let kind = if error {
            EdgeKind::Error
        } else {
            EdgeKind::Value
        };
        let owner = match event.function() {
            Some((service, function)) => self
                .functions
                .get(&(service.to_owned(), function.to_owned()))
                .cloned(),
            None => self.routes.get(&event.base().to_string()).cloned(),
        };
        match owner {
            Some(node) if error => (node, "err".to_owned(), kind),
            Some(node) => (node, var, kind),
            None => (self.event(event), String::new(), kind),
        }
    }

    /// Where an event a flow publishes goes, and what the arrow says.
    fn target(&mut self, event: &EventName) -> (String, String) {
        let var = event.var().unwrap_or_default().to_owned();
        let owner = match (event.kind(), event.function()) {
            (EventKind::Srvc, Some((service, function))) => self
                .functions
                .get(&(service.to_owned(), function.to_owned()))
                .cloned(),
            _ => self.routes.get(&event.base().to_string()).cloned(),
        };
        match owner {
            Some(node) => (node, var),
            None => (self.event(event), String::new()),
        }
    }

    /// The node of an event that belongs to nothing drawn.
    fn event(&mut self, event: &EventName) -> String {
        let name = event.to_string();
        if let Some(id) = self.events.get(&name) {
            return id.clone();
        }
        let id = self.id("event");
        self.events.insert(name.clone(), id.clone());
        self.loose.push(Node {
            id: id.clone(),
            label: name,
            kind: NodeKind::Event,
        });
        id
    }

    fn edge(&mut self, from: String, to: String, label: &str, kind: EdgeKind) {
        self.edges.push(Edge {
            from,
            to,
            label: label.to_owned(),
            kind,
        });
    }

    fn finish(self, name: &str) -> Graph {
        let Self {
            gateway,
            triggers,
            flows,
            services,
            loose,
            edges,
            routes: _,
            failures: _,
            replies: _,
            functions: _,
            events: _,
            next: _,
        } = self;
        let clusters = gateway
            .into_iter()
            .chain(triggers)
            .chain(flows)
            .chain(services)
            .collect();
        Graph {
            name: name.to_owned(),
            clusters,
            nodes: loose,
            edges,
        }
    }
}

/// The variables of one flow that get a node of their own: those set by an
/// input or a wiring. A wiring of a sub-path is drawn from its nearest set
/// ancestor.
#[derive(Default)]
struct FlowVars {
    nodes: Vec<Node>,
    by_name: HashMap<String, VarNode>,
}

#[derive(Clone)]
struct VarNode {
    id: String,
    name: String,
}

impl FlowVars {
    fn add(&mut self, id: impl FnOnce() -> String, var: &str, constant: Option<&Value>) -> VarNode {
        if let Some(node) = self.by_name.get(var) {
            return node.clone();
        }
        let id = id();
        let label = match constant {
            Some(value) => format!("{var} = {}", short(value)),
            None => var.to_owned(),
        };
        self.nodes.push(Node {
            id: id.clone(),
            label,
            kind: NodeKind::Variable,
        });
        let node = VarNode {
            id,
            name: var.to_owned(),
        };
        self.by_name.insert(node.name.clone(), node.clone());
        node
    }

    /// The node `var` is drawn from, made when neither it nor an ancestor has one.
    fn node_of(&mut self, var: &str, id: impl FnOnce() -> String) -> VarNode {
        let mut path = var;
        loop {
            if let Some(node) = self.by_name.get(path) {
                return node.clone();
            }
            let Some((parent, _)) = path.rsplit_once('.') else {
                break;
            };
            path = parent;
        }
        self.add(id, var, None)
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a} {b}")
    }
}

/// A constant in a few characters: its JSON, cut short.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= VALUE_WIDTH {
        return text;
    }
    let mut cut: String = text.chars().take(VALUE_WIDTH - 1).collect();
    cut.push('…');
    cut
}
