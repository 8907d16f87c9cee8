//! `/metrics` on the admin address, read by the Prometheus project's own
//! OpenMetrics parser (the `prometheus-client` package from PyPI).

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Ayanami, Process, TempDir, copy_example, request};

/// Parses OpenMetrics text on stdin; prints `[[name, labels, value], ...]`.
const PARSER: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps(samples))
"#;

/// The samples of one scrape.
struct Scrape(Vec<(String, serde_json::Map<String, Value>, f64)>);

impl Scrape {
    fn take(admin: SocketAddr) -> Self {
        let response = request(admin, "GET", "/metrics", &[], b"");
        assert_eq!(response.status, 200, "{}", response.text());
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        Self::parse(&response.text())
    }

    fn parse(text: &str) -> Self {
        let mut python = Command::new("python3")
            .args(["-c", PARSER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut stdin = python.stdin.take().expect("a stdin pipe");
        stdin.write_all(text.as_bytes()).expect("the parser reads");
        drop(stdin);
        let output = python.wait_with_output().expect("the parser ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "the parser refused:\n{stderr}\n{text}"
        );
        let samples: Vec<(String, serde_json::Map<String, Value>, f64)> =
            serde_json::from_slice(&output.stdout).expect("the parser prints JSON");
        Self(samples)
    }

    /// Whether a sample matches `expected`: `value name label=value ...`.
    fn has(&self, expected: &str) -> bool {
        let mut words = expected.split_whitespace();
        let value = words.next().and_then(|v| v.parse().ok());
        let name = words.next().unwrap_or_default();
        let labels: Vec<(&str, &str)> = words.filter_map(|w| w.split_once('=')).collect();
        value.is_some() && self.value(name, &labels) == value
    }

    /// The value of the sample `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matches = |sample_labels: &serde_json::Map<String, Value>| {
            labels
                .iter()
                .all(|(k, v)| sample_labels.get(*k).and_then(Value::as_str) == Some(*v))
        };
        self.0
            .iter()
            .find(|(n, l, _)| n == name && matches(l))
            .map(|(_, _, value)| *value)
    }
}

/// The address `ayanami run` prints on stdout, which may be read after the
/// log line on stderr that `Ayanami::run_with` waits for.
fn admin_address(ayanami: &Ayanami) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = ayanami.log();
        if let Some(line) = log.lines().find_map(|l| l.strip_prefix("admin: http://")) {
            let addr = line.split_whitespace().next().unwrap_or_default();
            return addr
                .parse()
                .unwrap_or_else(|_| panic!("no address in `{line}`"));
        }
        assert!(Instant::now() < deadline, "no `admin:` line in:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Samples after the requests below: the value, the name, then `label=value` pairs.
const EXPECTED: [&str; 13] = [
    "2 ayanami_http_requests_total method=GET route=/ status=200",
    "1 ayanami_http_requests_total route=/hello/{name} status=200",
    "1 ayanami_http_requests_total route=/banner status=500",
    "2 ayanami_http_request_duration_seconds_count route=/",
    "1 ayanami_function_calls_total function=greeting.hello outcome=ok",
    "1 ayanami_function_calls_total function=cmd.figlet outcome=exit",
    "1 ayanami_function_call_duration_seconds_count function=greeting.hello",
    "2 ayanami_flow_instances_total flow=root outcome=ok",
    "1 ayanami_flow_instances_total flow=hello outcome=ok",
    "1 ayanami_flow_instances_total flow=banner outcome=error",
    "0 ayanami_flow_instances_total flow=banner outcome=timeout",
    "0 ayanami_flow_instances_in_flight flow=banner",
    "2 ayanami_flow_instance_duration_seconds_count flow=root",
];

#[test]
fn metrics_count_requests_calls_flows_and_bus_events() {
    // figlet is replaced by a program that fails, so that errors are counted too.
    let dir = TempDir::new("metrics");
    copy_example(dir.path(), |yaml| {
        yaml.replace("run: figlet $input", "run: false $input")
    });
    let ayanami = Ayanami::run_with(dir.path(), &["--admin", "127.0.0.1:0"], &[]);
    let admin = admin_address(&ayanami);

    assert_eq!(ayanami.get("/").status, 200);
    assert_eq!(ayanami.get("/").status, 200);
    assert_eq!(ayanami.get("/hello/shinji").status, 200);
    assert_eq!(ayanami.get("/banner?text=hi").status, 500);

    // A flow counts its instance just after it answers; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let scrape = loop {
        let scrape = Scrape::take(admin);
        let wrong: Vec<_> = EXPECTED
            .iter()
            .filter(|expected| !scrape.has(expected))
            .collect();
        if wrong.is_empty() {
            break scrape;
        }
        assert!(
            Instant::now() < deadline,
            "these samples differ: {wrong:?}\n{:?}",
            scrape.0
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for name in ["ayanami_bus_published_total", "ayanami_bus_received_total"] {
        let count = scrape.value(name, &[]).unwrap_or_default();
        assert!(count >= 10.0, "{name} is {count}");
    }
}

#[test]
fn metrics_stay_off_the_public_port() {
    let ayanami = Ayanami::run(&crate::support::example_dir(), &[]);
    assert_eq!(ayanami.get("/metrics").status, 404);
}

#[test]
fn up_gives_every_component_an_admin_address_that_counts_its_own_work() {
    let project = TempDir::new("up-metrics");
    copy_example(project.path(), str::to_owned);
    let mut command = crate::support::ayanami(&["up", "--port", "0", "--admin", "127.0.0.1:0"]);
    command.arg(project.path()).env("AYANAMI_LOG", "warn");
    let (mut up, line) = Process::start(command, "component ready: gateway on http://");
    let gateway: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in `{line}`"));
    up.wait_for("all 7 components ready", Duration::from_secs(30));

    let log = up.log();
    let admins: Vec<(String, SocketAddr)> = log
        .lines()
        .filter_map(|l| {
            let (label, rest) = l.split_once(" | admin: http://")?;
            let addr = rest.split_whitespace().next()?.parse().ok()?;
            Some((label.trim().to_owned(), addr))
        })
        .collect();
    assert_eq!(admins.len(), 7, "{log}");
    let admin = |label: &str| {
        let found = admins.iter().find(|(l, _)| l == label);
        found
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no admin for {label}"))
    };

    assert_eq!(request(gateway, "GET", "/", &[], b"").status, 200);
    let requests = "1 ayanami_http_requests_total route=/ status=200";
    assert!(Scrape::take(admin("gateway")).has(requests));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !Scrape::take(admin("flow.root"))
        .has("1 ayanami_flow_instances_total flow=root outcome=ok")
    {
        assert!(Instant::now() < deadline, "flow.root counted no instance");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(up.signal_and_wait(2, Duration::from_secs(20)), Some(0));
}
