//! Calls the functions of one service, keeping what lives between calls:
//! worker processes, connections to web services and concurrency limits.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ayanami_composition::{Composition, Function, FunctionKind};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use crate::http::{Connections, Endpoint};
use crate::worker::Worker;
use crate::{CallError, CallErrorKind, process};

/// How many calls of one function may wait in line beyond those its
/// `concurrency` lets run; a call beyond is refused at once as
/// `overloaded`, so that a stalled function cannot pile up calls without end.
pub const MAX_QUEUED_CALLS: usize = 1024;

/// The functions of one service, ready to be called.
pub struct Runner {
    dir: PathBuf,
    service: String,
    slots: Vec<Slot>,
}

struct Slot {
    function: Function,
    limit: Option<Semaphore>,
    caller: Caller,
    /// Calls admitted and not yet ended, and how many may be.
    calls: Arc<AtomicUsize>,
    max_calls: usize,
}

/// A call admitted by [`Runner::admit`]; dropping it makes room for another.
#[derive(Debug)]
pub struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How a function is called.
enum Caller {
    /// A process per call (`cmd`, `exec`), or nothing at all (`outside`).
    Process,
    /// A long-lived process taking many calls.
    Worker(Worker),
    /// A web service.
    Http(Endpoint),
}

/// The calls of one `cmd` or `exec` function that may run at once when the
/// composition does not say: enough to keep every core busy with programs
/// that wait on I/O, few enough that a burst of requests cannot fork
/// hundreds of processes and starve them all past their deadlines.
fn default_limit() -> usize {
    8 * std::thread::available_parallelism().map_or(1, usize::from)
}

/// The calls of one `http` function in flight at once when the composition
/// does not say; each holds a connection, and a burst must not open
/// thousands of sockets to one server.
const HTTP_LIMIT: usize = 64;

fn limit(function: &Function) -> Option<usize> {
    match function.kind {
        FunctionKind::Cmd { .. } | FunctionKind::Exec { .. } => {
            Some(function.concurrency.unwrap_or_else(default_limit))
        }
        FunctionKind::Http { .. } => Some(function.concurrency.unwrap_or(HTTP_LIMIT)),
        FunctionKind::Worker { .. } | FunctionKind::Outside => function.concurrency,
    }
}

impl Runner {
    /// A runner for `service`'s functions, which run from the project folder.
    ///
    /// # Panics
    ///
    /// When `service` is not in `composition`: callers take it from there.
    #[must_use]
    pub fn new(composition: &Composition, service: &str) -> Self {
        let functions = &composition
            .service(service)
            .expect("the service is in the composition")
            .functions;
        let mut connections = None;
        let slots = functions
            .iter()
            .map(|function| {
                let name = format!("{service}.{}", function.name);
                let caller = match &function.kind {
                    FunctionKind::Worker { argv } => Caller::Worker(Worker::new(
                        name,
                        function,
                        argv.clone(),
                        composition.dir.clone(),
                    )),
                    FunctionKind::Http { url } => {
                        let pool = connections.get_or_insert_with(Connections::new);
                        Caller::Http(Endpoint::new(name, function, url, pool.clone()))
                    }
                    _ => Caller::Process,
                };
                Slot {
                    function: function.clone(),
                    limit: limit(function).map(Semaphore::new),
                    caller,
                    calls: Arc::default(),
                    max_calls: limit(function).unwrap_or(0) + MAX_QUEUED_CALLS,
                }
            })
            .collect();
        Self {
            dir: composition.dir.clone(),
            service: service.to_owned(),
            slots,
        }
    }

    /// The function at `index` in the service.
    #[must_use]
    pub fn function(&self, index: usize) -> &Function {
        &self.slots[index].function
    }

    /// Makes room for one call of the function at `index`.
    ///
    /// # Errors
    ///
    /// An `overloaded` [`CallError`] when the function has as many calls
    /// running and waiting as it takes.
    pub fn admit(&self, index: usize) -> Result<Admission, CallError> {
        let slot = &self.slots[index];
        let admitted = slot
            .calls
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < slot.max_calls).then_some(n + 1)
            });
        if admitted.is_err() {
            let name = format!("{}.{}", self.service, slot.function.name);
            let detail = format!(
                "has {} calls running and waiting, and takes no more for now",
                slot.max_calls
            );
            return Err(CallError::new(&name, CallErrorKind::Overloaded, detail));
        }
        Ok(Admission(slot.calls.clone()))
    }

    /// Calls in flight: admitted and not yet ended, over every function.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.calls.load(Ordering::Acquire))
            .sum()
    }

    /// Calls the function at `index` with `inputs`, waiting in line first
    /// when it has a `concurrency` limit.
    ///
    /// # Errors
    ///
    /// A [`CallError`] saying why the call failed.
    pub async fn call(
        &self,
        index: usize,
        inputs: &Map<String, Value>,
    ) -> Result<Map<String, Value>, CallError> {
        let slot = &self.slots[index];
        let _permit = match &slot.limit {
            Some(limit) => Some(
                limit
                    .acquire()
                    .await
                    .expect("the semaphore is never closed"),
            ),
            None => None,
        };
        match &slot.caller {
            Caller::Process => {
                process::call(&self.dir, &self.service, &slot.function, inputs).await
            }
            Caller::Worker(worker) => {
                process::check_inputs(&self.service, &slot.function, inputs)?;
                worker.call(inputs).await
            }
            Caller::Http(endpoint) => {
                process::check_inputs(&self.service, &slot.function, inputs)?;
                endpoint.call(inputs).await
            }
        }
    }
}
