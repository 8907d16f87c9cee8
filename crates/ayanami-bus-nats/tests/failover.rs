//! Several server URLs: connecting to any, giving up clearly, and failing
//! over between the nodes of a real three-node cluster.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ayanami_bus::{Bus, BusError, Delivery, Sink};
use ayanami_bus_nats::NatsBus;
use ayanami_testing::{NatsCluster, NatsServer};
use serde_json::json;
use tokio::sync::mpsc;

/// A URL where nothing listens.
const DEAD: &str = "nats://127.0.0.1:1";

fn cause(error: &BusError) -> String {
    let source = std::error::Error::source(error).expect("a transport error has a cause");
    source.to_string()
}

#[tokio::test]
async fn connect_takes_the_first_server_of_the_list_that_answers() {
    let server = NatsServer::start();
    let urls = format!("{DEAD}, {}", server.url());
    let bus = NatsBus::connect(&urls, "any", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(bus.is_connected());
    bus.flush().await.unwrap();
}

#[tokio::test]
async fn connect_gives_up_when_no_server_answers_within_the_wait() {
    let urls = format!("{DEAD},nats://127.0.0.1:2");
    let started = Instant::now();
    let error = NatsBus::connect(&urls, "none", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        cause(&error),
        format!("no NATS server of `{urls}` answered within 1s")
    );
}

#[tokio::test]
async fn connect_names_a_url_of_the_list_that_does_not_parse() {
    let error = NatsBus::connect(
        "nats://127.0.0.1:4222,nats://[",
        "bad",
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    let cause = cause(&error);
    assert!(
        cause.starts_with("`nats://[` is not a NATS server URL: "),
        "{cause}"
    );
}

#[tokio::test]
async fn a_client_fails_over_to_another_node_when_its_node_dies() {
    let mut cluster = NatsCluster::start_on_loopback(3);
    let wait = Duration::from_secs(10);
    let near_first = NatsBus::connect(&cluster.urls_from(0), "near-first", wait)
        .await
        .unwrap();
    let near_last = NatsBus::connect(&cluster.urls_from(2), "near-last", wait)
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(1024);
    let _one = near_first
        .subscribe("to.first", Some("q"), Sink::new(tx.clone(), 1))
        .await
        .unwrap();
    let _two = near_last
        .subscribe("to.last", None, Sink::new(tx, 2))
        .await
        .unwrap();
    near_first.flush().await.unwrap();
    near_last.flush().await.unwrap();
    // Interest crosses the routes shortly after the subscription.
    exchange(&near_first, &near_last, &mut rx, Duration::from_secs(5)).await;

    cluster.kill(0);
    let started = Instant::now();
    exchange(&near_first, &near_last, &mut rx, Duration::from_secs(10)).await;
    eprintln!("failed over in {:?}", started.elapsed());
    assert!(near_first.is_connected());
}

/// Publishes from each bus to the other until both directions deliver.
async fn exchange(
    first: &NatsBus,
    last: &NatsBus,
    rx: &mut mpsc::Receiver<Delivery>,
    limit: Duration,
) {
    let started = Instant::now();
    let (mut to_first, mut to_last) = (false, false);
    while !(to_first && to_last) {
        assert!(
            started.elapsed() < limit,
            "messages did not cross the cluster within {limit:?} (to first: {to_first}, to last: {to_last})"
        );
        // Publishing while reconnecting may fail or be lost; we try again.
        let _ = first.publish("to.last".into(), Arc::new(json!(1))).await;
        let _ = last.publish("to.first".into(), Arc::new(json!(2))).await;
        let tick = tokio::time::sleep(Duration::from_millis(50));
        tokio::pin!(tick);
        loop {
            tokio::select! {
                delivery = rx.recv() => match delivery {
                    Some(Delivery { tag: 1, .. }) => to_first = true,
                    Some(_) => to_last = true,
                    None => panic!("the subscriptions ended"),
                },
                () = &mut tick => break,
            }
        }
    }
}
