//! What can go wrong in one function call.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

/// Why a call failed, for a caller that must decide what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallErrorKind {
    /// The program could not be started.
    Spawn,
    /// The deadline passed; the process group was killed.
    Timeout,
    /// The program exited with a non-zero code or was killed by a signal.
    Exit,
    /// The program's output was not what its kind promises.
    BadOutput,
    /// The call's inputs were not what the function needs.
    BadInput,
    /// The web service of an `http` function could not be reached.
    Connect,
    /// The web service of an `http` function answered with a status outside 2xx.
    Status,
    /// The function had as many calls waiting as it takes.
    Overloaded,
}

impl CallErrorKind {
    /// The kind as the `err` event's `kind` field writes it, such as `bad_output`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Spawn => "spawn",
            Self::Timeout => "timeout",
            Self::Exit => "exit",
            Self::BadOutput => "bad_output",
            Self::BadInput => "bad_input",
            Self::Connect => "connect",
            Self::Status => "status",
            Self::Overloaded => "overloaded",
        }
    }
}

/// A failed call of `service.function`, with what the flow's `err` event carries.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The function, as `service.function`.
    pub function: String,
    /// What went wrong.
    pub kind: CallErrorKind,
    /// A one-line description, without the function's name.
    pub detail: String,
    /// The exit code when a program exited; the HTTP status when a web
    /// service answered with an error.
    pub status: Option<i32>,
    /// The last part of what the program wrote to stderr.
    pub stderr: String,
    /// The last part of the body a web service answered with.
    pub body: String,
}

impl CallError {
    pub(crate) fn new(function: &str, kind: CallErrorKind, detail: impl Into<String>) -> Self {
        Self {
            function: function.to_owned(),
            kind,
            detail: detail.into(),
            status: None,
            stderr: String::new(),
            body: String::new(),
        }
    }

    pub(crate) fn timeout(function: &str, after: Duration) -> Self {
        Self::new(
            function,
            CallErrorKind::Timeout,
            format!("timed out after {after:?} and was killed"),
        )
    }

    pub(crate) fn with_stderr(mut self, stderr: String) -> Self {
        self.stderr = stderr;
        self
    }

    pub(crate) fn with_body(mut self, body: String) -> Self {
        self.body = body;
        self
    }

    /// The value published on the function's `err` event.
    #[must_use]
    pub fn to_event(&self) -> Value {
        let mut value = json!({
            "message": self.to_string(),
            "function": self.function,
            "kind": self.kind.as_str(),
        });
        if let Some(status) = self.status {
            value["status"] = status.into();
        }
        if !self.stderr.is_empty() {
            value["stderr"] = self.stderr.clone().into();
        }
        if !self.body.is_empty() {
            value["body"] = self.body.clone().into();
        }
        value
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "function `{}` {}", self.function, self.detail)?;
        for tail in [&self.stderr, &self.body] {
            let tail = tail.trim_end();
            if !tail.is_empty() {
                write!(f, ": {tail}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for CallError {}
