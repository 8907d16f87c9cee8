//! Simulated hosts: Linux network namespaces joined by one bridge.
//!
//! [`Hosts::create`] makes a network namespace per host plus one more, the
//! switch, that holds a bridge. Each host has an `eth0` (one end of a veth
//! pair whose other end is a port of the bridge), its own address in
//! `10.77.0.0/24` and its loopback. Nothing is added to the namespace the
//! tests run in, so traffic between hosts stays inside these namespaces and
//! parallel runs can reuse the same addresses.
//!
//! Programs run on a host through `ip netns exec` ([`Host::command`]); a
//! thread of the test itself can move onto a host with [`Host::enter`]. On
//! drop, every process still inside the namespaces is killed and the
//! namespaces are deleted, which removes their veths and the bridge, also
//! when the test panics. Names carry the test's process ID, so leftovers of
//! a run that was killed outright are swept by the next one.
//!
//! [`Hosts::resolve`] gives the hosts names, as a cluster's DNS would.
//!
//! Making namespaces needs root (CAP_SYS_ADMIN): see [`needs_root`].

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where network namespaces made by `ip netns add` are mounted.
const NETNS_DIR: &str = "/var/run/netns";
/// Where `ip netns exec` finds files to mount over `/etc` for a namespace.
const ETC_NETNS: &str = "/etc/netns";
/// The start of every namespace name this module makes.
const PREFIX: &str = "ayanami-";

/// Says on stderr that the calling test needs root, and whether it runs.
///
/// Returns `true` when the process runs as root. Otherwise returns `false`
/// (the caller skips) unless `CI=true`, where it panics: CI runs as root,
/// so a skip there would hide a broken setup.
///
/// # Panics
///
/// When not root and `CI=true`.
#[must_use]
pub fn needs_root(test: &str) -> bool {
    say(&format!(
        "{test}: needs root, to make network namespaces with `ip netns`"
    ));
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root and CI=true: run the tests as root"
    );
    say(&format!("{test}: skipped, not root"));
    false
}

/// Writes `line` to the process's stderr itself, past the test harness's
/// capture of `eprintln!`, so that it shows in every run's output.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A set of simulated hosts on one bridge, removed on drop.
#[derive(Debug)]
pub struct Hosts {
    switch: String,
    hosts: Vec<Host>,
}

/// One simulated host: a network namespace with its own address.
#[derive(Debug, Clone)]
pub struct Host {
    label: String,
    netns: String,
    addr: Ipv4Addr,
}

impl Hosts {
    /// Makes one host per label, addressed `10.77.0.1`, `10.77.0.2`, ... in
    /// the order given, all reachable from each other.
    ///
    /// # Panics
    ///
    /// When `ip` fails, such as when not running as root (call
    /// [`needs_root`] first), or with more than 250 labels.
    #[must_use]
    pub fn create(labels: &[&str]) -> Self {
        static RUN: AtomicUsize = AtomicUsize::new(0);
        assert!(labels.len() <= 250, "at most 250 hosts fit in 10.77.0.0/24");
        sweep_leftovers();
        let run = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        );
        let mut made = Self {
            switch: format!("{run}-switch"),
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &made.switch]);
        ip(&["-n", &made.switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &made.switch, "link", "set", "br0", "up"]);
        for (index, label) in labels.iter().enumerate() {
            let host = Host {
                label: (*label).to_owned(),
                netns: format!("{run}-{label}"),
                addr: Ipv4Addr::new(10, 77, 0, u8::try_from(index + 1).unwrap_or(u8::MAX)),
            };
            ip(&["netns", "add", &host.netns]);
            made.hosts.push(host.clone());
            made.plug(&host, index);
        }
        made
    }

    /// Joins `host` to the bridge through a veth pair and gives it its address.
    fn plug(&self, host: &Host, index: usize) {
        let port = format!("port{index}");
        let switch = self.switch.as_str();
        let netns = host.netns.as_str();
        let cidr = format!("{}/24", host.addr);
        ip(&[
            "-n", switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
            netns,
        ]);
        ip(&["-n", switch, "link", "set", &port, "master", "br0", "up"]);
        ip(&["-n", netns, "addr", "add", &cidr, "dev", "eth0"]);
        ip(&["-n", netns, "link", "set", "eth0", "up"]);
        ip(&["-n", netns, "link", "set", "lo", "up"]);
    }

    /// The host with `label`.
    ///
    /// # Panics
    ///
    /// When no host has that label.
    #[must_use]
    pub fn host(&self, label: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.label == label)
            .unwrap_or_else(|| panic!("no host `{label}`"))
    }

    /// Lets programs on every host resolve `names` to the hosts' addresses,
    /// as a cluster's DNS would: writes `/etc/netns/NETNS/hosts`, which
    /// `ip netns exec` mounts over `/etc/hosts` (removed on drop).
    ///
    /// # Panics
    ///
    /// When `/etc/netns` cannot be written.
    pub fn resolve(&self, names: &[(&str, &Host)]) {
        let mut table = String::from("127.0.0.1 localhost\n");
        for (name, host) in names {
            table.push_str(&format!("{} {name}\n", host.addr));
        }
        for host in &self.hosts {
            let dir = Path::new(ETC_NETNS).join(&host.netns);
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join("hosts"), &table))
                .unwrap_or_else(|error| panic!("cannot write {}: {error}", dir.display()));
        }
    }

    /// Every host, in the order they were made.
    #[must_use]
    pub fn all(&self) -> &[Host] {
        &self.hosts
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for host in &self.hosts {
            remove(&host.netns);
        }
        remove(&self.switch);
    }
}

