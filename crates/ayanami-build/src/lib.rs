//! Deployables: what `ayanami build` writes for a composition.
//!
//! From a checked [`Composition`] this crate renders, with templates kept as
//! text files under `templates/`, one folder per component (the composition,
//! the function sources it calls, a Dockerfile whose image runs
//! `ayanami serve KIND NAME`), Kubernetes manifests with a kustomization, a
//! compose file and a Makefile that builds and pushes every image. It writes
//! them into an output folder it owns, and checks such a folder offline.
//!
//! It reads the project's files but runs nothing: no container tool, no
//! cluster, no network. The `ayanami` binary wires it to the command line.

mod component;
mod error;
mod output;
mod render;
mod validate;

pub use error::BuildError;
pub use output::{Content, Deployable, MARKER};
pub use render::{ADMIN_PORT, Options, render};
