//! `ayanami run [DIR]`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ayanami_bus::MemoryBus;

use crate::runtime;

/// Runs the gateway, every flow and every service in this process.
#[derive(Debug, clap::Args)]
pub(crate) struct RunCommand {
    /// The project folder, or the composition file itself
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// The gateway's port; 0 picks a free one [default: the composition's, else 8080]
    #[arg(long, env = "AYANAMI_PORT")]
    port: Option<u16>,

    /// The address the gateway listens on
    #[arg(long, env = "AYANAMI_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
}

impl RunCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let composition = ayanami_composition::load(&self.dir)?;
        let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        tokio.block_on(runtime::run_all(
            MemoryBus::new(),
            composition,
            self.host,
            self.port,
        ))?;
        Ok(ExitCode::SUCCESS)
    }
}
