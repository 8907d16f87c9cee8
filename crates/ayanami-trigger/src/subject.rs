//! NATS subjects: each message on a trigger's subject publishes
//! `<ID>.trig.subject.<name>.out` with `{"subject": ..., "data": ...}`,
//! which starts the flows wired from it. When the trigger has `reply` and
//! the message is a request, the outputs of the flow it started go back
//! to the request's reply subject as one JSON object, or its error as
//! `{"error": {...}}`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ayanami_bus::{Bus, BusError, Delivery, Message, Sink};
use ayanami_composition::{Composition, SubjectTrigger};
use ayanami_event::{Direction, EventName, Id};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::{CatchUp, TriggerHandle};

/// The most requests one trigger component waits on at once; a request
/// beyond it is answered with an error at once, so memory stays bounded
/// however many requests never get a flow's answer.
pub const MAX_PENDING: usize = 65_536;

/// How long past a flow's own deadline a request waits for its answer.
/// The flow reports its deadline on its `err` event; this only covers a
/// flow that is not running at all.
const SLACK: Duration = Duration::from_secs(2);

const BUFFER: usize = 4096;

/// Starts every subject trigger of `composition` on `bus`.
///
/// # Errors
///
/// A [`BusError`] when a subscription is refused.
pub async fn serve<B: Bus>(bus: B, composition: &Composition) -> Result<TriggerHandle, BusError> {
    let (tx, rx) = mpsc::channel(BUFFER);
    let mut taking = Vec::new();
    let mut answers = Vec::new();
    let mut triggers = Vec::new();
    let mut flows: Vec<ReplyFlow> = Vec::new();
    for (index, trigger) in composition.triggers.subjects.iter().enumerate() {
        let sink = Sink::new(tx.clone(), Tag::Message(index).encode());
        let queue = trigger.queue();
        taking.push(bus.subscribe(&trigger.subject, Some(&queue), sink).await?);
        let flow = trigger
            .reply
            .as_deref()
            .and_then(|name| composition.flow(name));
        let reply = match flow {
            Some(flow) if !flows.iter().any(|f| f.name == flow.name) => {
                let at = flows.len();
                let out = EventName::flow(&flow.name, Direction::Out, None).subject("*");
                let err = EventName::flow(&flow.name, Direction::Err, None).subject("*");
                let sink = Sink::new(tx.clone(), Tag::Outputs(at).encode());
                answers.push(bus.subscribe(&format!("{out}.>"), None, sink).await?);
                let sink = Sink::new(tx.clone(), Tag::Error(at).encode());
                answers.push(bus.subscribe(&err, None, sink).await?);
                flows.push(ReplyFlow {
                    name: flow.name.clone(),
                    outputs: flow.outputs.clone(),
                    wait: flow.timeout + SLACK,
                });
                Some(at)
            }
            Some(flow) => flows.iter().position(|f| f.name == flow.name),
            None => None,
        };
        triggers.push(Trigger {
            definition: trigger.clone(),
            event: trigger.event(),
            reply,
        });
    }
    let count = Arc::new(AtomicUsize::new(0));
    let caught_up = Arc::new(AtomicBool::new(false));
    let catch_up = CatchUp {
        queue: tx,
        done: caught_up.clone(),
    };
    let (give_up, given_up) = oneshot::channel();
    let state = State {
        bus,
        triggers,
        flows,
        pending: HashMap::new(),
        deadlines: BinaryHeap::new(),
        count: count.clone(),
        caught_up,
    };
    Ok(TriggerHandle {
        starting: Vec::new(),
        taking,
        tasks: vec![tokio::spawn(state.run(rx, given_up))],
        _answers: answers,
        pending: count,
        give_up: Some(give_up),
        catch_up: Some(catch_up),
    })
}

/// What a delivery's tag says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// A message on the subject of trigger `n`.
    Message(usize),
    /// An output of reply flow `n`.
    Outputs(usize),
    /// The error of reply flow `n`.
    Error(usize),
    /// The mark of [`TriggerHandle::drain`]: every message before it is in.
    Mark,
}

