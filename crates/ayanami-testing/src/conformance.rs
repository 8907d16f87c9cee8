//! What every bus must do, written once and run against each bus.
//!
//! Each function takes a fresh bus and panics on the first difference.
//! A bus keeps the order of one publisher's messages per subscription, but
//! not across subscriptions, so each check waits for the number of
//! deliveries it expects and then for a quiet spell in which no extra one
//! may arrive.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ayanami_bus::{Bus, BusError, Delivery, Sink, Subscription};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(200);

struct Probe<B> {
    bus: B,
    tx: mpsc::Sender<Delivery>,
    rx: mpsc::Receiver<Delivery>,
}

impl<B: Bus> Probe<B> {
    fn new(bus: B) -> Self {
        let (tx, rx) = mpsc::channel(1 << 16);
        Self { bus, tx, rx }
    }

    async fn subscribe(&self, pattern: &str, queue: Option<&str>, tag: usize) -> Subscription {
        let sink = Sink::new(self.tx.clone(), tag);
        self.bus.subscribe(pattern, queue, sink).await.unwrap()
    }

    async fn publish(&self, subject: &str, value: Value) {
        self.bus
            .publish(subject.to_owned(), Arc::new(value))
            .await
            .unwrap();
    }

    /// The next `count` deliveries, in arrival order; panics on fewer or more.
    async fn settle(&mut self, count: usize) -> Vec<(usize, String, Value)> {
        let mut seen = Vec::with_capacity(count);
        while seen.len() < count {
            let delivery = tokio::time::timeout(LIMIT, self.rx.recv()).await;
            let Ok(Some(Delivery { tag, message })) = delivery else {
                panic!(
                    "only {} of {count} deliveries arrived within {LIMIT:?}",
                    seen.len()
                );
            };
            seen.push((tag, message.subject.to_string(), (*message.value).clone()));
        }
        if let Ok(Some(extra)) = tokio::time::timeout(QUIET, self.rx.recv()).await {
            panic!(
                "an extra delivery arrived: tag {} on `{}`",
                extra.tag, extra.message.subject
            );
        }
        seen
    }
}

/// `*` matches one token, a final `>` one or more; nothing else matches.
pub async fn wildcards<B: Bus>(bus: B) {
    let mut probe = Probe::new(bus);
    let patterns = ["w.a.b", "w.*.b", "w.>", "w.a.*", "w.*", "w.a.b.>"];
    let mut subscriptions = Vec::new();
    for (tag, pattern) in patterns.iter().enumerate() {
        subscriptions.push(probe.subscribe(pattern, None, tag).await);
    }
    let cases: [(&str, &[usize]); 6] = [
        ("w.a.b", &[0, 1, 2, 3]),
        ("w.x.b", &[1, 2]),
        ("w.a", &[2, 4]),
        ("w.a.b.c", &[2, 5]),
        ("w.a.b.c.d", &[2, 5]),
        ("v.a.b", &[]),
    ];
    for (subject, expected) in cases {
        probe.publish(subject, json!(subject)).await;
        let got = probe.settle(expected.len()).await;
        let mut got: Vec<usize> = got.into_iter().map(|(tag, ..)| tag).collect();
        got.sort_unstable();
        assert_eq!(got, expected, "subscriptions matching `{subject}`");
    }
}

/// Messages from one publisher arrive in the order they were published.
pub async fn ordering_per_publisher<B: Bus>(bus: B) {
    let mut probe = Probe::new(bus);
    let _subscription = probe.subscribe("order.*", None, 0).await;
    for n in 0..2000 {
        probe.publish(&format!("order.{}", n % 7), json!(n)).await;
    }
    let got: Vec<Value> = probe
        .settle(2000)
        .await
        .into_iter()
        .map(|(.., v)| v)
        .collect();
    let first_out_of_order = got.iter().enumerate().find(|(n, v)| **v != json!(n));
    assert_eq!(
        first_out_of_order, None,
        "messages arrive in publishing order"
    );
}

