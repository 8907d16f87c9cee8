//! A `nats-server` child process for tests.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server` on `127.0.0.1`, killed and reaped on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    config: Option<std::path::PathBuf>,
}

impl NatsServer {
    /// Starts a server on a free port and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When `nats-server` is not installed or does not start: a test that
    /// needs NATS fails rather than skips (`.ci/run` installs it).
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`NatsServer::start`], with extra command-line arguments.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    #[must_use]
    pub fn start_with(args: &[&str]) -> Self {
        let mut server = Self {
            child: None,
            port: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            config: None,
        };
        server.spawn();
        server
    }

    /// Like [`NatsServer::start`], with a configuration file holding
    /// `config`, such as `max_payload: 65536`.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`], or when the file cannot be written.
    #[must_use]
    pub fn start_with_config(config: &str) -> Self {
        let port = free_port();
        let path =
            std::env::temp_dir().join(format!("ayanami-nats-{}-{port}.conf", std::process::id()));
        std::fs::write(&path, config).expect("the temp dir is writable");
        let mut server = Self {
            child: None,
            port,
            args: vec!["-c".to_owned(), path.display().to_string()],
            config: Some(path),
        };
        server.spawn();
        server
    }

    /// The URL clients connect to.
    #[must_use]
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's process ID, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server with SIGSTOP, as a hung host would: its
    /// connections stay open, and nothing on them is answered.
    ///
    /// # Panics
    ///
    /// When the server is not running or cannot be signalled.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on with SIGCONT.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the server runs").to_string();
        let status = Command::new("kill").args([signal, &pid]).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot send {signal} to nats-server {pid}"
        );
    }

    /// Kills the server, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start nats-server ({error}); install it with `apt-get install nats-server`")
            });
        self.child = Some(child);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server did not listen on {addr} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(config) = &self.config {
            let _ = std::fs::remove_file(config);
        }
    }
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface can bind a free port")
}
