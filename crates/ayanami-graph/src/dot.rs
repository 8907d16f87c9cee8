//! Writing a [`Graph`] as a Graphviz DOT digraph.

use std::fmt::Write;

use crate::{EdgeKind, Graph, Node, NodeKind};

pub(crate) fn write(graph: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", text(&graph.name));
    out.push_str("  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n");
    out.push_str("  edge [fontname=\"sans-serif\", fontsize=10];\n");
    for cluster in &graph.clusters {
        let _ = writeln!(out, "  subgraph cluster_{} {{", cluster.id);
        let _ = writeln!(out, "    label=\"{}\";", text(&cluster.label));
        for node in &cluster.nodes {
            node_line(&mut out, "    ", node);
        }
        out.push_str("  }\n");
    }
    for node in &graph.nodes {
        node_line(&mut out, "  ", node);
    }
    for edge in &graph.edges {
        let mut attributes = Vec::new();
        if !edge.label.is_empty() {
            attributes.push(format!("label=\"{}\"", text(&edge.label)));
        }
        if edge.kind == EdgeKind::Error {
            attributes.push("style=dashed, color=red, fontcolor=red".to_owned());
        }
        let attributes = if attributes.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attributes.join(", "))
        };
        let _ = writeln!(out, "  {} -> {}{attributes};", edge.from, edge.to);
    }
    out.push_str("}\n");
    out
}

fn node_line(out: &mut String, indent: &str, node: &Node) {
    let shape = match node.kind {
        NodeKind::Route => "shape=box, style=rounded",
        NodeKind::Variable => "shape=ellipse",
        NodeKind::Function => "shape=box",
        NodeKind::Event => "shape=cds",
        NodeKind::Failure => "shape=octagon, color=red",
    };
    let label = text(&node.label);
    let _ = writeln!(out, "{indent}{} [label=\"{label}\", {shape}];", node.id);
}

/// Text inside DOT's quotes.
fn text(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}
