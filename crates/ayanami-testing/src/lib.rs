//! Test support shared by Ayanami's crates.
//!
//! [`NatsServer`] runs a real `nats-server` (Debian's package) on a free
//! loopback port and stops it, by process ID, when dropped. [`conformance`]
//! is the suite of behaviours every [`Bus`] implementation must show; the
//! in-memory bus and the NATS bus both run it.
//!
//! [`Bus`]: ayanami_bus::Bus

pub mod conformance;
mod nats_server;

pub use nats_server::NatsServer;
