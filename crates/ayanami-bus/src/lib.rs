//! The bus that carries Ayanami's events between components.
//!
//! [`Bus`] is the one interface the flow engine, the services and the
//! gateway talk through. [`MemoryBus`] implements it inside one process,
//! handing each subscriber the same [`Arc`]'d JSON value without
//! serialising it; the NATS bus (its own crate) implements it over a
//! `nats-server`. Both follow NATS's subject rules, checked in
//! [`subject`]: tokens split by `.`, `*` matches one token, a final `>`
//! matches one or more.
//!
//! A subscriber hands the bus a [`Sink`]: a bounded channel and a tag. One
//! component can point many subscriptions at one channel and tell them
//! apart by tag, so its task owns its state without locks.

mod memory;
pub mod subject;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

pub use memory::MemoryBus;

/// One event: its subject and its JSON value.
#[derive(Debug, Clone)]
pub struct Message {
    /// The full subject, ID first.
    pub subject: Arc<str>,
    /// The event's value, shared between subscribers.
    pub value: Arc<Value>,
    /// Where the publisher waits for an answer, when it sent a request
    /// (NATS request-reply); `None` for a plain event.
    pub reply: Option<Arc<str>>,
}

/// A message delivered to a [`Sink`], with the tag of the subscription that matched.
#[derive(Debug)]
pub struct Delivery {
    /// The tag given to [`Sink::new`].
    pub tag: usize,
    /// The message.
    pub message: Message,
}

/// Where a subscription delivers: a bounded channel and a tag, or a
/// function called with each message.
#[derive(Clone)]
pub struct Sink(SinkKind);

#[derive(Clone)]
enum SinkKind {
    Channel {
        tx: mpsc::Sender<Delivery>,
        tag: usize,
    },
    Call(Arc<dyn Fn(Message) + Send + Sync>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            SinkKind::Channel { tag, .. } => write!(f, "Sink::Channel({tag})"),
            SinkKind::Call(_) => f.write_str("Sink::Call"),
        }
    }
}

impl Sink {
    /// A sink that delivers into `tx`, marking each delivery with `tag`.
    #[must_use]
    pub fn new(tx: mpsc::Sender<Delivery>, tag: usize) -> Self {
        Self(SinkKind::Channel { tx, tag })
    }

    /// A sink that calls `handle` with each message, on the publisher's
    /// task (in-memory bus) or the subscription's (NATS). `handle` must
    /// be quick, must not block, and must not publish: it suits a
    /// subscriber whose only state is a lookup table, and saves the hop
    /// through a channel and a task.
    #[must_use]
    pub fn call(handle: impl Fn(Message) + Send + Sync + 'static) -> Self {
        Self(SinkKind::Call(Arc::new(handle)))
    }

    /// Hands `message` to the subscriber without waiting.
    ///
    /// A subscriber that has fallen a whole buffer behind is a slow
    /// consumer: like NATS, we drop the message and log it rather than
    /// stall every publisher. Returns `false` once the subscriber is gone.
    pub fn deliver(&self, message: Message) -> bool {
        match &self.0 {
            SinkKind::Call(handle) => {
                handle(message);
                true
            }
            SinkKind::Channel { tx, tag } => match tx.try_send(Delivery { tag: *tag, message }) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(delivery)) => {
                    slow_consumer(&delivery.message.subject);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            },
        }
    }

    /// Whether the subscriber has gone away.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        match &self.0 {
            SinkKind::Channel { tx, .. } => tx.is_closed(),
            SinkKind::Call(_) => false,
        }
    }
}

/// Counts a message dropped for a slow consumer, and logs it at most once
/// a second: an overloaded process must not also flood its log.
pub fn slow_consumer(subject: &str) {
    static DROPPED: AtomicU64 = AtomicU64::new(0);
    static LAST_LOG: AtomicU64 = AtomicU64::new(0);
    ayanami_metrics::metrics().dropped();
    let dropped = DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if LAST_LOG.swap(now, Ordering::Relaxed) != now {
        tracing::warn!(%subject, dropped, "slow consumer: messages dropped");
    }
}

/// A live subscription; dropping it unsubscribes.
///
/// A bus may still hand over what it had taken for the subscription before
/// it was dropped, but never loses it: a stopping component finishes the
/// work already sent to it. [`Subscription::close`] also waits until the
/// bus takes nothing more for it, so a message published after that goes
/// to other subscribers only.
pub struct Subscription {
    cancel: Option<Cancel>,
}

/// Ends a subscription; the sender, when given, is dropped or answered once
/// the bus takes nothing more for it.
type Cancel = Box<dyn FnOnce(Option<oneshot::Sender<()>>) + Send + Sync>;

impl Subscription {
    /// A subscription that `cancel` ends at once.
    pub fn new(cancel: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self::closing(move |_| cancel())
    }

    /// A subscription whose end takes a while: `cancel` starts it and
    /// answers (or drops) the sender it gets once the bus takes nothing
    /// more for the subscription.
    pub fn closing(
        cancel: impl FnOnce(Option<oneshot::Sender<()>>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            cancel: Some(Box::new(cancel)),
        }
    }

    /// Unsubscribes and waits until the bus takes nothing more for this
    /// subscription; what it had taken is still delivered.
    pub async fn close(mut self) {
        if let Some(cancel) = self.cancel.take() {
            let (done, closed) = oneshot::channel();
            cancel(Some(done));
            let _ = closed.await;
        }
    }
}

/// Closes every subscription of `subscriptions`, one after another, waiting
/// at most until `deadline` for the bus to confirm.
pub async fn close_all(subscriptions: Vec<Subscription>, deadline: tokio::time::Instant) {
    let closing = async {
        for subscription in subscriptions {
            subscription.close().await;
        }
    };
    let _ = tokio::time::timeout_at(deadline, closing).await;
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel(None);
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

/// Why the bus refused a publish or a subscription.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The subject or pattern breaks NATS's subject rules.
    #[error("invalid subject `{subject}`: {reason}")]
    InvalidSubject {
        /// The subject as given.
        subject: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The message is larger than the server accepts.
    #[error("message on `{subject}` is {size} bytes, more than the server's limit of {limit}")]
    PayloadTooLarge {
        /// The subject.
        subject: String,
        /// The message's size in bytes.
        size: usize,
        /// The largest size accepted.
        limit: usize,
    },
    /// The transport failed.
    #[error("bus transport failed")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A bus: publish events, subscribe to subject patterns.
pub trait Bus: Clone + Send + Sync + 'static {
    /// Publishes `value` on `subject` to every matching subscription (one
    /// per queue group).
    fn publish(
        &self,
        subject: String,
        value: Arc<Value>,
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Publishes `value` on `subject` as a request: subscribers see
    /// `reply` in [`Message::reply`] and answer by publishing there.
    fn publish_request(
        &self,
        subject: String,
        reply: String,
        value: Arc<Value>,
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Delivers every message matching `pattern` to `sink`. Subscriptions
    /// that share a `queue` name split the messages between them: each
    /// message goes to one of them.
    fn subscribe(
        &self,
        pattern: &str,
        queue: Option<&str>,
        sink: Sink,
    ) -> impl Future<Output = Result<Subscription, BusError>> + Send;

    /// Whether the bus can carry events right now; a bus inside one
    /// process always can.
    fn is_connected(&self) -> bool {
        true
    }

    /// Waits until every subscription made so far is in force, so that a
    /// component can say it is ready.
    ///
    /// # Errors
    ///
    /// [`BusError::Transport`] when the transport does not answer.
    fn flush(&self) -> impl Future<Output = Result<(), BusError>> + Send {
        async { Ok(()) }
    }
}
