//! A cluster of `nats-server` nodes routed to each other, for tests.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::hosts::Host;
use crate::nats_server::free_port;

/// How long a node may take to listen, and a cluster to link up.
const START_WAIT: Duration = Duration::from_secs(15);

/// A NATS cluster: one `nats-server` per node, each with routes to all the
/// others, every node killed and reaped on drop.
///
/// On loopback ([`NatsCluster::start_on_loopback`]) the nodes take free
/// ports; on simulated hosts ([`NatsCluster::start_on`]) each node runs on
/// its host, listening on that host's address only, on the usual ports
/// (4222 for clients, 6222 for routes, 8222 for monitoring).
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<Node>,
}

#[derive(Debug)]
struct Node {
    name: String,
    ip: Ipv4Addr,
    port: u16,
    cluster_port: u16,
    monitor_port: u16,
    routes: Vec<String>,
    host: Option<Host>,
    child: Option<Child>,
}

impl NatsCluster {
    /// Starts `size` nodes on `127.0.0.1` and waits until they are linked.
    ///
    /// # Panics
    ///
    /// When `nats-server` is missing or the cluster does not form within 15 s.
    #[must_use]
    pub fn start_on_loopback(size: usize) -> Self {
        let nodes = (0..size)
            .map(|index| Node {
                name: format!("n{index}"),
                ip: Ipv4Addr::LOCALHOST,
                port: free_port(),
                cluster_port: free_port(),
                monitor_port: free_port(),
                routes: Vec::new(),
                host: None,
                child: None,
            })
            .collect();
        Self::start(nodes)
    }

    /// Starts one node on each host and waits until they are linked.
    ///
    /// # Panics
    ///
    /// As [`NatsCluster::start_on_loopback`].
    #[must_use]
    pub fn start_on(hosts: &[Host]) -> Self {
        let nodes = hosts
            .iter()
            .map(|host| Node {
                name: host.label().to_owned(),
                ip: host.addr(),
                port: 4222,
                cluster_port: 6222,
                monitor_port: 8222,
                routes: Vec::new(),
                host: Some(host.clone()),
                child: None,
            })
            .collect();
        Self::start(nodes)
    }

    fn start(mut nodes: Vec<Node>) -> Self {
        let routes: Vec<String> = nodes
            .iter()
            .map(|node| format!("nats://{}:{}", node.ip, node.cluster_port))
            .collect();
        for (index, node) in nodes.iter_mut().enumerate() {
            node.routes = routes.clone();
            node.routes.remove(index);
        }
        let mut cluster = Self { nodes };
        for node in &mut cluster.nodes {
            node.spawn();
        }
        cluster.wait_until_linked();
        cluster
    }

    /// The number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no node.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The client URL of node `index`.
    #[must_use]
    pub fn url(&self, index: usize) -> String {
        let node = &self.nodes[index];
        format!("nats://{}:{}", node.ip, node.port)
    }

    /// Every node's URL, comma-separated, node `first` first: what a
    /// component near that node passes as `--nats`.
    #[must_use]
    pub fn urls_from(&self, first: usize) -> String {
        let mut urls = vec![self.url(first)];
        urls.extend(
            (0..self.nodes.len())
                .filter(|i| *i != first)
                .map(|i| self.url(i)),
        );
        urls.join(",")
    }

    /// Kills node `index`, as a crash would.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Starts node `index` again and waits until the cluster is linked.
    ///
    /// # Panics
    ///
    /// As [`NatsCluster::start_on_loopback`].
    pub fn restart(&mut self, index: usize) {
        self.nodes[index].kill();
        self.nodes[index].spawn();
        self.wait_until_linked();
    }

    /// The names of the clients connected to node `index` (`ayanami service
    /// cmd`, ...), sorted; empty while the node does not answer.
    #[must_use]
    pub fn clients_of(&self, index: usize) -> Vec<String> {
        let connz = self.nodes[index].monitor("/connz?limit=1024");
        let mut names: Vec<String> = connz
            .as_ref()
            .and_then(|c| c["connections"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// Waits until every running node has a route to every other running node.
    ///
    /// # Panics
    ///
    /// When that takes longer than 15 s.
    pub fn wait_until_linked(&self) {
        let running = self.nodes.iter().filter(|n| n.child.is_some()).count();
        let started = Instant::now();
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                let routes = node.routes_up();
                if routes == Some(running - 1) {
                    break;
                }
                assert!(
                    started.elapsed() < START_WAIT,
                    "node `{}` has {routes:?} routes, not {}, after {START_WAIT:?}",
                    node.name,
                    running - 1
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Node {
    fn spawn(&mut self) {
        let mut command = match &self.host {
            Some(host) => host.command("nats-server"),
            None => Command::new("nats-server"),
        };
        command
            .args(["-n", &self.name, "--cluster_name", "ayanami"])
            .args(["-a", &self.ip.to_string(), "-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()])
            .arg("--cluster")
            .arg(format!("nats://{}:{}", self.ip, self.cluster_port))
            .args(["--routes", &self.routes.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().unwrap_or_else(|error| {
            panic!(
                "cannot start nats-server ({error}); install it with `apt-get install nats-server`"
            )
        });
        self.child = Some(child);
        let started = Instant::now();
        while self.routes_up().is_none() {
            assert!(
                started.elapsed() < START_WAIT,
                "node `{}` did not answer on {}:{} within {START_WAIT:?}",
                self.name,
                self.ip,
                self.monitor_port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The node's route count from its monitoring endpoint, or `None` while
    /// it does not answer.
    fn routes_up(&self) -> Option<usize> {
        let routez = self.monitor("/routez")?;
        routez["num_routes"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
    }

    /// The JSON at `path` of the node's monitoring endpoint, fetched from
    /// the node's host.
    fn monitor(&self, path: &str) -> Option<serde_json::Value> {
        let addr = SocketAddr::from((self.ip, self.monitor_port));
        let fetch = || get(addr, path);
        let body = match &self.host {
            Some(host) => host.run(fetch),
            None => fetch(),
        }?;
        serde_json::from_str(&body).ok()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

/// The body of `GET path` from a node's monitoring port.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let head = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    raw.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}
