//! The task that owns every instance of one flow.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use ayanami_bus::{Bus, BusError, Delivery, Sink, Subscription};
use ayanami_event::{Direction, EventName, Id};
use ayanami_metrics::{FlowMetrics, FlowOutcome};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::plan::{Action, Plan, Target};

/// How many deliveries may wait for the flow task before the bus counts it
/// as a slow consumer.
const BUFFER: usize = 16384;

/// How many instances of one flow may be in flight at once; a new one
/// beyond is refused at once with an `overloaded` error (the gateway
/// answers 503), so that a stalled function cannot grow the table without
/// end before deadlines free it.
pub const MAX_INSTANCES: usize = 65536;

/// A running flow; dropping it stops it.
#[derive(Debug)]
pub struct FlowHandle {
    task: JoinHandle<()>,
    /// Subscriptions whose events only ever start instances.
    starting: Vec<Subscription>,
    _continuing: Vec<Subscription>,
    draining: Arc<AtomicBool>,
    live: Arc<AtomicUsize>,
}

impl FlowHandle {
    /// Stops starting instances, so that replicas start them, and waits
    /// until the instances in flight have ended or `deadline` passes.
    /// Returns how many were still in flight at the deadline.
    pub async fn drain(&mut self, deadline: tokio::time::Instant) -> usize {
        // Starts the bus had already taken still arrive and are run; only
        // those it takes after are left to replicas.
        ayanami_bus::close_all(std::mem::take(&mut self.starting), deadline).await;
        self.draining.store(true, Ordering::Release);
        while self.live.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.live.load(Ordering::Acquire)
    }
}

impl Drop for FlowHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the flow `plan` on `bus` until the handle is dropped.
///
/// # Errors
///
/// A [`BusError`] when a subscription is refused.
pub async fn serve<B: Bus>(bus: B, plan: Plan) -> Result<FlowHandle, BusError> {
    let (tx, rx) = mpsc::channel(BUFFER);
    let (mut starting, mut continuing) = (Vec::new(), Vec::new());
    for (tag, subscribe) in plan.subscriptions.iter().enumerate() {
        // Flow replicas share the instances they start; replies carry the
        // ID, so only the owner acts on them.
        let subscription = bus
            .subscribe(
                &subscribe.pattern,
                Some(&plan.name),
                Sink::new(tx.clone(), tag),
            )
            .await?;
        if subscribe.only_starts(&plan) {
            starting.push(subscription);
        } else {
            continuing.push(subscription);
        }
    }
    let draining = Arc::new(AtomicBool::new(false));
    let live = Arc::new(AtomicUsize::new(0));
    let span = tracing::info_span!("ayanami.flow", flow = %plan.name);
    let engine = Engine {
        bus,
        metrics: ayanami_metrics::metrics().flow(&plan.name),
        plan: Arc::new(plan),
        instances: HashMap::new(),
        deadlines: BinaryHeap::new(),
        draining: draining.clone(),
        live: live.clone(),
    };
    let task = tokio::spawn(engine.run(rx).instrument(span));
    Ok(FlowHandle {
        task,
        starting,
        _continuing: continuing,
        draining,
        live,
    })
}

/// One call's inputs as they arrive.
#[derive(Default)]
struct CallState {
    inputs: Map<String, Value>,
    sent: bool,
}

/// The variables of one flow instance.
struct Instance {
    token: Arc<str>,
    values: Vec<Option<Arc<Value>>>,
    inputs_missing: usize,
    outputs_missing: usize,
    published: Vec<bool>,
    calls: Vec<CallState>,
    deadline: Instant,
}

/// What became of an instance after a delivery.
enum Outcome {
    Running,
    Done,
    Failed(Value),
}

struct Engine<B> {
    bus: B,
    metrics: FlowMetrics,
    plan: Arc<Plan>,
    instances: HashMap<u128, Instance>,
    deadlines: BinaryHeap<Reverse<(Instant, u128)>>,
    /// Set when the flow stops starting instances.
    draining: Arc<AtomicBool>,
    /// How many instances are in flight, for whoever waits for them to end.
    live: Arc<AtomicUsize>,
}

