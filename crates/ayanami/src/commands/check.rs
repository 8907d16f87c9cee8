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
                let flows = composition.flows.len();
                let services = composition.services.len();
                let routes = composition.gateway.as_ref().map_or(0, |g| g.routes.len());
                println!(
                    "ok: `{}` has {services} services, {flows} flows and {routes} routes",
                    composition.name
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
