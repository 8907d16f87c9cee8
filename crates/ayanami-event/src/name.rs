//! Event names without their ID: `srvc.cmd.figlet.in.input` and friends.

use std::fmt;
use std::str::FromStr;

/// Whether `text` can be one subject token: ASCII letters, digits, `_` and `-`.
#[must_use]
pub fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `text` is a dotted variable path such as `request.form.text.0`.
#[must_use]
pub fn is_var_path(text: &str) -> bool {
    text.split('.').all(is_name)
}

/// Who an event belongs to: a trigger, a service or a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `trig`: the gateway, a schedule, a raw subject.
    Trig,
    /// `srvc`: a function of a service.
    Srvc,
    /// `flow`: a flow's own inputs, outputs and error.
    Flow,
}

impl EventKind {
    fn token(self) -> &'static str {
        match self {
            Self::Trig => "trig",
            Self::Srvc => "srvc",
            Self::Flow => "flow",
        }
    }
}

/// Which way an event goes, seen from its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Values going into the owner.
    In,
    /// Values coming out of the owner.
    Out,
    /// The owner failed; the value is `{"message": ...}`.
    Err,
}

impl Direction {
    fn from_token(token: &str) -> Option<Self> {
        match token {
            "in" => Some(Self::In),
            "out" => Some(Self::Out),
            "err" => Some(Self::Err),
            _ => None,
        }
    }

    fn token(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
            Self::Err => "err",
        }
    }
}

/// An event name that does not parse, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    name: String,
    reason: &'static str,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid event `{}`: {}", self.name, self.reason)
    }
}

impl std::error::Error for EventError {}

/// An event name without its leading ID, split into its parts.
///
/// `head` holds the tokens between the kind and the direction:
/// `[service, method]` for `srvc`, `[flow]` for `flow`, and for `trig` the
/// trigger, its method and any route tokens (`[request, get, hello, _name]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName {
    kind: EventKind,
    head: Vec<String>,
    direction: Direction,
    var: Option<String>,
}

impl EventName {
    /// The event `srvc.<service>.<function>.<direction>[.<var>]`.
    #[must_use]
    pub fn service(service: &str, function: &str, direction: Direction, var: Option<&str>) -> Self {
        Self {
            kind: EventKind::Srvc,
            head: vec![service.to_owned(), function.to_owned()],
            direction,
            var: var.map(str::to_owned),
        }
    }

    /// The event `flow.<flow>.<direction>[.<var>]`.
    #[must_use]
    pub fn flow(flow: &str, direction: Direction, var: Option<&str>) -> Self {
        Self {
            kind: EventKind::Flow,
            head: vec![flow.to_owned()],
            direction,
            var: var.map(str::to_owned),
        }
    }

    /// The event `trig.<head...>.<direction>[.<var>]`.
    #[must_use]
    pub fn trigger(head: Vec<String>, direction: Direction, var: Option<&str>) -> Self {
        Self {
            kind: EventKind::Trig,
            head,
            direction,
            var: var.map(str::to_owned),
        }
    }

    /// Who the event belongs to.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The tokens between the kind and the direction.
    #[must_use]
    pub fn head(&self) -> &[String] {
        &self.head
    }

    /// Which way the event goes.
    #[must_use]
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The dotted variable path after the direction, if any.
    #[must_use]
    pub fn var(&self) -> Option<&str> {
        self.var.as_deref()
    }

    /// The same event without its variable path: `srvc.cmd.figlet.out`.
    #[must_use]
    pub fn base(&self) -> Self {
        Self {
            var: None,
            ..self.clone()
        }
    }

    /// The same event with `var` as its variable path.
    #[must_use]
    pub fn with_var(&self, var: Option<&str>) -> Self {
        Self {
            var: var.map(str::to_owned),
            ..self.clone()
        }
    }

    /// `(service, function)` for a `srvc` event.
    #[must_use]
    pub fn function(&self) -> Option<(&str, &str)> {
        match (self.kind, self.head.as_slice()) {
            (EventKind::Srvc, [service, function]) => Some((service, function)),
            _ => None,
        }
    }

    /// The subject for one flow instance: `<id>.<name>`.
    #[must_use]
    pub fn subject(&self, id: impl fmt::Display) -> String {
        format!("{id}.{self}")
    }

    /// The subscription pattern for every instance: `*.<name>`.
    #[must_use]
    pub fn pattern(&self) -> String {
        format!("*.{self}")
    }

    fn direction_index(kind: EventKind, tokens: &[&str]) -> Option<usize> {
        match kind {
            EventKind::Srvc => Some(3),
            EventKind::Flow => Some(2),
            EventKind::Trig => {
                (3..tokens.len()).find(|&i| Direction::from_token(tokens[i]).is_some())
            }
        }
    }
}

impl FromStr for EventName {
    type Err = EventError;

