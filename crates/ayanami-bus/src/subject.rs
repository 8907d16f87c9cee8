//! NATS subject rules: which subjects and patterns are valid, and which
//! patterns match which subjects.

use crate::BusError;

/// Checks a subject to publish on: non-empty tokens, no wildcards, no spaces.
///
/// # Errors
///
/// [`BusError::InvalidSubject`] naming what is wrong.
pub fn check_subject(subject: &str) -> Result<(), BusError> {
    check(subject, false)
}

/// Checks a pattern to subscribe to: like a subject, but `*` may stand for
/// any one token and a last `>` for one or more.
///
/// # Errors
///
/// [`BusError::InvalidSubject`] naming what is wrong.
pub fn check_pattern(pattern: &str) -> Result<(), BusError> {
    check(pattern, true)
}

fn check(subject: &str, wildcards: bool) -> Result<(), BusError> {
    let fail = |reason| {
        Err(BusError::InvalidSubject {
            subject: subject.to_owned(),
            reason,
        })
    };
    if subject.bytes().any(|b| b.is_ascii_whitespace()) {
        return fail("subjects may not contain spaces");
    }
    let count = subject.split('.').count();
    for (index, token) in subject.split('.').enumerate() {
        match token {
            "" => return fail("it has an empty token"),
            "*" | ">" if !wildcards => return fail("wildcards are for subscriptions only"),
            ">" if index + 1 != count => return fail("`>` must be the last token"),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `pattern` matches `subject`; both are assumed valid.
#[must_use]
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (literal, Some(actual)) if literal == actual => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_nats() {
        let cases = [
            ("a.b.c", "a.b.c", true),
            ("a.b.c", "a.b", false),
            ("a.b", "a.b.c", false),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.b.d", false),
            ("a.*", "a.b.c", false),
            ("*", "a", true),
            ("*", "a.b", false),
            ("a.>", "a.b", true),
            ("a.>", "a.b.c.d", true),
            ("a.>", "a", false),
            (">", "a", true),
            (">", "a.b.c", true),
            (
                "*.srvc.cmd.figlet.in.>",
                "0f.srvc.cmd.figlet.in.input",
                true,
            ),
            ("*.srvc.cmd.figlet.in.>", "0f.srvc.cmd.figlet.in", false),
            ("*.*.>", "a.b", false),
            ("a*", "ab", false),
            ("a*", "a*", true),
        ];
        for (pattern, subject, expected) in cases {
            assert_eq!(matches(pattern, subject), expected, "{pattern} ~ {subject}");
        }
    }

    #[test]
    fn subjects_with_empty_tokens_or_wildcards_are_refused() {
        for subject in ["", ".", "a..b", ".a", "a.", "a.*", "a.>", "a b"] {
            assert!(check_subject(subject).is_err(), "{subject:?}");
        }
        assert!(check_subject("0f.srvc.cmd.figlet.in.input").is_ok());
    }

    #[test]
    fn a_full_wildcard_only_ends_a_pattern() {
        for pattern in ["a.>.b", ">.a", "a..>", "a.>."] {
            assert!(check_pattern(pattern).is_err(), "{pattern:?}");
        }
        for pattern in ["a.>", ">", "*.*", "*.b.>"] {
            assert!(check_pattern(pattern).is_ok(), "{pattern:?}");
        }
    }
}

/// Properties checked over generated subjects and patterns.
#[cfg(test)]
mod properties {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// The NATS definition, token list against token list.
    fn reference(pattern: &[&str], subject: &[&str]) -> bool {
        match (pattern.split_first(), subject.split_first()) {
            (None, None) => true,
            (Some((&">", _)), Some(_)) => true,
            (Some((&"*", pattern)), Some((_, subject))) => reference(pattern, subject),
            (Some((literal, pattern)), Some((actual, subject))) if literal == actual => {
                reference(pattern, subject)
            }
            _ => false,
        }
    }

    /// A literal token, wildcard characters inside it included.
    fn literal() -> impl Strategy<Value = String> {
        prop_oneof![Just("a".to_owned()), Just("b".to_owned()), "[a-c*>]{1,3}"]
            .prop_filter("a wildcard alone is no literal", |t| t != "*" && t != ">")
    }

    /// A valid pattern: literals and `*`, maybe ending in `>`.
    fn pattern() -> impl Strategy<Value = Vec<String>> {
        let token = prop_oneof![literal(), Just("*".to_owned())];
        (vec(token, 0..5), any::<bool>()).prop_map(|(mut tokens, rest)| {
            if rest || tokens.is_empty() {
                tokens.push(">".to_owned());
            }
            tokens
        })
    }

    proptest! {
        #[test]
        fn matching_agrees_with_the_token_by_token_definition(
            pattern in pattern(),
            subject in vec(literal(), 1..7),
        ) {
            let (pattern_text, subject_text) = (pattern.join("."), subject.join("."));
            prop_assert!(check_pattern(&pattern_text).is_ok());
            prop_assert!(check_subject(&subject_text).is_ok());
            let pattern: Vec<&str> = pattern.iter().map(String::as_str).collect();
            let subject: Vec<&str> = subject.iter().map(String::as_str).collect();
            prop_assert_eq!(matches(&pattern_text, &subject_text), reference(&pattern, &subject));
        }

        #[test]
        fn a_valid_subject_is_a_valid_pattern_that_matches_itself(text in "\\PC{0,40}") {
            if check_subject(&text).is_ok() {
                prop_assert!(check_pattern(&text).is_ok());
                prop_assert!(matches(&text, &text));
            }
        }

        #[test]
        fn any_text_is_checked_and_matched_without_panicking(a in any::<String>(), b in any::<String>()) {
            let _ = (check_subject(&a), check_pattern(&a));
            let _ = matches(&a, &b);
        }
    }
}
