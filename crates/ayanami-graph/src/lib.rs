//! A composition drawn as a graph, for `ayanami graph`.
//!
//! [`Graph::new`] reads a [`Composition`] into boxes and arrows: the
//! gateway's routes, each flow's variables, each service's functions, and
//! the events between them, with the paths an error takes drawn apart.
//! [`Graph::mermaid`] and [`Graph::dot`] write it as text for Mermaid and
//! Graphviz; rendering pictures is left to those tools.
//!
//! Like the composition crate, this one is pure: no I/O at all.

mod build;
mod dot;
mod mermaid;
mod svg;

use ayanami_composition::Composition;

/// A drawing of a composition: boxes grouped in clusters, and arrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// The composition's name.
    pub name: String,
    /// The gateway, the flows and the services, each a group of nodes.
    pub clusters: Vec<Cluster>,
    /// Nodes outside every cluster: events of no route, flow or function.
    pub nodes: Vec<Node>,
    /// The arrows, in the order of the wirings that make them.
    pub edges: Vec<Edge>,
}

/// A group of nodes: the gateway, one flow or one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// A unique identifier made of ASCII letters, digits and `_`.
    pub id: String,
    /// What the drawing shows, such as `flow banner`.
    pub label: String,
    /// The nodes inside.
    pub nodes: Vec<Node>,
}

/// One box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// A unique identifier made of ASCII letters, digits and `_`.
    pub id: String,
    /// What the drawing shows.
    pub label: String,
    /// What the box stands for.
    pub kind: NodeKind,
}

/// What a [`Node`] stands for; each is drawn in its own shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A route and method of the gateway.
    Route,
    /// A variable of a flow.
    Variable,
    /// A function of a service.
    Function,
    /// An event that belongs to no route, flow or function of the composition.
    Event,
    /// A flow's failure: its `err` event.
    Failure,
}

/// One arrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The node the arrow leaves.
    pub from: String,
    /// The node the arrow reaches.
    pub to: String,
    /// The variable or value carried, possibly empty.
    pub label: String,
    /// Whether the arrow is an error path.
    pub kind: EdgeKind,
}

/// Whether an [`Edge`] carries values or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// An event carrying a value.
    Value,
    /// An `err` event, or the answer a failure gets.
    Error,
}

/// Why a graph cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The flow asked for is not in the composition.
    #[error("unknown flow `{name}`; the composition's flows are {known}")]
    UnknownFlow {
        /// The name asked for.
        name: String,
        /// The flows there are, each in backticks.
        known: String,
    },
    /// The layout library could not draw the graph.
    #[error("cannot draw the graph: {0}")]
    Render(String),
}

impl Graph {
    /// Draws `composition`, or only the flow called `flow` with the routes
    /// and functions it touches.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownFlow`] when `flow` names no flow of the composition.
    pub fn new(composition: &Composition, flow: Option<&str>) -> Result<Self, GraphError> {
        build::build(composition, flow)
    }

    /// The graph as a Mermaid flowchart.
    #[must_use]
    pub fn mermaid(&self) -> String {
        mermaid::write(self)
    }

    /// The graph as a Graphviz DOT digraph.
    #[must_use]
    pub fn dot(&self) -> String {
        dot::write(self)
    }

    /// The graph drawn as an SVG picture.
    ///
    /// # Errors
    ///
    /// [`GraphError::Render`] when the layout library cannot draw it.
    pub fn svg(&self) -> Result<String, GraphError> {
        svg::render(self)
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    const COMPOSITION: &str = r#"
name: "odd"
services:
  math:
    functions:
      add:
        kind: exec
        run: add
        inputs: [a, b]
        outputs: [sum]
flows:
  sum:
    inputs: [a]
    outputs: [sum]
    wirings:
      - from: flow.sum.in.a
        var: a
        to: srvc.math.add.in.a
      - var: b
        value: "say \"hi\" <b>"
        to: srvc.math.add.in.b
      - from: srvc.math.add.out.sum
        var: sum
        to: flow.sum.out.sum
      - from: srvc.math.add.err
        var: sum
        value: 0
"#;

    fn graph() -> Graph {
        let composition =
            ayanami_composition::parse(COMPOSITION, Path::new("ayanami.yaml"), PathBuf::new())
                .expect("the composition is valid");
        Graph::new(&composition, None).expect("the graph draws")
    }

    #[test]
    fn quotes_and_markup_in_labels_are_escaped() {
        let mermaid = graph().mermaid();
        assert!(mermaid.contains("#quot;say \\#quot;hi"), "{mermaid}");
        assert!(!mermaid.contains("<b>"), "{mermaid}");
        let dot = graph().dot();
        assert!(dot.contains(r#"\"say \\\"hi"#), "{dot}");
    }

    #[test]
    fn a_handled_error_is_an_error_edge_and_the_flow_cannot_fail() {
        let graph = graph();
        let errors: Vec<_> = graph
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{graph:#?}");
        assert_eq!(errors[0].label, "err = 0");
        let failures = graph.clusters.iter().flat_map(|c| &c.nodes);
        assert!(failures.into_iter().all(|n| n.kind != NodeKind::Failure));
    }

    #[test]
    fn the_svg_names_every_node_and_escapes_markup() {
        let svg = graph().svg().expect("the graph draws");
        assert!(svg.contains("<svg"), "{svg}");
        for name in ["math.add", "flow.sum.in.a", "sum"] {
            assert!(svg.contains(name), "`{name}` is not in:\n{svg}");
        }
        assert!(!svg.contains("<b>"), "{svg}");
    }

    #[test]
    fn a_composition_without_flows_draws_its_services() {
        let text = "name: lone\nservices:\n  s:\n    functions:\n      f:\n        kind: exec\n        run: f\n";
        let composition =
            ayanami_composition::parse(text, Path::new("ayanami.yaml"), PathBuf::new())
                .expect("the composition is valid");
        let graph = Graph::new(&composition, None).expect("the graph draws");
        let svg = graph.svg().expect("the svg draws");
        assert!(svg.contains("s.f"), "{svg}");
    }

    #[test]
    fn events_of_nothing_drawn_get_nodes_of_their_own() {
        let graph = graph();
        let labels: Vec<_> = graph.nodes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(labels, ["flow.sum.in.a", "flow.sum.out.sum"]);
    }
}