/// Every subscription gets its own copy of each message.
pub async fn many_subscribers<B: Bus>(bus: B) {
    let mut probe = Probe::new(bus);
    let mut subscriptions = Vec::new();
    for tag in 0..20 {
        subscriptions.push(probe.subscribe("many.x", None, tag).await);
    }
    for n in 0..10 {
        probe.publish("many.x", json!(n)).await;
    }
    let mut per_tag: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
    for (tag, _, value) in probe.settle(200).await {
        per_tag.entry(tag).or_default().push(value);
    }
    assert_eq!(per_tag.len(), 20);
    for values in per_tag.values() {
        assert_eq!(*values, (0..10).map(|n| json!(n)).collect::<Vec<_>>());
    }
}

/// A dropped subscription gets nothing more; the others are untouched.
pub async fn unsubscribe<B: Bus>(bus: B) {
    let mut probe = Probe::new(bus);
    let keep = probe.subscribe("unsub.>", None, 0).await;
    let gone = probe.subscribe("unsub.>", None, 1).await;
    probe.publish("unsub.a", json!(1)).await;
    probe.settle(2).await;
    gone.close().await;
    probe.publish("unsub.a", json!(2)).await;
    let got: Vec<usize> = probe
        .settle(1)
        .await
        .into_iter()
        .map(|(tag, ..)| tag)
        .collect();
    assert_eq!(got, [0]);
    keep.close().await;
    probe.publish("unsub.a", json!(3)).await;
    probe.settle(0).await;
}

/// Closing or dropping a subscription stops new deliveries but loses none
/// of the messages the bus had already taken for it: a stopping component
/// finishes what was sent to it instead of leaving it to time out.
pub async fn unsubscribe_keeps_what_was_sent<B: Bus>(bus: B) {
    let mut probe = Probe::new(bus);
    let subscription = probe.subscribe("drain.*", Some("drainers"), 0).await;
    for n in 0..5000 {
        probe.publish("drain.a", json!(n)).await;
    }
    probe.bus.flush().await.unwrap();
    subscription.close().await;
    let values: Vec<Value> = probe
        .settle(5000)
        .await
        .into_iter()
        .map(|(.., v)| v)
        .collect();
    assert_eq!(values, (0..5000).map(|n| json!(n)).collect::<Vec<_>>());
    probe.publish("drain.a", json!("late")).await;
    probe.settle(0).await;

    // Dropped without waiting, it loses nothing either.
    let subscription = probe.subscribe("drain.*", Some("drainers"), 1).await;
    for n in 0..5000 {
        probe.publish("drain.b", json!(n)).await;
    }
    probe.bus.flush().await.unwrap();
    drop(subscription);
    assert_eq!(probe.settle(5000).await.len(), 5000);
}

/// Subscriptions sharing a queue name split the messages: each message
/// goes to exactly one of them, and a plain subscription still sees all.
pub async fn queue_groups<B: Bus>(bus: B) {
    let mut probe = Probe::new(bus);
    let _a = probe.subscribe("jobs.*", Some("workers"), 0).await;
    let _b = probe.subscribe("jobs.*", Some("workers"), 1).await;
    let _all = probe.subscribe("jobs.*", None, 2).await;
    for n in 0..200 {
        probe.publish(&format!("jobs.{n}"), json!(n)).await;
    }
    let seen = probe.settle(400).await;
    let mut handled: Vec<u64> = seen
        .iter()
        .filter(|(tag, ..)| *tag < 2)
        .map(|(.., v)| v.as_u64().unwrap())
        .collect();
    handled.sort_unstable();
    assert_eq!(handled, (0..200).collect::<Vec<_>>(), "each job once");
    let count = |t| seen.iter().filter(|(tag, ..)| *tag == t).count();
    assert!(count(0) > 0 && count(1) > 0, "both workers got jobs");
    assert_eq!(count(2), 200);
}

