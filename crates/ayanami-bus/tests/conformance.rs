//! The bus conformance suite on the in-memory bus.

use ayanami_bus::MemoryBus;
use ayanami_testing::conformance;

#[tokio::test]
async fn wildcards() {
    conformance::wildcards(MemoryBus::new()).await;
}

#[tokio::test]
async fn ordering_per_publisher() {
    conformance::ordering_per_publisher(MemoryBus::new()).await;
}

#[tokio::test]
async fn many_subscribers() {
    conformance::many_subscribers(MemoryBus::new()).await;
}

#[tokio::test]
async fn unsubscribe() {
    conformance::unsubscribe(MemoryBus::new()).await;
}

#[tokio::test]
async fn queue_groups() {
    conformance::queue_groups(MemoryBus::new()).await;
}

#[tokio::test]
async fn large_payloads() {
    conformance::large_payloads(MemoryBus::new(), None).await;
}

#[tokio::test]
async fn requests() {
    conformance::requests(MemoryBus::new()).await;
}

#[tokio::test]
async fn slow_consumers() {
    conformance::slow_consumers(MemoryBus::new()).await;
}

#[tokio::test]
async fn unsubscribe_keeps_what_was_sent() {
    conformance::unsubscribe_keeps_what_was_sent(MemoryBus::new()).await;
}
