//! Adding a function to composition text while keeping every other line,
//! comment and blank line as the user wrote it.
//!
//! The new entry goes after the last function of its service (or a new
//! service after the last one, or a new `services:` at the end), indented
//! like its neighbours. The result is parsed again and must mean exactly the
//! old composition plus the new function; otherwise nothing is changed.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::yaml::{self, Node, Value};

/// Why a function was not added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddError {
    /// The service already has a function of that name.
    Exists,
    /// The composition has mistakes of its own; they come first.
    Invalid(String),
    /// The text is laid out in a way this edit does not handle safely.
    Unsafe(String),
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exists => write!(f, "the function is already in the composition"),
            Self::Invalid(problems) => write!(f, "the composition has mistakes:\n{problems}"),
            Self::Unsafe(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for AddError {}

/// Returns `text` with function `function` of `service` added, its body
/// being `body` (lines such as `kind: exec`, written as they should
/// appear one level under the function's name).
///
/// # Errors
///
/// [`AddError::Exists`] when the function is already there,
/// [`AddError::Invalid`] when `text` is not a valid composition, and
/// [`AddError::Unsafe`] when the text is laid out in a way (flow style,
/// an empty `services:`) where an edit could change its meaning.
pub fn add_function(
    text: &str,
    service: &str,
    function: &str,
    body: &[String],
) -> Result<String, AddError> {
    let file = Path::new(crate::FILE_NAME);
    if let Err(error) = crate::parse(text, file, PathBuf::new()) {
        return Err(AddError::Invalid(error.to_string()));
    }
    let root = yaml::parse(text)
        .ok()
        .flatten()
        .ok_or_else(|| unsafe_edit("the composition is empty"))?;
    let lines = Lines::new(text);
    let edited = match (entry(&root, "services"), block_map(&root, &lines)) {
        (_, None) => return Err(unsafe_edit("the top level is not a block map")),
        (None, Some(_)) => {
            let mut snippet = vec![("services:".to_owned(), 0)];
            snippet.extend(new_service(service, function, body, 2, 2));
            lines.insert(lines.count(), &snippet)
        }
        (Some((_, services)), Some(_)) => {
            let Some(services_map) = block_map(services, &lines) else {
                return Err(unsafe_edit("`services` is not a block map with entries"));
            };
            let column = services.span.column - 1;
            match entry(services, service) {
                None => {
                    let unit = column.max(1);
                    let snippet = new_service(service, function, body, column, unit);
                    lines.insert(lines.end_of(services_map.last_key()), &snippet)
                }
                Some((service_key, functions_parent)) => {
                    let unit = functions_parent
                        .span
                        .column
                        .saturating_sub(service_key.span.column);
                    let functions = entry(functions_parent, "functions")
                        .map(|(_, functions)| functions)
                        .filter(|functions| block_map(functions, &lines).is_some())
                        .ok_or_else(|| {
                            unsafe_edit("its `functions` is not a block map with entries")
                        })?;
                    if entry(functions, function).is_some() {
                        return Err(AddError::Exists);
                    }
                    let last = block_map(functions, &lines).expect("checked above");
                    let column = functions.span.column - 1;
                    let snippet = new_function(function, body, column, unit.max(1));
                    lines.insert(lines.end_of(last.last_key()), &snippet)
                }
            }
        }
    };
    verify(text, &edited, service, function)?;
    Ok(edited)
}

fn unsafe_edit(why: &str) -> AddError {
    AddError::Unsafe(format!("cannot add the function safely: {why}"))
}

/// Lines of a new function: its name at `column`, its body one `unit` in.
fn new_function(
    function: &str,
    body: &[String],
    column: usize,
    unit: usize,
) -> Vec<(String, usize)> {
    let mut lines = vec![(format!("{function}:"), column)];
    lines.extend(body.iter().map(|line| (line.clone(), column + unit)));
    lines
}

fn new_service(
    service: &str,
    function: &str,
    body: &[String],
    column: usize,
    unit: usize,
) -> Vec<(String, usize)> {
    let mut lines = vec![
        (format!("{service}:"), column),
        ("functions:".to_owned(), column + unit),
    ];
    lines.extend(new_function(function, body, column + 2 * unit, unit));
    lines
}

/// The value of `key` in a map node, with the key.
fn entry<'a>(map: &'a Node, key: &str) -> Option<(&'a Node, &'a Node)> {
    let Value::Map(entries) = &map.value else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(k, v)| (k, v))
}

/// The entries of `node` when it is a block map (not `{...}`) with at least one.
fn block_map<'a>(node: &'a Node, lines: &Lines<'_>) -> Option<Entries<'a>> {
    let Value::Map(entries) = &node.value else {
        return None;
    };
    let (first, _) = entries.first()?;
    let block =
        first.span == node.span && lines.char_at(node.span.line, node.span.column) != Some('{');
    block.then_some(Entries(entries))
}

struct Entries<'a>(&'a [(Node, Node)]);

impl Entries<'_> {
    fn last_key(&self) -> &Node {
        &self.0.last().expect("a block map has an entry").0
    }
}

