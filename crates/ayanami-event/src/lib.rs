//! The wire contract every Ayanami component and every outside program
//! shares: how events are named, what an ID looks like, and how an HTTP
//! route becomes subject tokens.
//!
//! The convention is the one in `DESIGN.md` ("The event-name convention"):
//!
//! ```text
//! <ID>.<trig|srvc>.<serviceName>.<method>.<in|out>.<varName>
//! <ID>.<trig|srvc>.<serviceName>.<method>.err
//! <ID>.flow.<flowName>.<in|out>.<varName>
//! <ID>.flow.<flowName>.err
//! ```
//!
//! This crate is pure: no I/O, no async runtime. The composition checker,
//! the flow engine, the services and the gateway all build and read names
//! through it, so the convention lives in one place.

mod id;
mod name;
mod route;

pub use id::{Id, IdError};
pub use name::{Direction, EventError, EventKind, EventName, is_name, is_var_path};
pub use route::{RouteError, RouteSegment, parse_route};
