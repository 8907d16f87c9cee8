//! Subject triggers stopping: every request taken before the stop is
//! accounted for and answered, none is left to its requester's timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ayanami_bus::{Bus, MemoryBus, Sink};
use serde_json::json;
use tokio::sync::mpsc;

const COMPOSITION: &str = "
name: stopping
triggers:
  subject:
    orders:
      subject: orders.created
      reply: true
flows:
  order:
    outputs: [receipt]
    timeout: 60s
    wirings:
      - from: trig.subject.orders.out
        var: message
      - var: message
        to: srvc.shop.reserve.in.item
      - from: srvc.shop.reserve.out.receipt
        var: receipt
services:
  shop:
    functions:
      reserve:
        kind: outside
        inputs: [item]
        outputs: [receipt]
";

#[tokio::test]
async fn requests_queued_at_the_stop_are_counted_and_answered() {
    let composition =
        ayanami_composition::parse(COMPOSITION, Path::new("ayanami.yaml"), PathBuf::from("."))
            .unwrap();
    let bus = MemoryBus::new();
    let (tx, mut answers) = mpsc::channel(1024);
    let _inbox = bus
        .subscribe("inbox.*", None, Sink::new(tx, 0))
        .await
        .unwrap();
    let mut triggers = ayanami_trigger::subject::serve(bus.clone(), &composition)
        .await
        .unwrap();
    // No flow runs, so every request stays waiting; the memory bus has
    // queued them all for the trigger before the stop begins.
    for n in 0..100 {
        let reply = format!("inbox.{n}");
        let request = Arc::new(json!({"n": n}));
        bus.publish_request("orders.created".into(), reply, request)
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    let left = triggers.drain(deadline).await;
    assert_eq!(
        left, 100,
        "every request taken is still waiting at the deadline"
    );
    for _ in 0..100 {
        let answer = tokio::time::timeout(Duration::from_secs(5), answers.recv())
            .await
            .expect("each request is answered")
            .unwrap();
        let error = &answer.message.value["error"]["message"];
        assert!(error.is_string(), "{}", answer.message.value);
    }
}