/// The text as lines, each with its line ending.
struct Lines<'a> {
    lines: Vec<&'a str>,
    newline: &'static str,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        Self {
            lines: text.split_inclusive('\n').collect(),
            newline,
        }
    }

    fn count(&self) -> usize {
        self.lines.len()
    }

    fn char_at(&self, line: usize, column: usize) -> Option<char> {
        self.lines
            .get(line.checked_sub(1)?)?
            .chars()
            .nth(column.checked_sub(1)?)
    }

    /// The index of the line after the last one of the block that `key`
    /// starts: lines indented deeper than `key`, up to the last one that is
    /// not blank. Comments at `key`'s indentation or less belong to what
    /// follows.
    fn end_of(&self, key: &Node) -> usize {
        let indent = key.span.column - 1;
        let mut end = key.span.line;
        for (index, line) in self.lines.iter().enumerate().skip(key.span.line) {
            let content = line.trim_start_matches(' ');
            if content.trim().is_empty() {
                continue;
            }
            if line.len() - content.len() <= indent {
                break;
            }
            end = index + 1;
        }
        end
    }

    /// The text with `snippet` (each line with its indentation) inserted
    /// before the line at `at`.
    fn insert(&self, at: usize, snippet: &[(String, usize)]) -> String {
        let mut text = String::new();
        for line in &self.lines[..at] {
            text.push_str(line);
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push_str(self.newline);
        }
        for (line, indent) in snippet {
            text.push_str(&" ".repeat(*indent));
            text.push_str(line);
            text.push_str(self.newline);
        }
        for line in &self.lines[at..] {
            text.push_str(line);
        }
        text
    }
}

/// Checks that `edited` means `original` plus the function and nothing else.
fn verify(original: &str, edited: &str, service: &str, function: &str) -> Result<(), AddError> {
    let changed = || unsafe_edit("the edited text would not mean the old one plus the function");
    let json = |text: &str| yaml::parse(text).ok().flatten().map(|node| node.to_json());
    let (Some(before), Some(mut after)) = (json(original), json(edited)) else {
        return Err(changed());
    };
    let services = after.get_mut("services").and_then(|s| s.as_object_mut());
    let Some(services) = services else {
        return Err(changed());
    };
    let functions = services
        .get_mut(service)
        .and_then(|s| s.get_mut("functions"))
        .and_then(|f| f.as_object_mut())
        .ok_or_else(changed)?;
    functions.remove(function).ok_or_else(changed)?;
    if functions.is_empty() && before["services"].get(service).is_none() {
        services.remove(service);
    }
    if services.is_empty() && before.get("services").is_none() {
        after
            .as_object_mut()
            .ok_or_else(changed)?
            .remove("services");
    }
    if before != after {
        return Err(changed());
    }
    let file = Path::new(crate::FILE_NAME);
    let composition = crate::parse(edited, file, PathBuf::new()).map_err(|_| changed())?;
    composition
        .function(service, function)
        .map(|_| ())
        .ok_or_else(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Vec<String> {
        [
            "kind: exec",
            "run: python3 s/f.py",
            "inputs: [input]",
            "outputs: [output]",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    const BASE: &str = "# my app
name: app   # the name

services:
    cmd:
        functions:
            figlet:
                kind: cmd
                # the banner
                run: figlet $input

            # next one is html
    html:   # wraps
        functions:
            pre:
                kind: exec
                run: |
                    python3
                      html/pre.py
# flows below
flows: {}
";

    #[test]
    fn a_function_joins_its_service_indented_like_its_neighbours() {
        let edited = add_function(BASE, "cmd", "f", &body()).unwrap();
        let expected = BASE.replace(
            "                run: figlet $input\n",
            "                run: figlet $input\n            f:\n                kind: exec\n                run: python3 s/f.py\n                inputs: [input]\n                outputs: [output]\n",
        );
        assert_eq!(edited, expected);
    }

    #[test]
    fn a_new_service_follows_the_last_one_and_keeps_the_comments_after_it() {
        let edited = add_function(BASE, "s", "f", &body()).unwrap();
        let expected = BASE.replace(
            "                      html/pre.py\n",
            "                      html/pre.py\n    s:\n        functions:\n            f:\n                kind: exec\n                run: python3 s/f.py\n                inputs: [input]\n                outputs: [output]\n",
        );
        assert_eq!(edited, expected);
    }

    #[test]
    fn services_are_added_at_the_end_when_there_are_none() {
        let text = "name: app\r\n# end";
        let edited = add_function(text, "s", "f", &body()).unwrap();
        assert_eq!(
            edited,
            "name: app\r\n# end\r\nservices:\r\n  s:\r\n    functions:\r\n      f:\r\n        kind: exec\r\n        run: python3 s/f.py\r\n        inputs: [input]\r\n        outputs: [output]\r\n"
        );
    }

    #[test]
    fn an_existing_function_and_flow_style_are_refused() {
        assert_eq!(
            add_function(BASE, "cmd", "figlet", &body()),
            Err(AddError::Exists)
        );
        let flow =
            "name: app\nservices: {cmd: {functions: {figlet: {kind: cmd, run: figlet $input}}}}\n";
        assert!(matches!(
            add_function(flow, "cmd", "f", &body()),
            Err(AddError::Unsafe(_))
        ));
        let broken = "name: app\nservices:\n  cmd:\n    functions:\n      f:\n        kind: nope\n        run: x\n";
        assert!(matches!(
            add_function(broken, "cmd", "g", &body()),
            Err(AddError::Invalid(_))
        ));
    }
}