impl<B: Bus> Engine<B> {
    async fn run(mut self, mut rx: mpsc::Receiver<Delivery>) {
        loop {
            let next = self.deadlines.peek().map(|Reverse((at, _))| *at);
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                delivery = rx.recv() => match delivery {
                    Some(delivery) => self.receive(delivery).await,
                    None => return,
                },
                () = sleep => self.expire().await,
            }
            self.live.store(self.instances.len(), Ordering::Release);
        }
    }

    async fn receive(&mut self, Delivery { tag, message }: Delivery) {
        ayanami_metrics::metrics().received();
        let Some((token, _)) = message.subject.split_once('.') else {
            return;
        };
        let Ok(id) = token.parse::<Id>() else {
            tracing::warn!(subject = %message.subject, "event without an ID dropped");
            return;
        };
        let key = id.as_u128();
        let plan = self.plan.clone();
        let mut published = Vec::new();
        if !self.instances.contains_key(&key) {
            let starts = plan.subscriptions[tag].actions.iter().any(|a| match a {
                Action::Set { var, .. } => plan.is_input[*var],
                _ => false,
            });
            if !starts {
                return;
            }
            if self.instances.len() >= self.plan.max_instances
                || self.draining.load(Ordering::Acquire)
            {
                self.refuse(token).await;
                return;
            }
            let instance = Instance {
                token: token.into(),
                values: vec![None; plan.vars.len()],
                inputs_missing: plan.input_count,
                outputs_missing: plan.output_count,
                published: vec![false; plan.events.len()],
                calls: std::iter::repeat_with(CallState::default)
                    .take(plan.calls.len())
                    .collect(),
                deadline: Instant::now() + plan.timeout,
            };
            self.deadlines.push(Reverse((instance.deadline, key)));
            self.instances.insert(key, instance);
            self.metrics.started();
        }
        let instance = self.instances.get_mut(&key).expect("present or just made");
        let mut outcome = Outcome::Running;
        for action in &plan.subscriptions[tag].actions {
            outcome = instance.act(&plan, action, &message.value, &mut published);
            if !matches!(outcome, Outcome::Running) {
                break;
            }
        }
        if matches!(outcome, Outcome::Running)
            && instance.outputs_missing == 0
            && instance.inputs_missing == 0
        {
            outcome = Outcome::Done;
        }
        let token = instance.token.clone();
        for (subject, value) in published {
            self.publish(subject, value).await;
        }
        match outcome {
            Outcome::Running => {}
            Outcome::Done => self.finish(key).await,
            Outcome::Failed(error) => self.fail(key, &token, error, FlowOutcome::Error).await,
        }
    }

    async fn publish(&self, subject: String, value: Arc<Value>) {
        if let Err(error) = self.bus.publish(subject, value).await {
            tracing::error!(%error, "publish failed");
        }
    }

    /// Publishes the outputs of a finished instance and frees it.
    async fn finish(&mut self, key: u128) {
        let Some(instance) = self.instances.remove(&key) else {
            return;
        };
        for (index, value) in instance.values.iter().enumerate() {
            let (true, Some(value)) = (self.plan.is_output[index], value) else {
                continue;
            };
            let event = EventName::flow(
                &self.plan.name,
                Direction::Out,
                Some(&self.plan.vars[index]),
            );
            self.publish(event.subject(&instance.token), value.clone())
                .await;
        }
        tracing::debug!(id = %instance.token, "flow done");
        self.ended(&instance, FlowOutcome::Ok);
        self.compact();
    }

    async fn fail(&mut self, key: u128, token: &str, error: Value, outcome: FlowOutcome) {
        if let Some(instance) = self.instances.remove(&key) {
            self.ended(&instance, outcome);
        }
        tracing::warn!(id = token, error = %error["message"], "flow failed");
        let event = EventName::flow(&self.plan.name, Direction::Err, None);
        self.publish(event.subject(token), Arc::new(error)).await;
        self.compact();
    }

    /// Answers an event that would start an instance with an `overloaded`
    /// error: the flow is full, or stopping.
    async fn refuse(&self, token: &str) {
        self.metrics.refused();
        tracing::debug!(id = token, "flow instance refused");
        let message = if self.draining.load(Ordering::Acquire) {
            format!("flow `{}` is stopping and takes no more", self.plan.name)
        } else {
            format!(
                "flow `{}` has {} instances in flight and takes no more for now",
                self.plan.name, self.plan.max_instances
            )
        };
        let error = json!({"message": message, "flow": self.plan.name, "kind": "overloaded"});
        let event = EventName::flow(&self.plan.name, Direction::Err, None);
        self.publish(event.subject(token), Arc::new(error)).await;
    }

    fn ended(&self, instance: &Instance, outcome: FlowOutcome) {
        let started = instance.deadline.checked_sub(self.plan.timeout);
        let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
        self.metrics.ended(outcome, elapsed);
    }

    /// Fails every instance whose deadline has passed.
    async fn expire(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, key))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(instance) = self.instances.get(&key) else {
                continue;
            };
            if instance.deadline > now {
                continue;
            }
            let token = instance.token.clone();
            let message = format!(
                "flow `{}` passed its deadline of {:?}",
                self.plan.name, self.plan.timeout
            );
            self.fail(
                key,
                &token,
                json!({"message": message, "flow": self.plan.name, "kind": "timeout"}),
                FlowOutcome::Timeout,
            )
            .await;
        }
    }

    /// Keeps the deadline heap from holding many entries of finished instances.
    fn compact(&mut self) {
        if self.deadlines.len() > 2 * self.instances.len() + 1024 {
            self.deadlines = self
                .instances
                .iter()
                .map(|(key, i)| Reverse((i.deadline, *key)))
                .collect();
        }
    }
}

