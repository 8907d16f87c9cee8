//! Ayanami's functions: how each kind runs, and the service runtime that
//! calls them when their inputs arrive on the bus.
//!
//! [`Runner`] calls a service's functions: a `cmd` gets its inputs as whole
//! argv words (never through a shell) and answers with stdout; an `exec`
//! gets a JSON object on stdin and answers with one on stdout; a `worker`
//! is one long-lived process taking many calls over a line protocol; an
//! `http` POSTs its inputs to a web service as JSON and takes its outputs
//! from the JSON answer.
//! Every process runs in its own process group with an environment of only
//! `PATH`, `HOME` and what the composition gives it; a `cmd` or `exec` is
//! killed with its whole group at the deadline.
//!
//! [`serve`] subscribes a service's functions on a [`Bus`] and publishes
//! their outputs or errors by the event convention. It holds no state
//! between calls beyond inputs still being gathered.
//!
//! [`Bus`]: ayanami_bus::Bus

mod error;
pub mod guard;
mod http;
mod process;
mod runner;
mod service;
mod worker;

pub use error::{CallError, CallErrorKind};
pub use process::call;
pub use runner::{Admission, MAX_QUEUED_CALLS, Runner};
pub use service::{ServiceHandle, serve};
