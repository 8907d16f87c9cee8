//! `ayanami up [DIR]`: the whole composition as separate processes on one
//! machine, talking over a `nats-server`, like a small docker-compose.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use ayanami_bus_nats::NatsBus;

use crate::runtime::{CONNECT_WAIT, Component, Limits, shutdown_signal};

/// How long past its grace period a component may take to exit before it
/// is killed.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// How long a component may take to say it is ready.
const READY_WAIT: Duration = Duration::from_secs(30);

/// Runs every component as its own `ayanami serve` process, plus a
/// `nats-server` unless one is given.
#[derive(Debug, clap::Args)]
pub(crate) struct UpCommand {
    /// The project folder, or the composition file itself
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// Use this NATS server (comma-separated URLs) instead of starting one
    #[arg(long, env = "AYANAMI_NATS_URL", value_name = "URL")]
    nats: Option<String>,

    /// The gateway's port [default: the composition's, else 8080]
    #[arg(long, env = "AYANAMI_PORT")]
    port: Option<u16>,

    /// The address the gateway listens on
    #[arg(long, env = "AYANAMI_HOST", default_value = "127.0.0.1")]
    host: IpAddr,

    /// Give each component an admin address (/healthz, /readyz, /metrics):
    /// this port for the first, the next for the second, and so on; port 0
    /// lets each pick a free one. Each prints its address at start
    #[arg(long, env = "AYANAMI_ADMIN", value_name = "ADDR")]
    admin: Option<SocketAddr>,

    /// Log every event passing over NATS, as `ayanami watch` prints it
    #[arg(long)]
    trace: bool,

    #[command(flatten)]
    limits: Limits,
}

/// A child process and the name its lines are prefixed with.
struct Process {
    label: String,
    child: Child,
}

impl UpCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let composition = ayanami_composition::load(&self.dir)?;
        let components = Component::all(&composition);
        let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        tokio.block_on(self.up(&components))
    }

    async fn up(&self, components: &[Component]) -> anyhow::Result<ExitCode> {
        let width = components
            .iter()
            .map(|c| c.label().len())
            .max()
            .unwrap_or(4)
            .max(4);
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<String>();
        let mut processes = Vec::new();

        let url = match &self.nats {
            Some(url) => url.clone(),
            None => {
                let (url, process) = start_nats(width).await?;
                processes.push(process);
                url
            }
        };
        let tracer = if self.trace {
            Some(NatsBus::connect(&url, "ayanami up --trace", CONNECT_WAIT).await?)
        } else {
            None
        };
        let _trace = match &tracer {
            Some(bus) => crate::commands::watch::trace(bus, true).await?,
            None => None,
        };
        let (triggers, others): (Vec<_>, Vec<_>) = components.iter().partition(|c| c.is_trigger());
        for (index, component) in others.iter().enumerate() {
            let admin = self.admin(index);
            processes.push(self.spawn(component, &url, admin, width, &ready_tx)?);
        }
        // The triggers start last, once every flow and service listens.
        let mut waiting = others.len();
        let started = tokio::time::Instant::now();
        while waiting > 0 {
            let Ok(Some(_)) = tokio::time::timeout_at(started + READY_WAIT, ready_rx.recv()).await
            else {
                stop(processes, self.stop_wait()).await;
                bail!(
                    "not every component was ready within {READY_WAIT:?}; see their output above"
                );
            };
            waiting -= 1;
        }
        for (index, component) in triggers.iter().enumerate() {
            let admin = self.admin(others.len() + index);
            processes.push(self.spawn(component, &url, admin, width, &ready_tx)?);
            let ready = tokio::time::timeout(READY_WAIT, ready_rx.recv()).await;
            if !matches!(ready, Ok(Some(_))) {
                stop(processes, self.stop_wait()).await;
                let label = component.label();
                bail!("`{label}` was not ready within {READY_WAIT:?}; see its output above");
            }
        }
        println!(
            "{:width$} | all {} components ready; Ctrl-C stops them",
            "up",
            components.len()
        );

        let code = tokio::select! {
            () = shutdown_signal() => ExitCode::SUCCESS,
            label = first_exit(&mut processes) => {
                println!("{:width$} | `{label}` stopped; stopping the rest", "up");
                ExitCode::FAILURE
            }
        };
        stop(processes, self.stop_wait()).await;
        Ok(code)
    }

    /// How long the components may take to stop after SIGTERM.
    fn stop_wait(&self) -> Duration {
        self.limits.grace() + EXIT_WAIT
    }

    /// The admin address of the component started `index`th, if any.
    fn admin(&self, index: usize) -> Option<SocketAddr> {
        let admin = self.admin?;
        if admin.port() == 0 {
            return Some(admin);
        }
        let port = u16::try_from(index)
            .ok()
            .and_then(|i| admin.port().checked_add(i))?;
        Some(SocketAddr::new(admin.ip(), port))
    }

    fn spawn(
        &self,
        component: &Component,
        nats: &str,
        admin: Option<SocketAddr>,
        width: usize,
        ready: &mpsc::UnboundedSender<String>,
    ) -> anyhow::Result<Process> {
        let exe = std::env::current_exe().context("cannot find the ayanami executable")?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .args(component.args())
            .arg("--dir")
            .arg(&self.dir)
            .args(["--nats", nats])
            .args(self.limits.args());
        if let Some(admin) = admin {
            command.args(["--admin", &admin.to_string()]);
        }
        if *component == Component::Gateway {
            command.args(["--host", &self.host.to_string()]);
            if let Some(port) = self.port {
                command.args(["--port", &port.to_string()]);
            }
        }
        spawn(command, component.label(), width, Some(ready.clone()))
    }
}