impl Instance {
    fn act(
        &mut self,
        plan: &Plan,
        action: &Action,
        value: &Arc<Value>,
        out: &mut Vec<(String, Arc<Value>)>,
    ) -> Outcome {
        match action {
            Action::Set {
                var,
                extract,
                constant,
                apply,
            } => {
                let value = match constant {
                    Some(constant) => Arc::new(constant.clone()),
                    None => match part(value, extract) {
                        Some(value) => value,
                        None => return Outcome::Running,
                    },
                };
                match apply {
                    Some(call) => {
                        let input = plan.calls[*call]
                            .inputs
                            .first()
                            .cloned()
                            .unwrap_or_default();
                        self.feed(plan, *call, input, (*value).clone(), out);
                        Outcome::Running
                    }
                    None => self.set(plan, *var, value, out),
                }
            }
            Action::Applied { call, extract } => {
                let Some(value) = part(value, extract) else {
                    return Outcome::Running;
                };
                let mut outcome = Outcome::Running;
                for var in &plan.calls[*call].apply_vars {
                    outcome = self.set(plan, *var, value.clone(), out);
                    if !matches!(outcome, Outcome::Running) {
                        break;
                    }
                }
                outcome
            }
            Action::Failed { call } => {
                let name = plan.calls[*call].name();
                let cause = value["message"]
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                Outcome::Failed(json!({
                    "message": format!("flow `{}` failed: {cause}", plan.name),
                    "flow": plan.name,
                    "function": name,
                    "cause": *value.clone(),
                }))
            }
        }
    }

    /// Sets `var` once; the first value wins.
    fn set(
        &mut self,
        plan: &Plan,
        var: usize,
        value: Arc<Value>,
        out: &mut Vec<(String, Arc<Value>)>,
    ) -> Outcome {
        if self.values[var].is_some() {
            return Outcome::Running;
        }
        self.values[var] = Some(value.clone());
        if plan.is_output[var] {
            self.outputs_missing -= 1;
        }
        for publish in &plan.on_set[var] {
            let part = part(&value, &publish.extract).unwrap_or_else(|| Arc::new(Value::Null));
            match &publish.target {
                Target::Event(event) => {
                    if !std::mem::replace(&mut self.published[*event], true) {
                        out.push((plan.events[*event].subject(&self.token), part));
                    }
                }
                Target::Call { call, input } => {
                    self.feed(plan, *call, input.clone(), (*part).clone(), out)
                }
            }
        }
        if plan.is_input[var] {
            self.inputs_missing -= 1;
            if self.inputs_missing == 0 {
                for action in &plan.at_start {
                    let outcome = self.act(plan, action, &Arc::new(Value::Null), out);
                    if !matches!(outcome, Outcome::Running) {
                        return outcome;
                    }
                }
            }
        }
        Outcome::Running
    }

    /// Gives a call one input; once it has all, publishes it as one message.
    fn feed(
        &mut self,
        plan: &Plan,
        call: usize,
        input: String,
        value: Value,
        out: &mut Vec<(String, Arc<Value>)>,
    ) {
        let spec = &plan.calls[call];
        let state = &mut self.calls[call];
        if state.sent {
            return;
        }
        state.inputs.entry(input).or_insert(value);
        if !spec.inputs.iter().all(|i| state.inputs.contains_key(i)) {
            return;
        }
        state.sent = true;
        let inputs = std::mem::take(&mut state.inputs);
        let (event, value) = if let [only] = spec.inputs.as_slice() {
            let value = inputs
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or_default();
            (
                EventName::service(&spec.service, &spec.function, Direction::In, Some(only)),
                value,
            )
        } else {
            (
                EventName::service(&spec.service, &spec.function, Direction::In, None),
                Value::Object(inputs),
            )
        };
        out.push((event.subject(&self.token), Arc::new(value)));
    }
}

/// The part of `value` at `path`; list items are addressed by index.
fn part(value: &Arc<Value>, path: &[String]) -> Option<Arc<Value>> {
    if path.is_empty() {
        return Some(value.clone());
    }
    let mut current: &Value = value;
    for key in path {
        current = match current {
            Value::Object(map) => map.get(key)?,
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(Arc::new(current.clone()))
}
