//! The bus over a NATS server: the same [`Bus`] as the in-memory one, with
//! every event crossing a real `nats-server`.
//!
//! Values travel as their JSON text, one NATS message per event, on the
//! event's own subject; queue groups are NATS queue groups. The client
//! reconnects by itself when the server goes away and comes back, and
//! subscriptions are restored with it. This is the only crate that knows
//! async-nats.

use std::sync::Arc;
use std::time::Duration;

use ayanami_bus::subject::{check_pattern, check_subject};
use ayanami_bus::{Bus, BusError, Message, Sink, Subscription};
use base64::Engine as _;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{oneshot, watch};

/// How often the client pings its server to learn that it is still there.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// A bus over one connection to a NATS server (or cluster).
#[derive(Clone, Debug)]
pub struct NatsBus {
    client: async_nats::Client,
    connected: watch::Receiver<bool>,
}

/// Why [`NatsBus::connect`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// One of the comma-separated URLs does not parse.
    #[error("`{url}` is not a NATS server URL: {source}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        source: std::io::Error,
    },
    /// No server of the list accepted a connection in time.
    #[error("no NATS server of `{urls}` answered within {wait:?}")]
    NoServer {
        /// The URLs as given.
        urls: String,
        /// How long we tried.
        wait: Duration,
    },
}

impl NatsBus {
    /// Connects to `urls`: one or more server URLs separated by commas,
    /// such as the nodes of a cluster. The servers are tried in the order
    /// given, so a component names the node nearest to it first; when the
    /// connection drops, the client fails over to the others, and to the
    /// nodes the cluster announces. The first connection is retried until
    /// `wait` passes; later outages are retried for as long as the process
    /// runs.
    ///
    /// # Errors
    ///
    /// [`BusError::Transport`] with a [`ConnectError`] when a URL does not
    /// parse or no server answers within `wait`.
    pub async fn connect(urls: &str, name: &str, wait: Duration) -> Result<Self, BusError> {
        let servers = servers(urls).map_err(|error| BusError::Transport(Box::new(error)))?;
        let (state, connected) = watch::channel(false);
        let options = async_nats::ConnectOptions::new()
            .name(name)
            .retain_servers_order()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            // A node that drops off the network closes nothing: the client
            // learns of it only when pings go unanswered (three in a row),
            // which at the default of a minute would take up to three.
            .ping_interval(PING_INTERVAL)
            .reconnect_delay_callback(|attempt| {
                Duration::from_millis((50 * attempt as u64).min(1000))
            })
            .subscription_capacity(1 << 16)
            .event_callback(move |event| {
                let state = state.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            state.send_replace(true);
                            tracing::info!("connected to NATS");
                        }
                        async_nats::Event::Disconnected => {
                            state.send_replace(false);
                            tracing::warn!("disconnected from NATS; reconnecting");
                        }
                        async_nats::Event::SlowConsumer(sid) => {
                            ayanami_bus::slow_consumer(&format!("subscription {sid}"));
                        }
                        other => tracing::info!(event = %other, "NATS event"),
                    }
                }
            });
        // With retries on, this returns at once and connects in the
        // background, so we wait for the first connection ourselves.
        let client = options
            .connect(servers)
            .await
            .map_err(|error| BusError::Transport(Box::new(error)))?;
        let mut first = connected.clone();
        if !matches!(
            tokio::time::timeout(wait, first.wait_for(|up| *up)).await,
            Ok(Ok(_))
        ) {
            let urls = urls.to_owned();
            return Err(BusError::Transport(Box::new(ConnectError::NoServer {
                urls,
                wait,
            })));
        }
        Ok(Self { client, connected })
    }
}

/// The server addresses in a comma-separated list of URLs.
fn servers(urls: &str) -> Result<Vec<async_nats::ServerAddr>, ConnectError> {
    urls.split(',')
        .map(str::trim)
        .map(|url| {
            url.parse().map_err(|source| ConnectError::BadUrl {
                url: url.to_owned(),
                source,
            })
        })
        .collect()
}

