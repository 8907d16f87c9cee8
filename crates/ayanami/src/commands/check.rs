//! `ayanami check [DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

use ayanami_composition::CompositionError;

/// Checks `ayanami.yaml`; prints `file:line:column: what is wrong` per mistake.
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
