//! Ayanami's functions: how each kind runs, and the service runtime that
//! calls them when their inputs arrive on the bus.
//!
//! [`call`] runs one function once: a `cmd` gets its inputs as whole argv
//! words (never through a shell) and answers with stdout; an `exec` gets a
//! JSON object on stdin and answers with one on stdout. Every call runs in
//! its own process group with an environment of only `PATH`, `HOME` and what
//! the composition gives it, and the whole group is killed at the deadline.
//!
//! [`serve`] subscribes a service's functions on a [`Bus`] and publishes
//! their outputs or errors by the event convention. It holds no state
//! between calls beyond inputs still being gathered.
//!
//! [`Bus`]: ayanami_bus::Bus

mod error;
mod process;
mod service;

pub use error::{CallError, CallErrorKind};
pub use process::call;
pub use service::{ServiceHandle, serve};
