//! The scheduler driven by a clock the test controls, across the two
//! daylight-saving changes of Europe/Berlin in 2026: no fire missed, none
//! doubled.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ayanami_bus::{Bus, MemoryBus, Sink};
use ayanami_trigger::schedule::{Clock, serve_with_clock};
use jiff::Timestamp;
use tokio::sync::{Notify, mpsc};

/// A clock that jumps to whatever time the scheduler waits for, and stops
/// the scheduler once it would wait past `end`.
struct ManualClock {
    now: Mutex<Timestamp>,
    end: Timestamp,
    reached_end: Notify,
}

impl ManualClock {
    fn new(start: &str, end: &str) -> Arc<Self> {
        Arc::new(Self {
            now: Mutex::new(start.parse().unwrap()),
            end: end.parse().unwrap(),
            reached_end: Notify::new(),
        })
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap()
    }

    async fn sleep_until(&self, at: Timestamp) {
        if at > self.end {
            self.reached_end.notify_one();
            std::future::pending::<()>().await;
        }
        {
            let mut now = self.now.lock().unwrap();
            *now = (*now).max(at);
        }
        tokio::task::yield_now().await;
    }
}

/// The `time` of every fire of a schedule `cron` in `zone`, between `start`
/// and `end`.
async fn fires(cron: &str, zone: &str, start: &str, end: &str) -> Vec<String> {
    let mut text =
        format!("name: clock\ntriggers:\n  schedule:\n    tick:\n      cron: \"{cron}\"\n");
    if zone != "UTC" {
        text.push_str(&format!("      timezone: {zone}\n"));
    }
    let composition =
        ayanami_composition::parse(&text, Path::new("ayanami.yaml"), PathBuf::from(".")).unwrap();
    let bus = MemoryBus::new();
    let (tx, mut rx) = mpsc::channel(1024);
    let _subscription = bus
        .subscribe("*.trig.schedule.tick.out", None, Sink::new(tx, 0))
        .await
        .unwrap();
    let clock = ManualClock::new(start, end);
    let _schedules = serve_with_clock(bus, &composition, clock.clone());
    tokio::time::timeout(Duration::from_secs(10), clock.reached_end.notified())
        .await
        .expect("the scheduler reaches the end of the test's time span");
    let mut times = Vec::new();
    while let Ok(delivery) = rx.try_recv() {
        let value = &delivery.message.value;
        assert_eq!(value["timezone"], zone);
        let time: Timestamp = value["time"].as_str().unwrap().parse().unwrap();
        assert_eq!(value["timestamp"], time.as_second());
        times.push(value["time"].as_str().unwrap().to_owned());
    }
    times
}

#[tokio::test]
async fn a_daily_time_the_spring_change_skips_fires_once_right_after_the_gap() {
    let got = fires(
        "0 30 2 * * *",
        "Europe/Berlin",
        "2026-03-27T12:00:00Z",
        "2026-03-31T00:00:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-30T02:30:00+02:00",
        ]
    );
}

#[tokio::test]
async fn a_daily_time_the_autumn_change_repeats_fires_once() {
    let got = fires(
        "0 30 2 * * *",
        "Europe/Berlin",
        "2026-10-23T12:00:00Z",
        "2026-10-27T00:00:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            "2026-10-24T02:30:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-26T02:30:00+01:00",
        ]
    );
}

#[tokio::test]
async fn an_hourly_schedule_fires_once_every_real_hour_across_both_changes() {
    let spring = fires(
        "0 0 * * * *",
        "Europe/Berlin",
        "2026-03-28T23:30:00Z",
        "2026-03-29T03:30:00Z",
    )
    .await;
    assert_eq!(
        spring,
        [
            "2026-03-29T01:00:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-29T04:00:00+02:00",
            "2026-03-29T05:00:00+02:00",
        ]
    );
    let autumn = fires(
        "0 0 * * * *",
        "Europe/Berlin",
        "2026-10-24T22:30:00Z",
        "2026-10-25T03:30:00Z",
    )
    .await;
    assert_eq!(
        autumn,
        [
            "2026-10-25T01:00:00+02:00",
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:00:00+01:00",
            "2026-10-25T03:00:00+01:00",
            "2026-10-25T04:00:00+01:00",
        ]
    );
}

#[tokio::test]
async fn seconds_are_honoured_and_utc_is_the_default_zone() {
    let got = fires(
        "*/20 * * * * *",
        "UTC",
        "2026-12-03T10:00:00Z",
        "2026-12-03T10:01:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            "2026-12-03T10:00:20+00:00",
            "2026-12-03T10:00:40+00:00",
            "2026-12-03T10:01:00+00:00",
        ]
    );
}