impl Host {
    /// The host's name in the test's output, such as `a`.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The host's address on the bridge.
    #[must_use]
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The network namespace's name, for `ip netns exec`.
    #[must_use]
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Takes the host off the network, as a pulled cable or a machine that
    /// froze would: its `eth0` goes down, and packets to and from it are
    /// dropped without a word to either side.
    ///
    /// # Panics
    ///
    /// When `ip` fails.
    pub fn unplug(&self) {
        ip(&["-n", &self.netns, "link", "set", "eth0", "down"]);
    }

    /// Puts the host back on the network after [`Host::unplug`].
    ///
    /// # Panics
    ///
    /// When `ip` fails.
    pub fn plug_back(&self) {
        ip(&["-n", &self.netns, "link", "set", "eth0", "up"]);
    }

    /// A command that runs `program` on this host.
    #[must_use]
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns]).arg(program);
        command
    }

    /// Moves the calling thread onto this host: sockets it opens from now on
    /// belong to the host's network. Other threads are not affected.
    ///
    /// # Panics
    ///
    /// When the namespace is gone or the process lacks the right to enter it.
    pub fn enter(&self) {
        let path = format!("{NETNS_DIR}/{}", self.netns);
        let file = File::open(&path).unwrap_or_else(|error| panic!("cannot open {path}: {error}"));
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|error| panic!("cannot enter {path}: {error}"));
    }

    /// Runs `work` on a thread that entered this host, and returns its result.
    ///
    /// # Panics
    ///
    /// As [`Host::enter`], or when `work` panics.
    pub fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter();
                    work()
                })
                .join()
                .expect("the work on the host does not panic")
        })
    }
}

/// Runs `ip ARGS`, panicking with its stderr when it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run `ip` ({error}); install it with `apt-get install iproute2`")
        });
    assert!(
        output.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// Kills every process inside `netns`, then deletes it (and with it its
/// interfaces). Errors are ignored: this runs in `Drop`.
fn remove(netns: &str) {
    let pids = Command::new("ip")
        .args(["netns", "pids", netns])
        .stderr(Stdio::null())
        .output();
    if let Ok(pids) = pids {
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", netns])
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(Path::new(ETC_NETNS).join(netns));
}

/// Removes namespaces (and their files under `/etc/netns`) that a killed
/// run of these tests left behind: those whose name carries the ID of a
/// process that no longer exists.
fn sweep_leftovers() {
    let dirs = [NETNS_DIR, ETC_NETNS].map(std::fs::read_dir);
    for entry in dirs.into_iter().flatten().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove(&name);
        }
    }
}
