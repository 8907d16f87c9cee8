//! The composition: what `ayanami.yaml` says, as a typed model.
//!
//! Every other part of Ayanami reads the application from here: the flow
//! engine its wirings, the services their functions, the gateway its
//! routes, `ayanami check` its mistakes. Loading checks the whole file, so a
//! [`Composition`] that exists is one that can run; every mistake comes back
//! with its file, line and column and what to change.
//!
//! This crate is pure apart from reading the file: no async runtime,
//! sockets or processes.

mod check;
mod decode;
mod edit;
mod lint;
mod model;
mod trigger;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use check::{FRAMING_HEADERS, RESPONSE_VARS};
pub use decode::parse_duration;
pub use edit::{AddError, add_function};
pub use lint::warnings;
pub use model::{
    ANY_METHOD, AuthGroup, AuthScheme, Autoscale, ComponentName, Composition, Cors, Deploy, Flow,
    Function, FunctionKind, Gateway, METHODS, Piece, Route, Scale, SecretSource, Service, Span,
    Wiring, WiringSpans, Word,
};
pub use trigger::{Schedule, SubjectTrigger, Triggers};

/// The file name of a composition inside a project folder.
pub const FILE_NAME: &str = "ayanami.yaml";

/// Defaults for what a composition leaves out.
pub mod defaults {
    use std::time::Duration;

    /// The gateway's port.
    pub const PORT: u16 = 8080;
    /// How long a request or a flow instance may take.
    pub const TIMEOUT: Duration = Duration::from_secs(30);
    /// How long one function call may take.
    pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);
    /// The largest request body, in bytes.
    pub const MAX_BODY: usize = 2 << 20;
    /// How many requests the gateway answers at once.
    pub const MAX_IN_FLIGHT: usize = 4096;
    /// How long a browser may keep a CORS preflight answer.
    pub const CORS_MAX_AGE: Duration = Duration::from_secs(600);
    /// The longest duration taken anywhere (8760h): a timeout or grace
    /// period past it is a mistake, and would overflow the clock.
    pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
    /// The most calls, requests or instances a limit may allow at once.
    pub const MAX_COUNT: usize = 1_000_000;
    /// The most nodes of the NATS cluster a deployable runs.
    pub const MAX_NATS_NODES: u32 = 9;
}

/// One mistake in a composition and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the mistake is.
    pub span: Span,
    /// What is wrong and what to change.
    pub message: String,
}

/// Why a composition could not be loaded.
#[derive(Debug)]
pub enum CompositionError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file has mistakes, in file order.
    Invalid {
        /// The file.
        path: PathBuf,
        /// Each mistake.
        diagnostics: Vec<Diagnostic>,
    },
}

impl fmt::Display for CompositionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, .. } => write!(f, "cannot read `{}`", path.display()),
            Self::Invalid { path, diagnostics } => {
                for (index, Diagnostic { span, message }) in diagnostics.iter().enumerate() {
                    if index > 0 {
                        writeln!(f)?;
                    }
                    write!(
                        f,
                        "{}:{}:{}: {message}",
                        path.display(),
                        span.line,
                        span.column
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CompositionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Invalid { .. } => None,
        }
    }
}

/// Loads and checks the composition of a project folder (or a file path).
///
/// # Errors
///
/// [`CompositionError::Read`] when the file cannot be read, and
/// [`CompositionError::Invalid`] with every mistake found.
pub fn load(path: &Path) -> Result<Composition, CompositionError> {
    let file = if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_owned()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| CompositionError::Read {
        path: file.clone(),
        source,
    })?;
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    parse(&text, &file, dir)
}

/// Parses and checks composition text; `file` names it in errors and `dir`
/// is the folder functions run from.
///
/// # Errors
///
/// [`CompositionError::Invalid`] with every mistake found.
pub fn parse(text: &str, file: &Path, dir: PathBuf) -> Result<Composition, CompositionError> {
    let invalid = |mut diagnostics: Vec<Diagnostic>| {
        diagnostics.sort_by_key(|d| (d.span.line, d.span.column));
        CompositionError::Invalid {
            path: file.to_owned(),
            diagnostics,
        }
    };
    // Editors on some systems start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = yaml::parse(text).map_err(|error| {
        invalid(vec![Diagnostic {
            span: error.span,
            message: format!("YAML syntax: {}", error.message),
        }])
    })?;
    let mut decoder = decode::Decoder {
        diagnostics: Vec::new(),
    };
    let composition = decoder.composition(root.as_ref(), dir);
    if decoder.diagnostics.is_empty() {
        check::check(&composition, &mut decoder);
    }
    if decoder.diagnostics.is_empty() {
        Ok(composition)
    } else {
        Err(invalid(decoder.diagnostics))
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key() {
        let text = "\u{feff}name: marked\n";
        let composition = super::parse(text, Path::new("a.yaml"), PathBuf::from(".")).unwrap();
        assert_eq!(composition.name, "marked");
    }
}
