//! The service runtime: calls a service's functions when their inputs
//! arrive and publishes what they answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ayanami_bus::{Bus, BusError, Delivery, Sink, Subscription};
use ayanami_composition::{Composition, Function, FunctionKind};
use ayanami_event::{Direction, EventName, Id};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::{CallError, CallErrorKind, Runner};

/// How many deliveries may wait for the dispatcher before the bus counts
/// this service as a slow consumer.
const BUFFER: usize = 8192;

/// How many calls may wait for the rest of their inputs, which arrive one
/// event each, before further ones are refused as `overloaded`.
const MAX_GATHERING: usize = 65536;

/// A running service; dropping it stops taking calls.
pub struct ServiceHandle {
    task: JoinHandle<()>,
    subscriptions: Vec<Subscription>,
    runner: Arc<Runner>,
}

impl std::fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("in_flight", &self.runner.in_flight())
            .finish_non_exhaustive()
    }
}

impl ServiceHandle {
    /// Stops taking calls, so that replicas get them, and waits until
    /// the calls taken have ended or `deadline` passes. Returns how many
    /// calls were still running at the deadline.
    pub async fn drain(&mut self, deadline: tokio::time::Instant) -> usize {
        ayanami_bus::close_all(std::mem::take(&mut self.subscriptions), deadline).await;
        // With the subscriptions gone the dispatcher's channel closes, and
        // the task ends once it has started every call already delivered.
        let _ = tokio::time::timeout_at(deadline, &mut self.task).await;
        while self.runner.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.runner.in_flight()
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Subscribes every function of `service` on `bus`, in a queue group named
/// after the service so that replicas share the calls.
///
/// A call's inputs may arrive in one message on the parent event
/// (`<ID>.srvc.<service>.<function>.in` carrying `{"input": ...}`) or one
/// per variable (`<ID>.srvc.<service>.<function>.in.input`); the function
/// runs once all of them are there for one ID.
///
/// # Errors
///
/// A [`BusError`] when a subscription is refused.
///
/// # Panics
///
/// When `service` is not in `composition`: the caller picks it from there.
pub async fn serve<B: Bus>(
    bus: B,
    composition: Arc<Composition>,
    service: &str,
) -> Result<ServiceHandle, BusError> {
    let index = composition
        .services
        .iter()
        .position(|s| s.name == service)
        .expect("the service is taken from the composition");
    let (tx, rx) = mpsc::channel(BUFFER);
    let mut subscriptions = Vec::new();
    for (f, function) in composition.services[index].functions.iter().enumerate() {
        if matches!(function.kind, FunctionKind::Outside) {
            continue;
        }
        let parent = EventName::service(service, &function.name, Direction::In, None);
        let whole = parent.pattern();
        let each = format!("{whole}.>");
        subscriptions.push(
            bus.subscribe(&whole, Some(service), Sink::new(tx.clone(), 2 * f))
                .await?,
        );
        subscriptions.push(
            bus.subscribe(&each, Some(service), Sink::new(tx.clone(), 2 * f + 1))
                .await?,
        );
    }
    let runner = Arc::new(Runner::new(&composition, service));
    let dispatcher = Dispatcher {
        bus,
        runner: runner.clone(),
        composition,
        service: index,
        gathering: HashMap::new(),
    };
    let span = tracing::info_span!("ayanami.service", service);
    let task = tokio::spawn(dispatcher.run(rx).instrument(span));
    Ok(ServiceHandle {
        task,
        subscriptions,
        runner,
    })
}

/// Inputs of one call still waiting for the rest.
struct Gathering {
    inputs: Map<String, Value>,
    since: Instant,
}

struct Dispatcher<B> {
    bus: B,
    runner: Arc<Runner>,
    composition: Arc<Composition>,
    service: usize,
    gathering: HashMap<(u128, usize), Gathering>,
}

impl<B: Bus> Dispatcher<B> {
    async fn run(mut self, mut rx: mpsc::Receiver<Delivery>) {
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                delivery = rx.recv() => match delivery {
                    Some(delivery) => self.receive(delivery).await,
                    None => return,
                },
                _ = sweep.tick() => self.expire().await,
            }
        }
    }

    fn function(&self, index: usize) -> &Function {
        &self.composition.services[self.service].functions[index]
    }