    /// Parses a name without its ID, such as `srvc.cmd.figlet.in.input`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let fail = |reason| EventError {
            name: name.to_owned(),
            reason,
        };
        let tokens: Vec<&str> = name.split('.').collect();
        if let Some(bad) = tokens.iter().find(|t| !is_name(t)) {
            return Err(fail(if bad.is_empty() {
                "it has an empty token"
            } else {
                "tokens may hold only ASCII letters, digits, `_` and `-`"
            }));
        }
        let kind = match tokens[0] {
            "trig" => EventKind::Trig,
            "srvc" => EventKind::Srvc,
            "flow" => EventKind::Flow,
            _ => return Err(fail("it must start with `trig`, `srvc` or `flow`")),
        };
        let expected = match kind {
            EventKind::Srvc => "expected `srvc.<service>.<function>.<in|out|err>[.<var>]`",
            EventKind::Flow => "expected `flow.<flow>.<in|out|err>[.<var>]`",
            EventKind::Trig => "expected `trig.<trigger>.<method>[.<route>].<in|out|err>[.<var>]`",
        };
        let Some(at) = Self::direction_index(kind, &tokens) else {
            return Err(fail(expected));
        };
        let Some(direction) = tokens.get(at).and_then(|t| Direction::from_token(t)) else {
            return Err(fail(expected));
        };
        let var = (tokens.len() > at + 1).then(|| tokens[at + 1..].join("."));
        Ok(Self {
            kind,
            head: tokens[1..at].iter().map(|t| (*t).to_owned()).collect(),
            direction,
            var,
        })
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.token())?;
        for token in &self.head {
            write!(f, ".{token}")?;
        }
        write!(f, ".{}", self.direction.token())?;
        if let Some(var) = &self.var {
            write!(f, ".{var}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_their_parts() {
        let cases = [
            (
                "srvc.cmd.figlet.in.input",
                EventKind::Srvc,
                &["cmd", "figlet"][..],
                Direction::In,
                Some("input"),
            ),
            (
                "srvc.cmd.figlet.err",
                EventKind::Srvc,
                &["cmd", "figlet"],
                Direction::Err,
                None,
            ),
            (
                "flow.banner.out.content",
                EventKind::Flow,
                &["banner"],
                Direction::Out,
                Some("content"),
            ),
            (
                "flow.banner.err",
                EventKind::Flow,
                &["banner"],
                Direction::Err,
                None,
            ),
            (
                "trig.request.get.out",
                EventKind::Trig,
                &["request", "get"],
                Direction::Out,
                None,
            ),
            (
                "trig.request.get.hello._name.out.form.text.0",
                EventKind::Trig,
                &["request", "get", "hello", "_name"],
                Direction::Out,
                Some("form.text.0"),
            ),
            (
                "trig.response.get.in.content",
                EventKind::Trig,
                &["response", "get"],
                Direction::In,
                Some("content"),
            ),
        ];
        for (text, kind, head, direction, var) in cases {
            let name: EventName = text.parse().unwrap();
            assert_eq!(name.kind(), kind, "{text}");
            assert_eq!(name.head(), head, "{text}");
            assert_eq!(name.direction(), direction, "{text}");
            assert_eq!(name.var(), var, "{text}");
            assert_eq!(name.to_string(), text);
        }
    }

    #[test]
    fn malformed_names_say_what_is_wrong() {
        let cases = [
            (
                "srvc.cmd.figlet",
                "expected `srvc.<service>.<function>.<in|out|err>[.<var>]`",
            ),
            (
                "srvc.cmd.figlet.input",
                "expected `srvc.<service>.<function>.<in|out|err>[.<var>]`",
            ),
            ("flow.banner", "expected `flow.<flow>.<in|out|err>[.<var>]`"),
            (
                "trig.request.get",
                "expected `trig.<trigger>.<method>[.<route>].<in|out|err>[.<var>]`",
            ),
            (
                "cmd.figlet.in",
                "it must start with `trig`, `srvc` or `flow`",
            ),
            ("srvc..figlet.in", "it has an empty token"),
            (
                "srvc.cmd.fig let.in",
                "tokens may hold only ASCII letters, digits, `_` and `-`",
            ),
            ("srvc.cmd.figlet.in.", "it has an empty token"),
        ];
        for (text, reason) in cases {
            let error = text.parse::<EventName>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("invalid event `{text}`: {reason}")
            );
        }
    }

    #[test]
    fn subjects_put_the_id_first() {
        let name = EventName::service("cmd", "figlet", Direction::Out, Some("output"));
        assert_eq!(name.subject("abc"), "abc.srvc.cmd.figlet.out.output");
        assert_eq!(name.pattern(), "*.srvc.cmd.figlet.out.output");
        assert_eq!(name.base().to_string(), "srvc.cmd.figlet.out");
    }
}
