//! Test support shared by Ayanami's crates.
//!
//! [`NatsServer`] runs a real `nats-server` (Debian's package) on a free
//! loopback port and stops it, by process ID, when dropped. [`conformance`]
//! is the suite of behaviours every [`Bus`] implementation must show; the
//! in-memory bus and the NATS bus both run it. [`NatsCluster`] runs several
//! `nats-server` nodes routed to each other, on loopback or on the simulated
//! hosts of [`hosts`]: network namespaces joined by a bridge, for tests of
//! a composition spread over machines.
//!
//! [`Bus`]: ayanami_bus::Bus

pub mod conformance;
pub mod hosts;
mod nats_cluster;
mod nats_server;

pub use nats_cluster::NatsCluster;
pub use nats_server::NatsServer;