impl NatsBus {
    /// The JSON text of `value`, checked against the subject's rules and
    /// the server's size limit.
    fn payload(&self, subject: &str, value: &Value) -> Result<Vec<u8>, BusError> {
        check_subject(subject)?;
        let payload = serde_json::to_vec(value).expect("a JSON value always serialises");
        let limit = self.client.server_info().max_payload;
        if limit > 0 && payload.len() > limit {
            return Err(BusError::PayloadTooLarge {
                subject: subject.to_owned(),
                size: payload.len(),
                limit,
            });
        }
        Ok(payload)
    }
}

impl Bus for NatsBus {
    async fn publish(&self, subject: String, value: Arc<Value>) -> Result<(), BusError> {
        let payload = self.payload(&subject, &value)?;
        self.client
            .publish(subject, payload.into())
            .await
            .map_err(|error| BusError::Transport(Box::new(error)))
    }

    async fn publish_request(
        &self,
        subject: String,
        reply: String,
        value: Arc<Value>,
    ) -> Result<(), BusError> {
        check_subject(&reply)?;
        let payload = self.payload(&subject, &value)?;
        self.client
            .publish_with_reply(subject, reply, payload.into())
            .await
            .map_err(|error| BusError::Transport(Box::new(error)))
    }

    async fn subscribe(
        &self,
        pattern: &str,
        queue: Option<&str>,
        sink: Sink,
    ) -> Result<Subscription, BusError> {
        check_pattern(pattern)?;
        let pattern = pattern.to_owned();
        let subscriber = match queue {
            Some(queue) => self.client.queue_subscribe(pattern, queue.to_owned()).await,
            None => self.client.subscribe(pattern).await,
        }
        .map_err(|error| BusError::Transport(Box::new(error)))?;
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(forward(subscriber, sink, stopped));
        Ok(Subscription::closing(move |done| {
            let _ = stop.send(done);
        }))
    }

    fn is_connected(&self) -> bool {
        *self.connected.borrow()
            && self.client.connection_state() == async_nats::connection::State::Connected
    }

    async fn flush(&self) -> Result<(), BusError> {
        self.client
            .flush()
            .await
            .map_err(|error| BusError::Transport(Box::new(error)))
    }
}

/// Hands each NATS message to the sink as a JSON value until `stop`, then
/// drains: the server is told to send no more (and `stop`'s sender, if
/// any, answered once that is on its way), and what it sent before is
/// still handed over, for at most [`DRAIN_LIMIT`] (a server gone silent
/// never confirms).
async fn forward(
    mut subscriber: async_nats::Subscriber,
    sink: Sink,
    mut stop: oneshot::Receiver<Option<oneshot::Sender<()>>>,
) {
    let mut until = None;
    loop {
        let next = tokio::select! {
            next = subscriber.next() => next,
            done = &mut stop, if until.is_none() => {
                // The drain goes out on the connection before any publish
                // made after `done` is answered.
                if subscriber.drain().await.is_err() {
                    return;
                }
                if let Ok(Some(done)) = done {
                    let _ = done.send(());
                }
                until = Some(tokio::time::Instant::now() + DRAIN_LIMIT);
                continue;
            }
            () = sleep_until(until) => return,
        };
        let Some(message) = next else {
            return;
        };
        let message = Message {
            value: Arc::new(decode(&message.payload)),
            subject: message.subject.as_str().into(),
            reply: message.reply.map(|reply| reply.as_str().into()),
        };
        if !sink.deliver(message) {
            return;
        }
    }
}

/// How long a dropped subscription keeps delivering what the server sent it.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A payload as a JSON value. Ayanami's own events are always JSON; a
/// message from elsewhere on a plain subject may not be: an empty one is
/// `null`, other UTF-8 text a string, and other bytes `{"base64": ...}`,
/// the gateway's encoding of bytes.
fn decode(payload: &[u8]) -> Value {
    if payload.is_empty() {
        return Value::Null;
    }
    if let Ok(value) = serde_json::from_slice(payload) {
        return value;
    }
    match std::str::from_utf8(payload) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
            serde_json::json!({ "base64": encoded })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::decode;

    #[test]
    fn payloads_that_are_not_json_become_text_or_bytes() {
        assert_eq!(decode(b"{\"a\": [1]}"), json!({"a": [1]}));
        assert_eq!(decode(b""), json!(null));
        assert_eq!(decode(b"hello there"), json!("hello there"));
        assert_eq!(decode(b"\xff\x00\x01"), json!({"base64": "/wAB"}));
    }
}
