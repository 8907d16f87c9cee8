//! `ayanami check [DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

use ayanami_composition::{CompositionError, Span};

/// Checks `ayanami.yaml`; prints `file:line:column: what is wrong` per
/// mistake, and warnings about wirings that can never fire.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckCommand {
    /// The project folder, or the composition file itself
    #[arg(default_value = ".")]
    dir: PathBuf,
}

impl CheckCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match ayanami_composition::load(&self.dir) {
            Ok(composition) => {
                let file = if self.dir.is_dir() {
                    self.dir.join(ayanami_composition::FILE_NAME)
                } else {
                    self.dir.clone()
                };
                for warning in ayanami_composition::warnings(&composition) {
                    let Span { line, column } = warning.span;
                    eprintln!(
                        "{}:{line}:{column}: warning: {}",
                        file.display(),
                        warning.message
                    );
                }
                let routes = composition.gateway.as_ref().map_or(0, |g| g.routes.len());
                let triggers = &composition.triggers;
                let counts = [
                    count(composition.services.len(), "service"),
                    count(composition.flows.len(), "flow"),
                    count(routes, "route"),
                    count(triggers.schedules.len(), "schedule"),
                    count(triggers.subjects.len(), "subject trigger"),
                ];
                println!(
                    "ok: `{}` has {}, {}, {}, {} and {}",
                    composition.name, counts[0], counts[1], counts[2], counts[3], counts[4]
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error @ CompositionError::Invalid { .. }) => {
                eprintln!("{error}");
                Ok(ExitCode::FAILURE)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// `1 flow`, `3 flows`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
