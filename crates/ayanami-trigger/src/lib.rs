//! The triggers that start flows without an HTTP request.
//!
//! - [`schedule`]: a cron expression read in an IANA time zone fires
//!   `<ID>.trig.schedule.<name>.out`, once per fire time, across
//!   daylight-saving changes too.
//! - [`subject`]: each message on a plain NATS subject becomes
//!   `<ID>.trig.subject.<name>.out`; a request (a message with a reply
//!   subject) is answered with the outputs of the flow it started.
//!
//! Both only publish and subscribe through the [`Bus`](ayanami_bus::Bus),
//! like every other component.

pub mod schedule;
pub mod subject;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ayanami_bus::{Delivery, Subscription};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Running triggers; dropping the handle stops them.
#[derive(Debug)]
pub struct TriggerHandle {
    /// Tasks that start work (schedules firing); stopped first.
    starting: Vec<JoinHandle<()>>,
    /// Subscriptions that start work (subject messages); dropped first.
    taking: Vec<Subscription>,
    /// Tasks and subscriptions that carry answers to work already taken.
    tasks: Vec<JoinHandle<()>>,
    _answers: Vec<Subscription>,
    /// Requests taken and not yet answered.
    pending: Arc<AtomicUsize>,
    /// Tells the task to answer every request left with an error.
    give_up: Option<oneshot::Sender<()>>,
    /// Tells when the task has taken every message delivered before the
    /// subscriptions closed.
    catch_up: Option<CatchUp>,
}

/// A way into the task's queue, behind every delivery, and the flag it
/// sets when a mark sent that way reaches it.
#[derive(Debug)]
struct CatchUp {
    queue: mpsc::Sender<Delivery>,
    done: Arc<AtomicBool>,
}

impl TriggerHandle {
    /// Stops starting work: no more fires, no more messages taken, so
    /// that other replicas (or NATS's "no responders") take them. Messages
    /// the bus had taken before are still handled. Waits at most until
    /// `deadline` for the bus to confirm.
    pub async fn stop_taking(&mut self, deadline: tokio::time::Instant) {
        for task in self.starting.drain(..) {
            task.abort();
        }
        ayanami_bus::close_all(std::mem::take(&mut self.taking), deadline).await;
    }

    /// Stops taking work and waits until every request taken is answered
    /// or `deadline` passes; those left then get an error answer rather
    /// than none. Returns how many were left.
    pub async fn drain(&mut self, deadline: tokio::time::Instant) -> usize {
        self.stop_taking(deadline).await;
        if let Some(catch_up) = self.catch_up.take() {
            // Until the mark is through, `pending` may miss requests still
            // queued for the task.
            let mark = tokio::time::timeout_at(deadline, catch_up.queue.send(subject::mark()));
            if matches!(mark.await, Ok(Ok(()))) {
                while !catch_up.done.load(Ordering::Acquire)
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        while self.pending.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = self.pending.load(Ordering::Acquire);
        if left > 0 {
            if let Some(give_up) = self.give_up.take() {
                let _ = give_up.send(());
            }
            let answered = tokio::time::Instant::now() + Duration::from_secs(1);
            while self.pending.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < answered
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        left
    }
}

impl Drop for TriggerHandle {
    fn drop(&mut self) {
        for task in self.starting.iter().chain(&self.tasks) {
            task.abort();
        }
    }
}
