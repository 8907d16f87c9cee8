//! Ayanami's HTTP trigger: each request becomes an event, and the events a
//! flow answers with become the response.
//!
//! For a route `/hello/{name}` answered for `GET`, the gateway publishes
//! the request as one JSON value on `<ID>.trig.request.get.hello._name.out`
//! and waits for `code`, `content` and `header` on
//! `<ID>.trig.response.get.hello._name.in.<var>` (route tokens are defined
//! in `ayanami-event`). It waits only for the variables some flow wires
//! for that route, answers 500 when the flow fails, and 504 at the
//! deadline; a waiting request is always freed, also when the client goes
//! away. Bytes that are not UTF-8 travel as base64 both ways, and CORS
//! preflights are answered here without reaching a flow. The request
//! variable and the response rules are documented in
//! `docs/composition.md`.
//!
//! This crate is the only one that knows axum. It takes a [`Bus`] and a
//! checked composition and leaves listening sockets to its caller.
//!
//! [`Bus`]: ayanami_bus::Bus

mod auth;
mod bytes;
mod cors;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod pending;
mod request;
mod response;
mod router;

pub use auth::SecretError;
pub use router::{GatewayError, GatewayHandle, router};
