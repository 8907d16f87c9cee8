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

use tokio::task::JoinHandle;

use ayanami_bus::Subscription;

/// Running triggers; dropping the handle stops them.
#[derive(Debug, Default)]
pub struct TriggerHandle {
    tasks: Vec<JoinHandle<()>>,
    _subscriptions: Vec<Subscription>,
}

impl Drop for TriggerHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
