//! Cron schedules: each fire publishes `<ID>.trig.schedule.<name>.out`.
//!
//! The next fire time comes from the expression read in the schedule's
//! time zone, with cron's rules for daylight-saving changes: a wall-clock
//! time the change skips fires once, at the first instant after the gap;
//! a time the change repeats fires once, at its first occurrence, unless
//! the expression repeats within the hour (`*` or a step in the second,
//! minute or hour field), which fires on both. Each fire time is strictly
//! after the one before, so no fire is doubled.
//!
//! The scheduler reads time from a [`Clock`], so a test can drive it
//! across a daylight-saving change without waiting for one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ayanami_bus::Bus;
use ayanami_composition::{Composition, Schedule};
use ayanami_event::Id;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::TriggerHandle;

/// Where a scheduler reads the time and waits for it.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// Resolves once [`Clock::now`] has reached `at`.
    fn sleep_until(&self, at: Timestamp) -> impl Future<Output = ()> + Send;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The longest single wait: a wall clock that is stepped (by NTP, or by
/// a suspend and resume) is noticed within this long.
const NAP: Duration = Duration::from_secs(30);

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep_until(&self, at: Timestamp) {
        loop {
            let left = at.duration_since(Timestamp::now());
            if left <= SignedDuration::ZERO {
                return;
            }
            let left = Duration::try_from(left).unwrap_or(NAP);
            tokio::time::sleep(left.min(NAP)).await;
        }
    }
}

/// How late a fire may be before the fires it has held up are skipped
/// rather than all sent at once.
const LATE: SignedDuration = SignedDuration::from_secs(1);

/// Starts every schedule of `composition` on `bus`, timed by the system clock.
#[must_use]
pub fn serve<B: Bus>(bus: B, composition: &Composition) -> TriggerHandle {
    serve_with_clock(bus, composition, Arc::new(SystemClock))
}

/// Starts every schedule of `composition` on `bus`, timed by `clock`.
#[must_use]
pub fn serve_with_clock<B: Bus, C: Clock>(
    bus: B,
    composition: &Composition,
    clock: Arc<C>,
) -> TriggerHandle {
    let starting = composition
        .triggers
        .schedules
        .iter()
        .map(|schedule| tokio::spawn(run(bus.clone(), clock.clone(), schedule.clone())))
        .collect();
    TriggerHandle {
        starting,
        taking: Vec::new(),
        tasks: Vec::new(),
        _answers: Vec::new(),
        pending: Arc::default(),
        give_up: None,
        catch_up: None,
    }
}

/// The first fire time of `schedule` strictly after `after`, if there is one.
#[must_use]
pub fn next_fire(schedule: &Schedule, after: Timestamp) -> Option<Timestamp> {
    let zoned = after.to_zoned(schedule.timezone.clone());
    let next = schedule.cron.find_next_occurrence(&zoned, false).ok()?;
    Some(next.timestamp())
}

/// Fires `schedule` at each of its times, for as long as the task lives.
async fn run<B: Bus, C: Clock>(bus: B, clock: Arc<C>, schedule: Schedule) {
    let event = schedule.event();
    let mut after = clock.now();
    loop {
        let Some(at) = next_fire(&schedule, after) else {
            tracing::warn!(schedule = %schedule.name, cron = %schedule.expression, "the schedule has no fire time left; it stops");
            return;
        };
        clock.sleep_until(at).await;
        let zoned = at.to_zoned(schedule.timezone.clone());
        let value = json!({
            "time": at.display_with_offset(zoned.offset()).to_string(),
            "timestamp": at.as_second(),
            "timezone": schedule.zone,
        });
        let id = Id::new();
        tracing::info!(%id, schedule = %schedule.name, time = %value["time"], "schedule fired");
        if let Err(error) = bus.publish(event.subject(id), Arc::new(value)).await {
            tracing::error!(schedule = %schedule.name, %error, "a schedule's fire could not be published");
        }
        after = at;
        let now = clock.now();
        if next_fire(&schedule, at).is_some_and(|next| next < now - LATE) {
            tracing::warn!(schedule = %schedule.name, since = %at, "the process was held up past later fire times; they are skipped, not sent at once");
            after = now;
        }
    }
}
