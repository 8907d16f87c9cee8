//! Ayanami's flow engine: runs flow instances as single-assignment
//! dataflow graphs driven by events on a [`Bus`].
//!
//! A flow's wirings are compiled once into a [`Plan`]: which subjects to
//! subscribe, what each delivery sets, and what each variable publishes
//! once set. One task per flow then owns every instance of it, keyed by
//! ID, so no instance state is shared or locked. An instance starts when
//! its inputs are set, ends when its outputs are, and fails on an unwired
//! function error or at its deadline; in every case its state is freed.
//!
//! The semantics are the ones in `DESIGN.md` ("Flows").
//!
//! [`Bus`]: ayanami_bus::Bus

mod engine;
mod plan;

pub use engine::{FlowHandle, MAX_INSTANCES, serve};
pub use plan::Plan;
