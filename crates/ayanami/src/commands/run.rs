//! `ayanami run [DIR]`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ayanami_bus::MemoryBus;
use ayanami_bus_nats::NatsBus;

use super::watch;
use crate::runtime::{self, Addresses, CONNECT_WAIT, Component};

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

    /// Carry every event over this NATS server (comma-separated URLs)
    /// instead of the in-memory bus
    #[arg(long, env = "AYANAMI_NATS_URL", value_name = "URL")]
    nats: Option<String>,

    /// Log every event passing on the bus, as `ayanami watch` prints them
    #[arg(long)]
    trace: bool,

    /// Serve /healthz, /readyz and /metrics on this address
    #[arg(long, env = "AYANAMI_ADMIN", value_name = "ADDR")]
    admin: Option<SocketAddr>,

    #[command(flatten)]
    limits: runtime::Limits,
}

impl RunCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let mut composition = ayanami_composition::load(&self.dir)?;
        self.limits.apply(&mut composition);
        let components = Component::all(&composition);
        let port = self.port.unwrap_or_else(|| {
            let default = ayanami_composition::defaults::PORT;
            composition.gateway.as_ref().map_or(default, |g| g.port)
        });
        let addresses = Addresses {
            gateway: SocketAddr::new(self.host, port),
            admin: self.admin,
            grace: self.limits.grace(),
        };
        let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        tokio.block_on(async {
            match &self.nats {
                Some(url) => {
                    let bus = NatsBus::connect(url, "ayanami run", CONNECT_WAIT)
                        .await
                        .with_context(|| format!("cannot connect to NATS at {url}"))?;
                    let _trace = watch::trace(&bus, self.trace).await?;
                    runtime::serve(bus, composition, &components, addresses).await
                }
                None => {
                    if let Some(trigger) = composition.triggers.subjects.first() {
                        tracing::warn!(trigger = %trigger.name, subject = %trigger.subject, "subject triggers take messages from NATS; on the in-memory bus nothing reaches them. Run with --nats URL");
                    }
                    let bus = MemoryBus::new();
                    let _trace = watch::trace(&bus, self.trace).await?;
                    runtime::serve(bus, composition, &components, addresses).await
                }
            }
        })?;
        Ok(ExitCode::SUCCESS)
    }
}
