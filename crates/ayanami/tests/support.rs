//! Test support: the real `ayanami` binary on a free loopback port, and a
//! small blocking HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The example project in this repository.
pub(crate) fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/megazord")
}

/// A fresh empty folder under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("ayanami-test-{label}-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the example project into `dir`, applying `edit` to its composition.
pub(crate) fn copy_example(dir: &Path, edit: impl Fn(&str) -> String) {
    for entry in ["ayanami.yaml", "html/pre.py", "greeting/hello.py"] {
        let from = example_dir().join(entry);
        let to = dir.join(entry);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let text = std::fs::read_to_string(from).unwrap();
        let text = if entry == "ayanami.yaml" {
            edit(&text)
        } else {
            text
        };
        std::fs::write(to, text).unwrap();
    }
}

/// A child process whose output is kept and watched; killed and reaped on drop.
pub(crate) struct Process {
    child: Child,
    log: Arc<Mutex<String>>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Process {
    /// Starts `command` and waits until it prints a line containing `ready`
    /// on stdout or stderr; returns the process and that line.
    pub(crate) fn start(mut command: Command, ready: &str) -> (Self, String) {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the program starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        watch(BufReader::new(stdout), tx.clone(), log.clone());
        watch(BufReader::new(stderr), tx, log.clone());
        let mut process = Self { child, log, lines };
        let line = process.wait_for(ready, Duration::from_secs(30));
        (process, line)
    }

    /// Waits for a line containing `text` that was not waited for before.
    pub(crate) fn wait_for(&mut self, text: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line with `{text}` within {limit:?}:\n{}", self.log());
                }
            }
        }
    }

    /// Everything the process printed so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and waits up to `limit` for the process to exit.
    pub(crate) fn signal_and_wait(&mut self, signal: i32, limit: Duration) -> Option<i32> {
        self.signal(signal);
        self.wait_exit(limit)
    }

    /// Sends `signal` to the process.
    pub(crate) fn signal(&self, signal: i32) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status();
        assert!(status.is_ok_and(|s| s.success()));
    }

    /// Waits up to `limit` for the process to exit, and gives its exit code.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the process did not exit within {limit:?}:\n{}", self.log());
    }
}

fn watch(
    stream: impl BufRead + Send + 'static,
    tx: std::sync::mpsc::Sender<String>,
    log: Arc<Mutex<String>>,
) {
    std::thread::spawn(move || {
        for line in stream.lines() {
            let Ok(line) = line else { break };
            {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
            let _ = tx.send(line);
        }
    });
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a log line's `addr=` field.
pub(crate) fn addr_in(line: &str) -> SocketAddr {
    let addr = line
        .split("addr=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next());
    addr.and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
}

/// The `ayanami` binary with `args`, logging at info.
pub(crate) fn ayanami(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ayanami"));
    command.args(args).env("AYANAMI_LOG", "info");
    command
}

/// `ayanami run` as a child process, with the gateway's address.
pub(crate) struct Ayanami {
    pub(crate) process: Process,
    pub(crate) addr: SocketAddr,
}

impl Ayanami {
    /// Starts `ayanami run DIR --port 0` and waits until the gateway listens.
    pub(crate) fn run(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::run_with(dir, &[], env)
    }

    /// Like [`Ayanami::run`], with more arguments such as `--nats URL`.
    pub(crate) fn run_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = ayanami(&["run", "--port", "0"]);
        command.arg(dir).args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let (process, line) = Process::start(command, "gateway listening");
        let addr = addr_in(&line);
        Self { process, addr }
    }

    /// Everything the process logged so far.
    pub(crate) fn log(&self) -> String {
        self.process.log()
    }

    pub(crate) fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, &[], b"")
    }
}

/// An HTTP response as the client saw it.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(addr, method, path, headers, body).expect("an answer")
}

/// Like [`request`], with an error instead of a panic when the connection
/// fails or no whole answer comes within 40 s.
pub(crate) fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(40)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::other(
            "the connection closed before a whole head",
        ));
    }
    Ok(parse(&raw))
}

fn parse(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap().trim();
        let size = usize::from_str_radix(size_text, 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 4 + size..];
    }
}

/// Percent-encodes `text` for a query string.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What `figlet TEXT` prints, run here the way a user would.
pub(crate) fn figlet(text: &str) -> String {
    let output = Command::new("figlet")
        .arg(text)
        .output()
        .expect("figlet is installed (see .ci/run)");
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}
