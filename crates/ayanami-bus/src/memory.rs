//! The in-memory bus: a subject tree of subscriptions inside one process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};

use serde_json::Value;

use crate::subject::{check_pattern, check_subject};
use crate::{Bus, BusError, Message, Sink, Subscription};

/// A bus inside one process. Values pass by reference, never serialised.
#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    tree: RwLock<Node>,
    next_id: AtomicU64,
    /// Picks the member of a queue group that gets the next message.
    turn: AtomicUsize,
}

struct Entry {
    id: u64,
    queue: Option<Arc<str>>,
    sink: Sink,
}

/// One level of the subject tree. Subscriptions ending here sit in `exact`;
/// those whose pattern ends in `>` here sit in `rest`.
#[derive(Default)]
struct Node {
    literal: HashMap<Box<str>, Node>,
    any: Option<Box<Node>>,
    exact: Vec<Entry>,
    rest: Vec<Entry>,
}

impl Node {
    fn collect<'a>(&'a self, tokens: &[&str], out: &mut Vec<&'a Entry>) {
        let Some((first, others)) = tokens.split_first() else {
            out.extend(&self.exact);
            return;
        };
        out.extend(&self.rest);
        if let Some(child) = self.literal.get(*first) {
            child.collect(others, out);
        }
        if let Some(child) = &self.any {
            child.collect(others, out);
        }
    }

    fn insert(&mut self, tokens: &[&str], entry: Entry) {
        match tokens {
            [] => self.exact.push(entry),
            [">"] => self.rest.push(entry),
            ["*", others @ ..] => self.any.get_or_insert_default().insert(others, entry),
            [first, others @ ..] => self
                .literal
                .entry((*first).into())
                .or_default()
                .insert(others, entry),
        }
    }

    /// Removes the entry `id` under `tokens`; returns whether this node is now empty.
    fn remove(&mut self, tokens: &[&str], id: u64) -> bool {
        match tokens {
            [] => self.exact.retain(|e| e.id != id),
            [">"] => self.rest.retain(|e| e.id != id),
            ["*", others @ ..] => {
                if self
                    .any
                    .as_mut()
                    .is_some_and(|child| child.remove(others, id))
                {
                    self.any = None;
                }
            }
            [first, others @ ..] => {
                if self
                    .literal
                    .get_mut(*first)
                    .is_some_and(|child| child.remove(others, id))
                {
                    self.literal.remove(*first);
                }
            }
        }
        self.literal.is_empty()
            && self.any.is_none()
            && self.exact.is_empty()
            && self.rest.is_empty()
    }
}

impl MemoryBus {
    /// An empty bus.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn deliver(&self, subject: &str, reply: Option<Arc<str>>, value: Arc<Value>) {
        let tokens: Vec<&str> = subject.split('.').collect();
        let tree = self
            .inner
            .tree
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut matched = Vec::new();
        tree.collect(&tokens, &mut matched);
        if matched.is_empty() {
            return;
        }
        let message = Message {
            subject: subject.into(),
            value,
            reply,
        };
        let mut groups: Vec<(&str, Vec<&Entry>)> = Vec::new();
        for entry in matched {
            let Some(queue) = entry.queue.as_deref() else {
                entry.sink.deliver(message.clone());
                continue;
            };
            match groups.iter_mut().find(|(name, _)| *name == queue) {
                Some((_, members)) => members.push(entry),
                None => groups.push((queue, vec![entry])),
            }
        }
        for (_, members) in groups {
            let live: Vec<&Entry> = members
                .into_iter()
                .filter(|e| !e.sink.is_closed())
                .collect();
            if live.is_empty() {
                continue;
            }
            let turn = self.inner.turn.fetch_add(1, Ordering::Relaxed);
            live[turn % live.len()].sink.deliver(message.clone());
        }
    }
}

impl Bus for MemoryBus {
    async fn publish(&self, subject: String, value: Arc<Value>) -> Result<(), BusError> {
        check_subject(&subject)?;
        self.deliver(&subject, None, value);
        Ok(())
    }

    async fn publish_request(
        &self,
        subject: String,
        reply: String,
        value: Arc<Value>,
    ) -> Result<(), BusError> {
        check_subject(&subject)?;
        check_subject(&reply)?;
        self.deliver(&subject, Some(reply.into()), value);
        Ok(())
    }

