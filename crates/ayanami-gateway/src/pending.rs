//! Requests waiting for their response, keyed by ID.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::oneshot;

/// A response variable the gateway reads, as a bit of a mask.
pub(crate) const CODE: u8 = 1;
pub(crate) const CONTENT: u8 = 2;
pub(crate) const HEADER: u8 = 4;

/// What a waiting request gets.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The response variables that arrived.
    Answer(Answer),
    /// The flow failed with this `err` value.
    Failed(Arc<Value>),
}

/// The response variables of one request.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub(crate) code: Option<Arc<Value>>,
    pub(crate) content: Option<Arc<Value>>,
    pub(crate) header: Vec<(String, Arc<Value>)>,
}

struct Waiting {
    expected: u8,
    got: u8,
    answer: Answer,
    tx: oneshot::Sender<Reply>,
}

/// The table of waiting requests, shared by handlers and the bus listener.
#[derive(Default, Clone)]
pub(crate) struct Pending {
    table: Arc<Mutex<HashMap<u128, Waiting>>>,
}

/// Removes its request from the table when dropped, however the handler ends.
pub(crate) struct Ticket {
    pending: Pending,
    id: u128,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.id);
    }
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u128, Waiting>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers request `id`, which completes once every variable in `expected` arrived.
    pub(crate) fn wait(&self, id: u128, expected: u8) -> (Ticket, oneshot::Receiver<Reply>) {
        let (tx, rx) = oneshot::channel();
        let waiting = Waiting {
            expected,
            got: 0,
            answer: Answer::default(),
            tx,
        };
        self.lock().insert(id, waiting);
        let ticket = Ticket {
            pending: self.clone(),
            id,
        };
        (ticket, rx)
    }

    /// Records response variable `var` (a dotted path under `code`,
    /// `content` or `header`, or none for an object of them) for `id`.
    pub(crate) fn answer(&self, id: u128, var: Option<&str>, value: &Arc<Value>) {
        let mut table = self.lock();
        let Some(waiting) = table.get_mut(&id) else {
            return;
        };
        match var {
            None => {
                let Value::Object(map) = &**value else { return };
                for (name, value) in map {
                    waiting.record(name, &Arc::new(value.clone()));
                }
            }
            Some(var) => waiting.record(var, value),
        }
        if waiting.got & waiting.expected == waiting.expected {
            let waiting = table.remove(&id).expect("just found");
            let _ = waiting.tx.send(Reply::Answer(waiting.answer));
        }
    }

    /// Fails request `id` with a flow's `err` value.
    pub(crate) fn fail(&self, id: u128, error: &Arc<Value>) {
        if let Some(waiting) = self.lock().remove(&id) {
            let _ = waiting.tx.send(Reply::Failed(error.clone()));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Waiting {
    fn record(&mut self, var: &str, value: &Arc<Value>) {
        let (name, rest) = var
            .split_once('.')
            .map_or((var, None), |(n, r)| (n, Some(r)));
        match (name, rest) {
            ("code", None) => {
                self.answer.code.get_or_insert_with(|| value.clone());
                self.got |= CODE;
            }
            ("content", None) => {
                self.answer.content.get_or_insert_with(|| value.clone());
                self.got |= CONTENT;
            }
            ("header", None) => {
                if let Value::Object(map) = &**value {
                    let headers = map.iter().map(|(k, v)| (k.clone(), Arc::new(v.clone())));
                    self.answer.header.extend(headers);
                }
                self.got |= HEADER;
            }
            ("header", Some(field)) => {
                self.answer.header.push((field.to_owned(), value.clone()));
                self.got |= HEADER;
            }
            _ => tracing::debug!(var, "unknown response variable ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_request_completes_when_every_expected_variable_arrived() {
        let pending = Pending::default();
        let (_ticket, mut rx) = pending.wait(7, CODE | CONTENT);
        pending.answer(7, Some("content"), &Arc::new(json!("hi")));
        assert!(rx.try_recv().is_err());
        pending.answer(7, Some("code"), &Arc::new(json!(201)));
        let Ok(Reply::Answer(answer)) = rx.await else {
            panic!("no answer")
        };
        assert_eq!(*answer.code.unwrap(), json!(201));
        assert_eq!(pending.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_ticket_frees_its_request() {
        let pending = Pending::default();
        let (ticket, _rx) = pending.wait(1, CONTENT);
        assert_eq!(pending.len(), 1);
        drop(ticket);
        assert_eq!(pending.len(), 0);
        pending.answer(1, Some("content"), &Arc::new(json!("late")));
        assert_eq!(pending.len(), 0);
    }
}