/// Starts `nats-server` on a free loopback port.
async fn start_nats(width: usize) -> anyhow::Result<(String, Process)> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .context("cannot find a free port for nats-server")?
        .port();
    let mut command = Command::new("nats-server");
    command.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
    let process = match spawn(command, "nats".to_owned(), width, None) {
        Ok(process) => process,
        Err(error) if is_not_found(&error) => bail!(
            "`nats-server` is not installed; install it (`apt-get install nats-server` on Debian and Ubuntu) \
             or pass `--nats URL` of a server that runs"
        ),
        Err(error) => return Err(error),
    };
    let started = tokio::time::Instant::now();
    while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(10) {
            stop(vec![process], EXIT_WAIT).await;
            bail!("nats-server did not listen on port {port} within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((format!("nats://127.0.0.1:{port}"), process))
}

fn is_not_found(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
}

/// Starts `command` in its own process group, prefixing each line of its
/// output with `label`; a `component ready:` line on stdout goes to `ready`.
fn spawn(
    mut command: Command,
    label: String,
    width: usize,
    ready: Option<mpsc::UnboundedSender<String>>,
) -> anyhow::Result<Process> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // Should `up` itself be killed outright, its children stop too rather
    // than run on unsupervised. `up` spawns from the thread that runs its
    // whole life, so the signal comes only when the process is gone.
    // SAFETY: between fork and exec the closure only makes one system
    // call, which allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().map_err(anyhow::Error::from)?;
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(prefix(stdout, label.clone(), width, ready.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(prefix(stderr, label.clone(), width, None));
    }
    Ok(Process { label, child })
}

async fn prefix(
    stream: impl AsyncRead + Unpin,
    label: String,
    width: usize,
    ready: Option<mpsc::UnboundedSender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{label:width$} | {line}");
        if let (Some(ready), true) = (&ready, line.starts_with("component ready:")) {
            let _ = ready.send(label.clone());
        }
    }
}

/// Waits until one of the processes exits and names it.
async fn first_exit(processes: &mut [Process]) -> String {
    loop {
        for process in processes.iter_mut() {
            if let Ok(Some(_)) = process.child.try_wait() {
                return process.label.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the processes in reverse start order, one at a time, so that the
/// gateway finishes its requests while the flows and services behind it
/// still run: SIGTERM, then SIGKILL to whatever is left after `wait`.
/// Every one is reaped.
async fn stop(mut processes: Vec<Process>, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    while let Some(mut process) = processes.pop() {
        if let Some(pid) = process.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if tokio::time::timeout_at(deadline, process.child.wait())
            .await
            .is_err()
        {
            let _ = process.child.kill().await;
        }
    }
}
