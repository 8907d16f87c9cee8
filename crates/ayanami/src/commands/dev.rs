//! `ayanami dev [DIR]`: `run`, restarted when the project changes.

use std::net::{IpAddr, SocketAddr};
use std::path::{Component as PathPart, Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::runtime::shutdown_signal;

/// How long a burst of file changes is gathered into one reload.
const SETTLE: Duration = Duration::from_millis(200);

/// How long a stopped `run` may take to finish its requests before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(12);

/// Runs the project like `run`, and runs it anew when a file of it changes.
#[derive(Debug, clap::Args)]
pub(crate) struct DevCommand {
    /// The project folder
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// The gateway's port, kept across reloads; 0 picks a free one [default: the composition's, else 8080]
    #[arg(long, env = "AYANAMI_PORT")]
    port: Option<u16>,

    /// The address the gateway listens on
    #[arg(long, env = "AYANAMI_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
}

impl DevCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let composition = ayanami_composition::load(&self.dir)?;
        let port = self.port.unwrap_or_else(|| {
            let default = ayanami_composition::defaults::PORT;
            composition.gateway.as_ref().map_or(default, |g| g.port)
        });
        let port = fixed_port(SocketAddr::new(self.host, port))?;
        let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        tokio.block_on(self.serve(port))?;
        Ok(ExitCode::SUCCESS)
    }

    async fn serve(&self, port: u16) -> anyhow::Result<()> {
        let (tx, mut changes) = mpsc::channel(64);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| counts(&e)) {
                    let _ = tx.blocking_send(());
                }
            })
            .context("cannot watch files")?;
        watcher
            .watch(&self.dir, RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {}", self.dir.display()))?;

        let mut child = self.start(port)?;
        let stop = shutdown_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                Some(()) = changes.recv() => {
                    tokio::time::sleep(SETTLE).await;
                    while changes.try_recv().is_ok() {}
                    if let Err(error) = ayanami_composition::load(&self.dir) {
                        eprintln!("error: {error}");
                        eprintln!("ayanami dev: the running version stays until the composition is fixed");
                        continue;
                    }
                    eprintln!("ayanami dev: the project changed; reloading");
                    end(child).await;
                    child = self.start(port)?;
                }
            }
        }
        end(child).await;
        Ok(())
    }

    /// `ayanami run` of the project on `port`, ended with this process.
    fn start(&self, port: u16) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("cannot find the ayanami executable")?;
        let mut command = Command::new(exe);
        command
            .arg("run")
            .arg(&self.dir)
            .args([
                "--port",
                &port.to_string(),
                "--host",
                &self.host.to_string(),
            ])
            .kill_on_drop(true);
        // SAFETY: between fork and exec the closure only makes one system
        // call, which allocates nothing and takes no lock.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        command.spawn().context("cannot start `ayanami run`")
    }
}

/// Whether a file event is a change worth a reload: not a read, and not
/// inside a hidden folder or a Python cache a function may write.
fn counts(event: &notify::Event) -> bool {
    let change = matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    );
    change && event.paths.iter().any(|p| !ignored(p))
}

fn ignored(path: &Path) -> bool {
    path.components().any(|part| match part {
        PathPart::Normal(name) => {
            let name = name.to_string_lossy();
            name.starts_with('.') || name == "__pycache__"
        }
        _ => false,
    })
}

/// The port to keep across reloads: `addr`'s, or a free one for port 0.
fn fixed_port(addr: SocketAddr) -> anyhow::Result<u16> {
    if addr.port() != 0 {
        return Ok(addr.port());
    }
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot find a free port on {}", addr.ip()))?;
    Ok(listener.local_addr()?.port())
}

/// Stops `child` as Ctrl-C would, killing it if it takes too long.
async fn end(mut child: Child) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(STOP_WAIT, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_folders_and_python_caches_do_not_reload() {
        assert!(ignored(Path::new("/p/.git/index")));
        assert!(ignored(Path::new("/p/html/__pycache__/pre.pyc")));
        assert!(!ignored(Path::new("/p/ayanami.yaml")));
        assert!(!ignored(Path::new("/p/html/pre.py")));
    }
}
