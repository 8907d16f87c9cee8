//! The bus conformance suite on the NATS bus, against a real nats-server.

use std::time::Duration;

use ayanami_bus_nats::NatsBus;
use ayanami_testing::{NatsServer, conformance};

async fn bus(server: &NatsServer) -> NatsBus {
    NatsBus::connect(&server.url(), "conformance", Duration::from_secs(5))
        .await
        .unwrap()
}

#[tokio::test]
async fn wildcards() {
    let server = NatsServer::start();
    conformance::wildcards(bus(&server).await).await;
}

#[tokio::test]
async fn ordering_per_publisher() {
    let server = NatsServer::start();
    conformance::ordering_per_publisher(bus(&server).await).await;
}

#[tokio::test]
async fn many_subscribers() {
    let server = NatsServer::start();
    conformance::many_subscribers(bus(&server).await).await;
}

#[tokio::test]
async fn unsubscribe() {
    let server = NatsServer::start();
    conformance::unsubscribe(bus(&server).await).await;
}

#[tokio::test]
async fn queue_groups() {
    let server = NatsServer::start();
    conformance::queue_groups(bus(&server).await).await;
}

#[tokio::test]
async fn large_payloads() {
    let server = NatsServer::start_with_config("max_payload: 65536");
    conformance::large_payloads(bus(&server).await, Some(65536)).await;
}

#[tokio::test]
async fn requests() {
    let server = NatsServer::start();
    conformance::requests(bus(&server).await).await;
}

#[tokio::test]
async fn slow_consumers() {
    let server = NatsServer::start();
    conformance::slow_consumers(bus(&server).await).await;
}

#[tokio::test]
async fn unsubscribe_keeps_what_was_sent() {
    let server = NatsServer::start();
    conformance::unsubscribe_keeps_what_was_sent(bus(&server).await).await;
}
