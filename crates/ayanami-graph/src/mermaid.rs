//! Writing a [`Graph`] as a Mermaid flowchart.

use std::fmt::Write;

use crate::{EdgeKind, Graph, Node, NodeKind};

pub(crate) fn write(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    for cluster in &graph.clusters {
        let _ = writeln!(
            out,
            "  subgraph {}[\"{}\"]",
            cluster.id,
            text(&cluster.label)
        );
        for node in &cluster.nodes {
            node_line(&mut out, "    ", node);
        }
        out.push_str("  end\n");
    }
    for node in &graph.nodes {
        node_line(&mut out, "  ", node);
    }
    for edge in &graph.edges {
        let (start, end) = match edge.kind {
            EdgeKind::Value => ("--", "-->"),
            EdgeKind::Error => ("-.", ".->"),
        };
        let _ = if edge.label.is_empty() {
            writeln!(out, "  {} {end} {}", edge.from, edge.to)
        } else {
            let label = text(&edge.label);
            writeln!(out, "  {} {start} \"{label}\" {end} {}", edge.from, edge.to)
        };
    }
    out
}

fn node_line(out: &mut String, indent: &str, node: &Node) {
    let (open, close) = match node.kind {
        NodeKind::Route => ("([", "])"),
        NodeKind::Variable => ("(", ")"),
        NodeKind::Function => ("[[", "]]"),
        NodeKind::Event => (">", "]"),
        NodeKind::Failure => ("{{", "}}"),
    };
    let label = text(&node.label);
    let _ = writeln!(out, "{indent}{}{open}\"{label}\"{close}", node.id);
}

/// Text inside Mermaid's quotes, where `"` ends the label and `<`, `>` may be read as HTML.
fn text(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            c => out.push(c),
        }
    }
    out
}
