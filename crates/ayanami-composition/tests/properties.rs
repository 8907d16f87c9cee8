//! Property tests of the parser and checker: compositions made by mutating
//! the examples never panic them, every mistake points inside the file, and
//! what loads can be linted.

use std::path::{Path, PathBuf};

use ayanami_composition::{CompositionError, parse, warnings};
use proptest::prelude::*;

/// The seed corpus: every example composition of the repository.
const SEEDS: [&str; 2] = [
    include_str!("../../../examples/megazord/ayanami.yaml"),
    include_str!("../../../examples/python-service/ayanami.yaml"),
];

/// Bits of YAML and of our own syntax that mutations splice in.
const PIECES: [&str; 24] = [
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "<<: *a",
    "\n",
    "\n  ",
    "'",
    "\"",
    "#",
    "|\n",
    "$input",
    "${x}",
    "trig.request.get.out",
    "srvc.cmd.figlet.in.input",
    "{name}",
    "{*rest}",
    "auth:\n  g:\n    token: x\n",
    "max_in_flight: 0",
    "timeout: 1ms",
];

/// One edit of a text.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, piece: usize },
    Duplicate { at: usize, len: usize },
    DropLine { line: usize },
    SwapLines { a: usize, b: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..8usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(at, piece)| Edit::Insert { at, piece }),
        (any::<usize>(), 1..80usize).prop_map(|(at, len)| Edit::Duplicate { at, len }),
        any::<usize>().prop_map(|line| Edit::DropLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
    ]
}

/// The largest char boundary of `text` at or below `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, edit: &Edit) {
    match *edit {
        Edit::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start + len).max(start);
            text.replace_range(start..end, "");
        }
        Edit::Insert { at, piece } => {
            let at = boundary(text, at);
            text.insert_str(at, PIECES[piece]);
        }
        Edit::Duplicate { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start + len).max(start);
            let copy = text[start..end].to_owned();
            text.insert_str(end, &copy);
        }
        Edit::DropLine { line } | Edit::SwapLines { a: line, .. } => {
            let mut lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return;
            }
            let first = line % lines.len();
            if let Edit::SwapLines { b, .. } = *edit {
                let second = b % lines.len();
                lines.swap(first, second);
            } else {
                lines.remove(first);
            }
            *text = lines.join("\n");
        }
    }
}

/// Parses `text` and checks what a user would rely on: no panic, and each
/// mistake on a line and column that exist.
fn check(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("ayanami.yaml");
    match parse(text, file, PathBuf::from(".")) {
        Ok(composition) => {
            let _ = warnings(&composition);
        }
        Err(CompositionError::Invalid { diagnostics, .. }) => {
            prop_assert!(!diagnostics.is_empty());
            let lines = text.lines().count().max(1) + 1;
            for diagnostic in diagnostics {
                prop_assert!(!diagnostic.message.is_empty());
                prop_assert!(
                    diagnostic.span.line <= lines,
                    "line {} of a {}-line file: {}",
                    diagnostic.span.line,
                    lines,
                    diagnostic.message
                );
            }
        }
        Err(other) => prop_assert!(false, "parsing text gave {other}"),
    }
    Ok(())
}

#[test]
fn the_examples_load_as_they_are() {
    for seed in SEEDS {
        let loaded = parse(seed, Path::new("ayanami.yaml"), PathBuf::from("."));
        assert!(loaded.is_ok(), "{}", loaded.unwrap_err());
    }
}

proptest! {
    #[test]
    fn mutated_examples_are_parsed_and_checked_without_panicking(
        seed in 0..SEEDS.len(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let mut text = SEEDS[seed].to_owned();
        for edit in &edits {
            apply(&mut text, edit);
        }
        check(&text)?;
    }

    #[test]
    fn arbitrary_text_is_refused_without_panicking(text in "\\PC{0,200}") {
        check(&text)?;
    }
}
