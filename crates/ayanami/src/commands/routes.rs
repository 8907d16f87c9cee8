//! `ayanami routes [DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Prints each route and method with the events a flow wires to it.
#[derive(Debug, clap::Args)]
pub(crate) struct RoutesCommand {
    /// The project folder, or the composition file itself
    #[arg(default_value = ".")]
    dir: PathBuf,
}

impl RoutesCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let composition = ayanami_composition::load(&self.dir)
            .context("the composition has mistakes; `ayanami check` lists them")?;
        let Some(gateway) = &composition.gateway else {
            println!("`{}` has no `gateway`", composition.name);
            return Ok(ExitCode::SUCCESS);
        };
        let mut rows = vec![["METHOD", "PATH", "REQUEST", "RESPONSE"].map(str::to_owned)];
        for route in &gateway.routes {
            for method in &route.methods {
                rows.push([
                    method.clone(),
                    route.path.clone(),
                    route.request_event(method).to_string(),
                    route.response_event(method).to_string(),
                ]);
            }
        }
        let mut widths = [0; 4];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.len());
            }
        }
        for [method, path, request, response] in &rows {
            let [m, p, r, _] = widths;
            println!("{method:m$}  {path:p$}  {request:r$}  {response}");
        }
        Ok(ExitCode::SUCCESS)
    }
}
