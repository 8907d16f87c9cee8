//! The bus over a NATS server: the same [`Bus`] as the in-memory one, with
//! every event crossing a real `nats-server`.
//!
//! Values travel as their JSON text, one NATS message per event, on the
//! event's own subject; queue groups are NATS queue groups. The client
//! reconnects by itself when the server goes away and comes back, and
//! subscriptions are restored with it. This is the only crate that knows
//! async-nats.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ayanami_bus::subject::{check_pattern, check_subject};
use ayanami_bus::{Bus, BusError, Message, Sink, Subscription};
use futures_util::StreamExt;
use serde_json::Value;

/// A bus over one connection to a NATS server (or cluster).
#[derive(Clone, Debug)]
pub struct NatsBus {
    client: async_nats::Client,
    connected: Arc<AtomicBool>,
}

impl NatsBus {
    /// Connects to `urls`: one or more server URLs separated by commas. The
    /// first connection is retried until `wait` passes; later outages are
    /// retried for as long as the process runs.
    ///
    /// # Errors
    ///
    /// [`BusError::Transport`] when no server answers within `wait`.
    pub async fn connect(urls: &str, name: &str, wait: Duration) -> Result<Self, BusError> {
        let connected = Arc::new(AtomicBool::new(false));
        let state = connected.clone();
        let servers: Vec<async_nats::ServerAddr> = urls
            .split(',')
            .map(|url| url.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|error| BusError::Transport(Box::new(error)))?;
        let options = async_nats::ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .reconnect_delay_callback(|attempt| {
                Duration::from_millis((50 * attempt as u64).min(1000))
            })
            .subscription_capacity(1 << 16)
            .event_callback(move |event| {
                let state = state.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            state.store(true, Ordering::Relaxed);
                            tracing::info!("connected to NATS");
                        }
                        async_nats::Event::Disconnected => {
                            state.store(false, Ordering::Relaxed);
                            tracing::warn!("disconnected from NATS; reconnecting");
                        }
                        async_nats::Event::SlowConsumer(sid) => {
                            tracing::warn!(sid, "slow consumer: messages dropped")
                        }
                        other => tracing::info!(event = %other, "NATS event"),
                    }
                }
            });
        let client = tokio::time::timeout(wait, options.connect(servers))
            .await
            .map_err(|elapsed| BusError::Transport(Box::new(elapsed)))?
            .map_err(|error| BusError::Transport(Box::new(error)))?;
        connected.store(true, Ordering::Relaxed);
        Ok(Self { client, connected })
    }
}

impl Bus for NatsBus {
    async fn publish(&self, subject: String, value: Arc<Value>) -> Result<(), BusError> {
        check_subject(&subject)?;
        let payload = serde_json::to_vec(&*value).expect("a JSON value always serialises");
        let limit = self.client.server_info().max_payload;
        if limit > 0 && payload.len() > limit {
            return Err(BusError::PayloadTooLarge {
                subject,
                size: payload.len(),
                limit,
            });
        }
        self.client
            .publish(subject, payload.into())
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
        let task = tokio::spawn(forward(subscriber, sink));
        Ok(Subscription::new(move || task.abort()))
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
            && self.client.connection_state() == async_nats::connection::State::Connected
    }

    async fn flush(&self) -> Result<(), BusError> {
        self.client
            .flush()
            .await
            .map_err(|error| BusError::Transport(Box::new(error)))
    }
}

/// Hands each NATS message to the sink as a JSON value.
async fn forward(mut subscriber: async_nats::Subscriber, sink: Sink) {
    while let Some(message) = subscriber.next().await {
        let value: Value = match serde_json::from_slice(&message.payload) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(subject = %message.subject, bytes = message.payload.len(), %error, "event that is not JSON dropped");
                continue;
            }
        };
        let message = Message {
            subject: message.subject.as_str().into(),
            value: Arc::new(value),
        };
        if !sink.deliver(message) {
            return;
        }
    }
}
