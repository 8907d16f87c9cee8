//! A YAML tree that remembers where each node starts.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::Span;

/// One YAML node and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) span: Span,
}

/// What a node holds.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A scalar; `quoted` tells `"200"` (a string) from `200` (a number).
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The text of a scalar node, or `None` for a list or map.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// How many nodes this one holds, itself included.
    fn size(&self) -> usize {
        match &self.value {
            Value::Scalar { .. } => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Value::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
        }
    }

    /// What kind of node this is, for error messages.
    pub(crate) fn describe(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// The node as a JSON value, with YAML 1.2 core-schema typing of plain scalars.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Scalar { text, quoted: true } => serde_json::Value::String(text.clone()),
            Value::Scalar {
                text,
                quoted: false,
            } => plain_scalar(text),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(key, value)| (key.as_str().unwrap_or_default().to_owned(), value.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

fn plain_scalar(text: &str) -> serde_json::Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return serde_json::Value::Null,
        "true" | "True" | "TRUE" => return true.into(),
        "false" | "False" | "FALSE" => return false.into(),
        _ => {}
    }
    if let Ok(int) = text.parse::<i64>() {
        return int.into();
    }
    let looks_numeric = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    let number = looks_numeric
        .then(|| text.parse::<f64>().ok())
        .flatten()
        .and_then(serde_json::Number::from_f64);
    if let Some(number) = number {
        return number.into();
    }
    serde_json::Value::String(text.to_owned())
}

/// A YAML document that does not parse, with where and why.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) span: Span,
    pub(crate) message: String,
}

/// Parses one YAML document into a tree; an empty document is `None`.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, true)
        .map_err(|error| syntax_error(text, &builder, *error.marker(), error.info()))?;
    if let Some(message) = builder.error {
        return Err(message);
    }
    Ok(builder.root)
}

/// Where the parser stopped is not always where the mistake is: an unclosed
/// `[` or `{` is noticed lines later, and a tab where the scalar before it
/// starts; point at the bracket or the tab instead.
fn syntax_error(text: &str, builder: &Builder, marker: Marker, info: &str) -> SyntaxError {
    let at = span(marker);
    let char_at = |span: Span| {
        text.lines()
            .nth(span.line.checked_sub(1)?)?
            .chars()
            .nth(span.column - 1)
    };
    let innermost = builder
        .stack
        .last()
        .filter(|node| node.span.line < at.line)
        .map(|node| (node.span, char_at(node.span)));
    if let Some((open, Some(bracket @ ('[' | '{')))) = innermost {
        let close = if bracket == '[' { ']' } else { '}' };
        return SyntaxError {
            span: open,
            message: format!(
                "this `{bracket}` has no matching `{close}` (at line {}: {info})",
                at.line
            ),
        };
    }
    if info.contains("tab") {
        let tab = text
            .lines()
            .enumerate()
            .skip(at.line.saturating_sub(1))
            .find_map(|(index, line)| {
                let column = line.chars().position(|c| c == '\t')?;
                Some(Span {
                    line: index + 1,
                    column: column + 1,
                })
            });
        if let Some(tab) = tab {
            return SyntaxError {
                span: tab,
                message: format!("{info}; indent with spaces, not tabs"),
            };
        }
    }
    SyntaxError {
        span: at,
        message: info.to_owned(),
    }
}

