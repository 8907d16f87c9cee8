//! `ayanami serve KIND [NAME]`: one component, as its own process, on NATS.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ayanami_bus_nats::NatsBus;

use crate::runtime::{self, Addresses, CONNECT_WAIT, Component};

/// The kinds of component `serve` runs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    /// The HTTP gateway
    Gateway,
    /// One flow
    Flow,
    /// One service
    Service,
    /// Every schedule trigger (run one replica: each fires every schedule)
    Schedules,
    /// Every NATS subject trigger
    Subjects,
}

/// Runs one component of the project against a NATS server.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeCommand {
    /// What to run
    kind: Kind,

    /// The flow's or service's name
    name: Option<String>,

    /// The project folder, or the composition file itself
    #[arg(long, default_value = ".")]
    dir: PathBuf,

    /// The NATS server(s), comma-separated
    #[arg(
        long,
        env = "AYANAMI_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        value_name = "URL"
    )]
    nats: String,

    /// The gateway's port [default: the composition's, else 8080]
    #[arg(long, env = "AYANAMI_PORT")]
    port: Option<u16>,

    /// The address the gateway listens on
    #[arg(long, env = "AYANAMI_HOST", default_value = "0.0.0.0")]
    host: IpAddr,

    /// Serve /healthz, /readyz and /metrics on this address
    #[arg(long, env = "AYANAMI_ADMIN", value_name = "ADDR")]
    admin: Option<SocketAddr>,

    #[command(flatten)]
    limits: runtime::Limits,
}

impl ServeCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let component = match (self.kind, self.name) {
            (Kind::Gateway, None) => Component::Gateway,
            (Kind::Schedules, None) => Component::Schedules,
            (Kind::Subjects, None) => Component::Subjects,
            (Kind::Gateway | Kind::Schedules | Kind::Subjects, Some(name)) => {
                let kind = format!("{:?}", self.kind).to_ascii_lowercase();
                bail!("`serve {kind}` takes no name, but got `{name}`")
            }
            (Kind::Flow, Some(name)) => Component::Flow(name),
            (Kind::Service, Some(name)) => Component::Service(name),
            (Kind::Flow | Kind::Service, None) => {
                bail!("name the flow or service to serve, as in `ayanami serve flow banner`")
            }
        };
        let mut composition = ayanami_composition::load(&self.dir)?;
        self.limits.apply(&mut composition);
        component.check(&composition)?;
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
            let name = format!("ayanami {}", component.label());
            let bus = NatsBus::connect(&self.nats, &name, CONNECT_WAIT)
                .await
                .with_context(|| format!("cannot connect to NATS at {}", self.nats))?;
            runtime::serve(bus, composition, &[component], addresses).await
        })?;
        Ok(ExitCode::SUCCESS)
    }
}
