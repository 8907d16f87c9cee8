//! The one place logging is set up.

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One line of text per event, for people
    Text,
    /// One JSON object per line, fields at the top level, for log collectors
    Json,
}

/// Logs to stderr, filtered by `filter` (`--log`), `AYANAMI_LOG` or `RUST_LOG`
/// in that order, such as `info` or `info,ayanami_flow=debug`; by default
/// `info`, with the NATS client's own messages from `warn` up.
pub(crate) fn init(filter: Option<&str>, format: LogFormat) {
    let filter = filter
        .map(str::to_owned)
        .or_else(|| std::env::var("AYANAMI_LOG").ok())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info,async_nats=warn".to_owned());
    let targets = Targets::from_str(&filter).unwrap_or_else(|error| {
        eprintln!("warning: ignoring log filter `{filter}`: {error}");
        Targets::new().with_default(tracing::Level::INFO)
    });
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
    });
    tracing_subscriber::registry()
        .with(text)
        .with(json)
        .with(targets)
        .init();
}
