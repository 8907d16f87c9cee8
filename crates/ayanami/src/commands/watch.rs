//! `ayanami watch [PATTERN]`: events as they pass over NATS.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ayanami_bus::{Bus, Message, Sink, Subscription};
use ayanami_bus_nats::NatsBus;
use ayanami_event::Id;
use tokio::sync::mpsc;

use crate::runtime::CONNECT_WAIT;

/// The longest value shown on a line, in characters.
const VALUE_WIDTH: usize = 72;

/// Prints every event passing over NATS: time, ID, event name and a short value.
#[derive(Debug, clap::Args)]
pub(crate) struct WatchCommand {
    /// An event ID to follow one flow instance, or a subject pattern such
    /// as `*.srvc.cmd.>` [default: every event]
    pattern: Option<String>,

    /// The NATS server(s), comma-separated
    #[arg(
        long,
        env = "AYANAMI_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        value_name = "URL"
    )]
    nats: String,
}

impl WatchCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let pattern = subject_pattern(self.pattern.as_deref());
        let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        tokio.block_on(async {
            let bus = NatsBus::connect(&self.nats, "ayanami watch", CONNECT_WAIT)
                .await
                .with_context(|| format!("cannot connect to NATS at {}", self.nats))?;
            let (tx, mut rx) = mpsc::channel(4096);
            let _subscription = bus
                .subscribe(&pattern, None, Sink::new(tx, 0))
                .await
                .with_context(|| format!("cannot watch `{pattern}`"))?;
            bus.flush()
                .await
                .context("NATS did not confirm the subscription")?;
            eprintln!("watching `{pattern}` on {}", self.nats);
            while let Some(delivery) = rx.recv().await {
                println!("{}", line(SystemTime::now(), &delivery.message));
            }
            anyhow::Ok(())
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

/// With `on`, logs every event on `bus` as `watch` prints it, until the
/// subscription returned is dropped.
pub(crate) async fn trace<B: Bus>(bus: &B, on: bool) -> anyhow::Result<Option<Subscription>> {
    if !on {
        return Ok(None);
    }
    let sink = Sink::call(|message| {
        let (id, event) = split(&message.subject);
        let value = short(&message.value.to_string());
        tracing::info!(target: "ayanami::trace", %id, %event, %value, "event");
    });
    let subscription = bus
        .subscribe(">", None, sink)
        .await
        .context("cannot follow the bus for --trace")?;
    Ok(Some(subscription))
}

/// Every event, the events of one ID, or the pattern as given.
fn subject_pattern(pattern: Option<&str>) -> String {
    match pattern {
        None => ">".to_owned(),
        Some(id) if id.parse::<Id>().is_ok() => format!("{id}.>"),
        Some(pattern) => pattern.to_owned(),
    }
}

/// `12:34:56.789  <ID>  <event>  <value>`, the time in UTC.
fn line(at: SystemTime, message: &Message) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() % 86_400;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let millis = since.subsec_millis();
    let (id, event) = split(&message.subject);
    let value = short(&message.value.to_string());
    format!("{hours:02}:{minutes:02}:{seconds:02}.{millis:03}  {id}  {event}  {value}")
}

/// The ID and the event name of a subject; `-` when it has no ID.
fn split(subject: &str) -> (&str, &str) {
    match subject.split_once('.') {
        Some((id, event)) if id.parse::<Id>().is_ok() => (id, event),
        _ => ("-", subject),
    }
}

fn short(text: &str) -> String {
    if text.chars().count() <= VALUE_WIDTH {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(VALUE_WIDTH - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_id_is_watched_with_everything_under_it() {
        assert_eq!(subject_pattern(None), ">");
        assert_eq!(subject_pattern(Some(ID)), format!("{ID}.>"));
        assert_eq!(subject_pattern(Some("*.srvc.>")), "*.srvc.>");
    }

    #[test]
    fn a_line_shows_time_id_event_and_a_short_value() {
        let at = UNIX_EPOCH + Duration::from_millis(86_400_000 + 3_723_045);
        let message = |subject: &str, value| Message {
            subject: subject.into(),
            value: Arc::new(value),
            reply: None,
        };
        let input = message(&format!("{ID}.srvc.cmd.figlet.in.input"), json!("hi"));
        assert_eq!(
            line(at, &input),
            format!("01:02:03.045  {ID}  srvc.cmd.figlet.in.input  \"hi\"")
        );
        let long = message("raw.subject", json!("x".repeat(100)));
        let shown = line(at, &long);
        assert!(
            shown.starts_with("01:02:03.045  -  raw.subject  \"xxx"),
            "{shown}"
        );
        assert!(shown.ends_with("x…"), "{shown}");
    }
}