/// The tag of [`Tag::Mark`], which no subscription has.
const MARK: usize = usize::MAX;

/// The delivery that marks the end of the messages taken.
pub(crate) fn mark() -> Delivery {
    Delivery {
        tag: MARK,
        message: Message {
            subject: "".into(),
            value: Arc::new(Value::Null),
            reply: None,
        },
    }
}

impl Tag {
    fn encode(self) -> usize {
        match self {
            Self::Message(n) => 3 * n,
            Self::Outputs(n) => 3 * n + 1,
            Self::Error(n) => 3 * n + 2,
            Self::Mark => MARK,
        }
    }

    fn decode(tag: usize) -> Self {
        if tag == MARK {
            return Self::Mark;
        }
        match tag % 3 {
            0 => Self::Message(tag / 3),
            1 => Self::Outputs(tag / 3),
            _ => Self::Error(tag / 3),
        }
    }
}

struct Trigger {
    definition: SubjectTrigger,
    event: EventName,
    /// The index of the flow whose outputs answer requests, if any.
    reply: Option<usize>,
}

struct ReplyFlow {
    name: String,
    outputs: Vec<String>,
    wait: Duration,
}

/// A request waiting for the flow instance it started.
struct Pending {
    flow: usize,
    reply: Arc<str>,
    outputs: Map<String, Value>,
    deadline: Instant,
}

struct State<B> {
    bus: B,
    triggers: Vec<Trigger>,
    flows: Vec<ReplyFlow>,
    /// By instance ID.
    pending: HashMap<String, Pending>,
    deadlines: BinaryHeap<Reverse<(Instant, String)>>,
    /// How many requests are pending, for [`TriggerHandle::drain`].
    count: Arc<AtomicUsize>,
    /// Set when the mark of [`TriggerHandle::drain`] is reached.
    caught_up: Arc<AtomicBool>,
}