    async fn subscribe(
        &self,
        pattern: &str,
        queue: Option<&str>,
        sink: Sink,
    ) -> Result<Subscription, BusError> {
        check_pattern(pattern)?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let tokens: Vec<&str> = pattern.split('.').collect();
        let entry = Entry {
            id,
            queue: queue.map(Arc::from),
            sink,
        };
        let mut tree = self
            .inner
            .tree
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tree.insert(&tokens, entry);
        drop(tree);

        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        let pattern = pattern.to_owned();
        Ok(Subscription::new(move || {
            let Some(inner) = inner.upgrade() else { return };
            let tokens: Vec<&str> = pattern.split('.').collect();
            let mut tree = inner
                .tree
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tree.remove(&tokens, id);
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::sync::mpsc;

    use super::*;
    use crate::Delivery;

    fn drain(rx: &mut mpsc::Receiver<Delivery>) -> Vec<(usize, String)> {
        let mut seen = Vec::new();
        while let Ok(delivery) = rx.try_recv() {
            seen.push((delivery.tag, delivery.message.subject.to_string()));
        }
        seen
    }

    #[tokio::test]
    async fn the_tree_delivers_exactly_what_the_matcher_matches() {
        let patterns = ["a.b.c", "a.*.c", "a.>", ">", "*", "*.b.>", "a.b", "x.*.*"];
        let subjects = ["a", "a.b", "a.b.c", "a.x.c", "a.b.c.d", "x.y.z", "x.y", "b"];
        let bus = MemoryBus::new();
        let (tx, mut rx) = mpsc::channel(1024);
        let mut subscriptions = Vec::new();
        for (tag, pattern) in patterns.iter().enumerate() {
            subscriptions.push(
                bus.subscribe(pattern, None, Sink::new(tx.clone(), tag))
                    .await
                    .unwrap(),
            );
        }
        for subject in subjects {
            bus.publish(subject.to_owned(), Arc::new(json!(1)))
                .await
                .unwrap();
            let mut got: Vec<usize> = drain(&mut rx).into_iter().map(|(tag, _)| tag).collect();
            got.sort_unstable();
            let expected: Vec<usize> = (0..patterns.len())
                .filter(|&tag| crate::subject::matches(patterns[tag], subject))
                .collect();
            assert_eq!(got, expected, "{subject}");
        }
    }

    #[tokio::test]
    async fn subscribers_share_the_value_without_copying_it() {
        let bus = MemoryBus::new();
        let (tx, mut rx) = mpsc::channel(8);
        let _one = bus
            .subscribe("a", None, Sink::new(tx.clone(), 0))
            .await
            .unwrap();
        let _two = bus.subscribe("a", None, Sink::new(tx, 1)).await.unwrap();
        let value = Arc::new(json!({"big": "value"}));
        bus.publish("a".to_owned(), value.clone()).await.unwrap();
        let first = rx.recv().await.unwrap().message.value;
        let second = rx.recv().await.unwrap().message.value;
        assert!(Arc::ptr_eq(&first, &value) && Arc::ptr_eq(&second, &value));
    }

    #[tokio::test]
    async fn dropping_a_subscription_unsubscribes() {
        let bus = MemoryBus::new();
        let (tx, mut rx) = mpsc::channel(8);
        let keep = bus
            .subscribe("a.*", None, Sink::new(tx.clone(), 0))
            .await
            .unwrap();
        let gone = bus.subscribe("a.*", None, Sink::new(tx, 1)).await.unwrap();
        drop(gone);
        bus.publish("a.b".to_owned(), Arc::new(json!(null)))
            .await
            .unwrap();
        assert_eq!(drain(&mut rx), [(0, "a.b".to_owned())]);
        drop(keep);
        bus.publish("a.b".to_owned(), Arc::new(json!(null)))
            .await
            .unwrap();
        assert!(drain(&mut rx).is_empty());
        assert!(
            bus.inner.tree.read().unwrap().literal.is_empty(),
            "empty branches are pruned"
        );
    }

    #[tokio::test]
    async fn a_queue_group_gets_each_message_once_and_spreads_them() {
        let bus = MemoryBus::new();
        let (tx, mut rx) = mpsc::channel(1024);
        let _a = bus
            .subscribe("job.*", Some("workers"), Sink::new(tx.clone(), 0))
            .await
            .unwrap();
        let _b = bus
            .subscribe("job.*", Some("workers"), Sink::new(tx.clone(), 1))
            .await
            .unwrap();
        let _watcher = bus
            .subscribe("job.>", None, Sink::new(tx, 2))
            .await
            .unwrap();
        for n in 0..100 {
            bus.publish(format!("job.{n}"), Arc::new(json!(n)))
                .await
                .unwrap();
        }
        let seen = drain(&mut rx);
        let count = |tag| seen.iter().filter(|(t, _)| *t == tag).count();
        assert_eq!(count(0) + count(1), 100);
        assert!(count(0) > 0 && count(1) > 0);
        assert_eq!(count(2), 100);
    }

    #[tokio::test]
    async fn invalid_subjects_and_patterns_are_refused() {
        let bus = MemoryBus::new();
        let (tx, _rx) = mpsc::channel(1);
        let error = bus
            .publish("a..b".to_owned(), Arc::new(json!(1)))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid subject `a..b`: it has an empty token"
        );
        let error = bus
            .subscribe("a.>.b", None, Sink::new(tx, 0))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid subject `a.>.b`: `>` must be the last token"
        );
    }

    proptest::proptest! {
        /// The subject tree delivers to exactly the subscriptions the
        /// matcher matches, whatever the patterns and subjects.
        #[test]
        fn the_tree_agrees_with_the_matcher_on_generated_patterns(
            patterns in proptest::collection::vec("(a|b|\\*)(\\.(a|b|\\*)){0,3}(\\.>)?|>", 1..8),
            subjects in proptest::collection::vec("(a|b|c)(\\.(a|b|c)){0,4}", 1..8),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let bus = MemoryBus::new();
                let (tx, mut rx) = mpsc::channel(1024);
                let mut subscriptions = Vec::new();
                for (tag, pattern) in patterns.iter().enumerate() {
                    let sink = Sink::new(tx.clone(), tag);
                    subscriptions.push(bus.subscribe(pattern, None, sink).await.unwrap());
                }
                for subject in &subjects {
                    bus.publish(subject.clone(), Arc::new(json!(1))).await.unwrap();
                    let mut got: Vec<usize> = drain(&mut rx).into_iter().map(|(tag, _)| tag).collect();
                    got.sort_unstable();
                    let expected: Vec<usize> = (0..patterns.len())
                        .filter(|&tag| crate::subject::matches(&patterns[tag], subject))
                        .collect();
                    assert_eq!(got, expected, "{subject} against {patterns:?}");
                }
                drop(subscriptions);
                assert!(bus.inner.tree.read().unwrap().literal.is_empty());
            });
        }
    }
}