    async fn receive(&mut self, Delivery { tag, message }: Delivery) {
        ayanami_metrics::metrics().received();
        let index = tag / 2;
        let Some((token, rest)) = message.subject.split_once('.') else {
            return;
        };
        let Ok(id) = token.parse::<Id>() else {
            tracing::warn!(subject = %message.subject, "event without an ID dropped");
            return;
        };
        let composition = self.composition.clone();
        let service = &composition.services[self.service];
        let function = &service.functions[index];
        let name = format!("{}.{}", service.name, function.name);
        let arrived = if tag % 2 == 0 {
            match &*message.value {
                Value::Object(inputs) => inputs.clone(),
                _ => {
                    let error = CallError::new(
                        &name,
                        CallErrorKind::BadInput,
                        "was sent a value that is not an object of inputs",
                    );
                    self.fail(token, index, &error).await;
                    return;
                }
            }
        } else {
            let var = rest.rsplit_once(".in.").map_or(rest, |(_, var)| var);
            Map::from_iter([(var.to_owned(), (*message.value).clone())])
        };

        let needed = &function.inputs;
        let inputs =
            if arrived.len() >= needed.len() && needed.iter().all(|n| arrived.contains_key(n)) {
                arrived
            } else {
                let key = (id.as_u128(), index);
                if self.gathering.len() >= MAX_GATHERING && !self.gathering.contains_key(&key) {
                    let error = CallError::new(
                        &name,
                        CallErrorKind::Overloaded,
                        "has too many calls waiting for the rest of their inputs",
                    );
                    self.fail(token, index, &error).await;
                    return;
                }
                let gathering = self.gathering.entry(key).or_insert_with(|| Gathering {
                    inputs: Map::new(),
                    since: Instant::now(),
                });
                for (name, value) in arrived {
                    gathering.inputs.entry(name).or_insert(value);
                }
                if !needed.iter().all(|n| gathering.inputs.contains_key(n)) {
                    return;
                }
                self.gathering
                    .remove(&key)
                    .map(|g| g.inputs)
                    .unwrap_or_default()
            };
        if let Err(error) = self.start(token, index, inputs) {
            self.fail(token, index, &error).await;
        }
    }

    fn start(
        &self,
        token: &str,
        index: usize,
        inputs: Map<String, Value>,
    ) -> Result<(), CallError> {
        let admission = self.runner.admit(index)?;
        let bus = self.bus.clone();
        let composition = self.composition.clone();
        let runner = self.runner.clone();
        let service = self.service;
        let token = token.to_owned();
        let span = tracing::debug_span!("ayanami.call", id = %token, function = %self.function(index).name);
        tokio::spawn(
            async move {
                let service = &composition.services[service];
                let function = &service.functions[index];
                let started = Instant::now();
                let _admission = admission;
                let result = runner.call(index, &inputs).await;
                let elapsed = started.elapsed();
                let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
                let outcome = result.as_ref().map_or_else(|e| e.kind.as_str(), |_| "ok");
                let name = format!("{}.{}", service.name, function.name);
                ayanami_metrics::metrics().call(&name, outcome, elapsed);
                match result {
                    Ok(outputs) => {
                        tracing::debug!(elapsed_ms, "call done");
                        publish_outputs(&bus, &token, &service.name, &function.name, outputs).await;
                    }
                    Err(error) => {
                        tracing::warn!(elapsed_ms, %error, "call failed");
                        let event =
                            EventName::service(&service.name, &function.name, Direction::Err, None);
                        publish(&bus, event.subject(&token), error.to_event()).await;
                    }
                }
            }
            .instrument(span),
        );
        Ok(())
    }

    async fn fail(&self, token: &str, index: usize, error: &CallError) {
        tracing::warn!(id = token, %error, "call refused");
        ayanami_metrics::metrics().refused(&error.function, error.kind.as_str());
        let service = &self.composition.services[self.service].name;
        let event = EventName::service(service, &self.function(index).name, Direction::Err, None);
        publish(&self.bus, event.subject(token), error.to_event()).await;
    }

    /// Fails calls whose inputs did not all arrive within the function's deadline.
    async fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<(u128, usize)> = self
            .gathering
            .iter()
            .filter(|((_, index), g)| now.duration_since(g.since) > self.function(*index).timeout)
            .map(|(key, _)| *key)
            .collect();
        for (id, index) in expired {
            self.gathering.remove(&(id, index));
            let function = self.function(index);
            let service = &self.composition.services[self.service].name;
            let name = format!("{service}.{}", function.name);
            let error = CallError::timeout(&name, function.timeout);
            let token = format!("{:032x}", id);
            self.fail(&token, index, &error).await;
        }
    }
}

/// Publishes a call's outputs: one output on its own event, several as one
/// object on the parent `out` event, so each call is one message.
async fn publish_outputs<B: Bus>(
    bus: &B,
    token: &str,
    service: &str,
    function: &str,
    outputs: Map<String, Value>,
) {
    let (event, value) = if outputs.len() == 1 {
        let (name, value) = outputs.into_iter().next().expect("one output");
        (
            EventName::service(service, function, Direction::Out, Some(&name)),
            value,
        )
    } else {
        (
            EventName::service(service, function, Direction::Out, None),
            Value::Object(outputs),
        )
    };
    publish(bus, event.subject(token), value).await;
}

async fn publish<B: Bus>(bus: &B, subject: String, value: Value) {
    if let Err(error) = bus.publish(subject, Arc::new(value)).await {
        tracing::error!(%error, "publish failed");
    }
}