impl<B: Bus> State<B> {
    async fn run(mut self, mut rx: mpsc::Receiver<Delivery>, mut give_up: oneshot::Receiver<()>) {
        let mut giving_up = true;
        loop {
            self.count.store(self.pending.len(), Ordering::Release);
            let next = self.deadlines.peek().map(|Reverse((at, _))| *at);
            let far = Instant::now() + Duration::from_secs(3600);
            let delivery = tokio::select! {
                delivery = rx.recv() => delivery,
                () = tokio::time::sleep_until(next.unwrap_or(far)) => {
                    self.expire().await;
                    continue;
                }
                stop = &mut give_up, if giving_up => {
                    giving_up = false;
                    if stop.is_ok() {
                        self.give_up().await;
                    }
                    continue;
                }
            };
            let Some(Delivery { tag, message }) = delivery else {
                return;
            };
            match Tag::decode(tag) {
                Tag::Message(index) => self.start(index, message).await,
                Tag::Outputs(flow) => self.output(flow, &message).await,
                Tag::Error(flow) => self.error(flow, &message).await,
                Tag::Mark => {
                    self.count.store(self.pending.len(), Ordering::Release);
                    self.caught_up.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Starts the flows wired from trigger `index` with `message`.
    async fn start(&mut self, index: usize, message: Message) {
        let trigger = &self.triggers[index];
        let id = Id::new().to_string();
        if let (Some(flow), Some(reply)) = (trigger.reply, &message.reply) {
            if self.pending.len() >= MAX_PENDING {
                tracing::warn!(trigger = %trigger.definition.name, "too many requests waiting for flows; one refused");
                let error = json!({"error": {"message": format!("too many requests in flight ({MAX_PENDING}); try again later")}});
                self.answer(reply.to_string(), error).await;
                return;
            }
            let deadline = Instant::now() + self.flows[flow].wait;
            self.deadlines.push(Reverse((deadline, id.clone())));
            self.pending.insert(
                id.clone(),
                Pending {
                    flow,
                    reply: reply.clone(),
                    outputs: Map::new(),
                    deadline,
                },
            );
        }
        let value = json!({
            "subject": &*message.subject,
            "data": Arc::unwrap_or_clone(message.value),
        });
        tracing::debug!(%id, trigger = %trigger.definition.name, subject = %message.subject, "subject trigger fired");
        let subject = trigger.event.subject(&id);
        if let Err(error) = self.bus.publish(subject, Arc::new(value)).await {
            tracing::error!(%id, %error, "a subject trigger's event could not be published");
            if let Some(pending) = self.pending.remove(&id) {
                let error = json!({"error": {"message": format!("the flow could not be started: {error}")}});
                self.answer(pending.reply.to_string(), error).await;
            }
        }
    }

    /// Records one output of an instance; answers when it has them all.
    async fn output(&mut self, flow: usize, message: &Message) {
        let Some((id, rest)) = message.subject.split_once('.') else {
            return;
        };
        let Some(pending) = self.pending.get_mut(id).filter(|p| p.flow == flow) else {
            return;
        };
        let prefix_len = "flow.".len() + self.flows[flow].name.len() + ".out.".len();
        let Some(output) = rest.get(prefix_len..) else {
            return;
        };
        pending
            .outputs
            .insert(output.to_owned(), (*message.value).clone());
        if pending.outputs.len() < self.flows[flow].outputs.len() {
            return;
        }
        if let Some(pending) = self.pending.remove(id) {
            self.answer(pending.reply.to_string(), Value::Object(pending.outputs))
                .await;
        }
        self.compact();
    }

    /// Keeps the deadline heap from holding many entries of answered requests.
    fn compact(&mut self) {
        if self.deadlines.len() > 2 * self.pending.len() + 1024 {
            self.deadlines = self
                .pending
                .iter()
                .map(|(id, p)| Reverse((p.deadline, id.clone())))
                .collect();
        }
    }

    /// Answers an instance's request with the flow's error.
    async fn error(&mut self, flow: usize, message: &Message) {
        let Some((id, _)) = message.subject.split_once('.') else {
            return;
        };
        if self.pending.get(id).is_none_or(|p| p.flow != flow) {
            return;
        }
        if let Some(pending) = self.pending.remove(id) {
            let error = json!({ "error": (*message.value).clone() });
            self.answer(pending.reply.to_string(), error).await;
        }
        self.compact();
    }

    /// Answers every request still waiting with an error: the process is
    /// stopping and its grace period is over.
    async fn give_up(&mut self) {
        self.deadlines.clear();
        for (id, pending) in std::mem::take(&mut self.pending) {
            let flow = &self.flows[pending.flow].name;
            tracing::warn!(%id, %flow, "stopping before the flow answered");
            let message = format!("Ayanami stopped before flow `{flow}` answered; try again");
            self.answer(
                pending.reply.to_string(),
                json!({"error": {"message": message}}),
            )
            .await;
        }
        self.count.store(0, Ordering::Release);
    }

    /// Answers every request whose flow has not answered in time.
    async fn expire(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, id))) = self.deadlines.pop() else {
                break;
            };
            let Some(pending) = self.pending.remove(&id) else {
                continue;
            };
            let flow = &self.flows[pending.flow];
            tracing::warn!(%id, flow = %flow.name, "no answer from the flow in time; is it running?");
            let message = format!(
                "flow `{}` did not answer within {:?}; is it running?",
                flow.name, flow.wait
            );
            self.answer(
                pending.reply.to_string(),
                json!({"error": {"message": message}}),
            )
            .await;
        }
    }

    /// Publishes `value` on a request's reply subject; an answer too large
    /// for the bus is replaced by an error saying so, so that the
    /// requester never waits in vain.
    async fn answer(&self, reply: String, value: Value) {
        let error = match self.bus.publish(reply.clone(), Arc::new(value)).await {
            Ok(()) => return,
            Err(BusError::PayloadTooLarge { size, limit, .. }) => {
                let message = format!(
                    "the flow's answer is {size} bytes of JSON, more than the NATS server's limit of {limit}"
                );
                self.bus
                    .publish(reply, Arc::new(json!({"error": {"message": message}})))
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = error {
            tracing::warn!(%error, "a subject trigger's answer could not be published");
        }
    }
}
