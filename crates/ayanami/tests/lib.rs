//! The integration tests of the `ayanami` command, in one test binary.

mod auth;
mod build;
mod check;
mod dev;
mod e2e;
mod gateway;
mod graph;
mod hosts;
mod http_kind;
mod load;
mod logs;
mod metrics;
mod nats;
mod new_function;
mod support;
mod triggers;
mod up;
mod watch;
mod worker_docs;
