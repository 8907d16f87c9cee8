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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ayanami_bus::Subscription;
use tokio::sync::oneshot;
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
}

impl TriggerHandle {
    /// Stops starting work: no more fires, no more messages taken, so
    /// that other replicas (or NATS's "no responders") take them.
    pub fn stop_taking(&mut self) {
        for task in self.starting.drain(..) {
            task.abort();
        }
        self.taking.clear();
    }

    /// Stops taking work and waits until every request taken is answered
    /// or `deadline` passes; those left then get an error answer rather
    /// than none. Returns how many were left.
    pub async fn drain(&mut self, deadline: tokio::time::Instant) -> usize {
        self.stop_taking();
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
