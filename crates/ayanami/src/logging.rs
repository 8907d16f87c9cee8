//! The one place logging is set up.

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Logs to stderr, filtered by `filter` (`--log`), `AYANAMI_LOG` or `RUST_LOG`
/// in that order, such as `info` or `info,ayanami_flow=debug`; by default
/// `info`, with the NATS client's own messages from `warn` up.
pub(crate) fn init(filter: Option<&str>) {
    let filter = filter
        .map(str::to_owned)
        .or_else(|| std::env::var("AYANAMI_LOG").ok())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info,async_nats=warn".to_owned());
    let targets = Targets::from_str(&filter).unwrap_or_else(|error| {
        eprintln!("warning: ignoring log filter `{filter}`: {error}");
        Targets::new().with_default(tracing::Level::INFO)
    });
    let format = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry()
        .with(format)
        .with(targets)
        .init();
}