/// A payload up to `limit` bytes of JSON arrives whole; one byte more is
/// refused with [`BusError::PayloadTooLarge`]. Without a limit, 8 MiB passes.
pub async fn large_payloads<B: Bus>(bus: B, limit: Option<usize>) {
    let mut probe = Probe::new(bus);
    let _subscription = probe.subscribe("large", None, 0).await;
    let size = limit.unwrap_or(8 << 20);
    // A JSON string is its text plus two quotes.
    let largest = json!("x".repeat(size - 2));
    probe.publish("large", largest.clone()).await;
    let got = probe.settle(1).await;
    assert!(got[0].2 == largest, "the payload arrives whole");

    let Some(limit) = limit else { return };
    let too_big = Arc::new(json!("x".repeat(limit - 1)));
    let error = probe
        .bus
        .publish("large".to_owned(), too_big)
        .await
        .unwrap_err();
    assert!(
        matches!(error, BusError::PayloadTooLarge { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "message on `large` is {} bytes, more than the server's limit of {limit}",
            limit + 1
        )
    );
}

/// A request carries its reply subject to the subscriber, which answers
/// there; a plain event carries none.
pub async fn requests<B: Bus>(bus: B) {
    let mut probe = Probe::new(bus);
    let _requests = probe.subscribe("orders.*", None, 0).await;
    let _answers = probe.subscribe("_INBOX.answers", None, 1).await;
    probe.bus.flush().await.unwrap();

    probe
        .bus
        .publish_request(
            "orders.created".to_owned(),
            "_INBOX.answers".to_owned(),
            Arc::new(json!({"order": 7})),
        )
        .await
        .unwrap();
    let delivery = tokio::time::timeout(LIMIT, probe.rx.recv())
        .await
        .expect("the request arrives in time")
        .expect("the channel stays open");
    assert_eq!(delivery.tag, 0);
    assert_eq!(&*delivery.message.subject, "orders.created");
    assert_eq!(*delivery.message.value, json!({"order": 7}));
    let reply = delivery
        .message
        .reply
        .expect("a request has a reply subject");
    assert_eq!(&*reply, "_INBOX.answers");
    probe.publish(&reply, json!({"accepted": true})).await;
    let got = probe.settle(1).await;
    assert_eq!(
        got,
        [(1, "_INBOX.answers".to_owned(), json!({"accepted": true}))]
    );

    probe.publish("orders.paid", json!(1)).await;
    let delivery = tokio::time::timeout(LIMIT, probe.rx.recv())
        .await
        .expect("the event arrives in time")
        .expect("the channel stays open");
    assert!(
        delivery.message.reply.is_none(),
        "a plain event has no reply subject"
    );
}

/// A subscriber that stops reading loses what overflows its buffer, and
/// each loss is counted in `ayanami_bus_dropped_total`; the publisher and
/// the other subscribers go on as if it were not there.
pub async fn slow_consumers<B: Bus>(bus: B) {
    const SENT: usize = 100;
    const BUFFER: usize = 4;
    let mut probe = Probe::new(bus);
    let (stalled_tx, mut stalled_rx) = mpsc::channel(BUFFER);
    let stalled = Sink::new(stalled_tx, 1);
    let _stalled = probe.bus.subscribe("slow.>", None, stalled).await.unwrap();
    let _reading = probe.subscribe("slow.>", None, 0).await;
    probe.bus.flush().await.unwrap();
    let dropped_before = dropped_total();

    for n in 0..SENT {
        let subject = format!("slow.{n}");
        tokio::time::timeout(LIMIT, probe.publish(&subject, json!(n)))
            .await
            .expect("a stalled subscriber never holds up the publisher");
    }
    let seen = probe.settle(SENT).await;
    let values: Vec<_> = seen.iter().map(|(_, _, value)| value.clone()).collect();
    assert_eq!(values, (0..SENT).map(|n| json!(n)).collect::<Vec<_>>());

    let mut held = Vec::new();
    while let Ok(delivery) = stalled_rx.try_recv() {
        held.push((*delivery.message.value).clone());
    }
    assert_eq!(held, (0..BUFFER).map(|n| json!(n)).collect::<Vec<_>>());
    let dropped = dropped_total() - dropped_before;
    assert!(
        dropped >= (SENT - BUFFER) as u64,
        "{dropped} drops counted for {} messages lost",
        SENT - BUFFER
    );
}

/// `ayanami_bus_dropped_total` as the metrics page shows it.
fn dropped_total() -> u64 {
    let text = ayanami_metrics::metrics().encode();
    text.lines()
        .find_map(|line| line.strip_prefix("ayanami_bus_dropped_total "))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no ayanami_bus_dropped_total in:\n{text}"))
}