fn span(marker: Marker) -> Span {
    Span {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Node>,
    /// A map key waiting for its value, per open map on the stack.
    keys: Vec<Option<Node>>,
    /// Each anchored node and how many nodes it holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes built so far, aliases counted at their full size.
    nodes: usize,
    documents: usize,
    open_anchors: Vec<usize>,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

/// The most nodes a composition may hold once aliases are expanded; far
/// beyond any real one, and far below what exhausts memory.
const MAX_NODES: usize = 100_000;

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = node.size();
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut parent.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => {
                let slot = self.keys.last_mut().expect("every open map has a key slot");
                match slot.take() {
                    Some(key) => entries.push((key, node)),
                    None => *slot = Some(node),
                }
            }
            Value::Scalar { .. } => unreachable!("scalars are never pushed on the stack"),
        }
    }

    fn open(&mut self, value: Value, mark: Marker, anchor: usize) {
        if matches!(value, Value::Map(_)) {
            self.keys.push(None);
        }
        self.open_anchors.push(anchor);
        self.stack.push(Node {
            value,
            span: span(mark),
        });
    }

    fn close(&mut self) {
        let Some(mut node) = self.stack.pop() else {
            return;
        };
        if let Value::Map(entries) = &node.value {
            self.keys.pop();
            // A block map is marked at its first `:`; it starts at its first key.
            let first = entries.first().map(|(key, _)| key.span);
            if let Some(key) =
                first.filter(|k| (k.line, k.column) < (node.span.line, node.span.column))
            {
                node.span = key;
            }
        }
        let anchor = self.open_anchors.pop().unwrap_or(0);
        self.push_value(node, anchor);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                let node = Node {
                    value: Value::Scalar { text, quoted },
                    span: span(mark),
                };
                self.push_value(node, anchor);
            }
            Event::SequenceStart(anchor, _) => self.open(Value::Seq(Vec::new()), mark, anchor),
            Event::MappingStart(anchor, _) => self.open(Value::Map(Vec::new()), mark, anchor),
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some((node, size)) => {
                    self.nodes = self.nodes.saturating_add(size);
                    if self.nodes > MAX_NODES {
                        self.error.get_or_insert(SyntaxError {
                            span: span(mark),
                            message: format!(
                                "aliases expand the composition past {MAX_NODES} nodes; write it out without nested aliases"
                            ),
                        });
                        return;
                    }
                    self.push_value(node, 0);
                }
                None => {
                    self.error.get_or_insert(SyntaxError {
                        span: span(mark),
                        message: "alias to an unknown anchor".to_owned(),
                    });
                }
            },
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.error.get_or_insert(SyntaxError {
                        span: span(mark),
                        message: "a composition is one YAML document; remove this `---` and what follows, or merge them".to_owned(),
                    });
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_line_and_column() {
        let root = parse("a: 1\nb:\n  - x\n  - 'y'\n").unwrap().unwrap();
        let Value::Map(entries) = &root.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.span, Span { line: 1, column: 1 });
        assert_eq!(entries[1].0.span, Span { line: 2, column: 1 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("not a list")
        };
        assert_eq!(items[1].span, Span { line: 4, column: 5 });
    }

    #[test]
    fn plain_scalars_are_typed_and_quoted_ones_are_strings() {
        let root = parse("[200, '200', true, ~, 1.5, hello, 1e3, 0x1]")
            .unwrap()
            .unwrap();
        assert_eq!(
            root.to_json(),
            serde_json::json!([200, "200", true, null, 1.5, "hello", 1000.0, "0x1"])
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let error = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(error.span.line >= 1, "{error:?}");
    }

    #[test]
    fn block_maps_start_at_their_first_key() {
        let root = parse("a:\n  - b: 1\n    c: 2\n").unwrap().unwrap();
        assert_eq!(root.span, Span { line: 1, column: 1 });
        let Value::Map(entries) = &root.value else {
            panic!("not a map")
        };
        let Value::Seq(items) = &entries[0].1.value else {
            panic!("not a list")
        };
        assert_eq!(items[0].span, Span { line: 2, column: 5 });
    }

    #[test]
    fn unclosed_brackets_and_tabs_are_pointed_at() {
        let error = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(error.span, Span { line: 1, column: 4 }, "{error:?}");
        let error = parse("a:\n  b: 1\n\tc: 2\n").unwrap_err();
        assert_eq!(error.span, Span { line: 3, column: 1 }, "{error:?}");
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_fills_memory() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let previous = format!("*a{}", level - 1);
            let items = [previous.as_str(); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let error = parse(&text).unwrap_err();
        assert!(
            error
                .message
                .starts_with("aliases expand the composition past 100000 nodes"),
            "{error:?}"
        );
    }

    #[test]
    fn a_second_document_is_refused() {
        let error = parse("name: a\n---\nname: b\n").unwrap_err();
        assert_eq!(error.span.line, 2, "{error:?}");
        assert!(
            error
                .message
                .starts_with("a composition is one YAML document"),
            "{error:?}"
        );
    }

    #[test]
    fn aliases_copy_their_anchor() {
        let root = parse("a: &x {k: 1}\nb: *x\n").unwrap().unwrap();
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": {"k": 1}, "b": {"k": 1}})
        );
    }
}
