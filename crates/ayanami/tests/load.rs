//! Holding under load: the in-flight limit, graceful shutdown with slow
//! requests in flight, and memory under a stalled function.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ayanami_testing::NatsServer;

use crate::support::{Ayanami, Process, Response, TempDir, ayanami, copy_example, request};

/// A route whose answer comes from a worker that takes `DELAY` seconds per
/// call, many calls at once, and says on stderr when each call starts.
fn slow_project(max_in_flight: usize, delay: &str) -> TempDir {
    let project = TempDir::new("slow");
    let yaml = format!(
        r#"name: slow
gateway:
  timeout: 30s
  max_in_flight: {max_in_flight}
  routes:
    - path: /slow/{{n}}
services:
  slow:
    functions:
      wait:
        kind: worker
        run: python3 slow.py
        inputs: [n]
        outputs: [text]
        timeout: 30s
        env: {{DELAY: "{delay}"}}
flows:
  slow:
    timeout: 30s
    wirings:
      - from: trig.request.get.slow._n.out
        var: request
      - var: request.params.n
        to: srvc.slow.wait.in.n
      - from: srvc.slow.wait.out.text
        var: text
        to: trig.response.get.slow._n.in.content
"#
    );
    std::fs::write(project.path().join("ayanami.yaml"), yaml).unwrap();
    std::fs::write(project.path().join("slow.py"), SLOW_WORKER).unwrap();
    project
}

const SLOW_WORKER: &str = r#"
import json, os, sys, threading, time
lock = threading.Lock()
delay = float(os.environ["DELAY"])
def handle(call):
    n = call["inputs"]["n"]
    print(f"slow call started {n}", file=sys.stderr, flush=True)
    time.sleep(delay)
    with lock:
        print(json.dumps({"id": call["id"], "outputs": {"text": f"slow {n}"}}), flush=True)
for line in sys.stdin:
    threading.Thread(target=handle, args=(json.loads(line),), daemon=True).start()
"#;

/// Sends `GET /slow/{n}` for each `n` from its own thread, all at once.
fn fire(addr: SocketAddr, count: usize) -> Vec<std::thread::JoinHandle<Response>> {
    (0..count)
        .map(|n| std::thread::spawn(move || request(addr, "GET", &format!("/slow/{n}"), &[], b"")))
        .collect()
}

#[test]
fn requests_beyond_max_in_flight_get_503_with_retry_after_and_the_rest_are_answered() {
    let project = slow_project(100, "1");
    let ayanami = Ayanami::run_with(project.path(), &["--max-in-flight", "4"], &[]);

    let answers: Vec<Response> = fire(ayanami.addr, 12)
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let ok: Vec<&Response> = answers.iter().filter(|r| r.status == 200).collect();
    let refused: Vec<&Response> = answers.iter().filter(|r| r.status == 503).collect();
    assert_eq!(ok.len() + refused.len(), answers.len(), "{answers:?}");
    assert!((1..=4).contains(&ok.len()), "{} answered", ok.len());
    assert!(!refused.is_empty());
    for response in refused {
        assert_eq!(response.header("retry-after"), Some("1"));
        assert_eq!(response.text(), "Service Unavailable");
    }
    for response in ok {
        assert!(response.text().starts_with("slow "), "{}", response.text());
    }
    assert_eq!(ayanami.get("/slow/again").text(), "slow again");
    assert!(ayanami.log().contains("status=503"), "{}", ayanami.log());
}

/// Waits until the worker has said `count` times that a call started.
fn wait_for_calls(log: impl Fn() -> String, count: usize) {
    let started = Instant::now();
    loop {
        let seen = log().matches("slow call started").count();
        if seen >= count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {seen} of {count} calls started:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until connecting to `addr` is refused: the listener is closed.
fn wait_until_refused(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the gateway still accepts connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

/// Asserts that request `n` got `200 slow n`, and counts the served ones.
fn count_served(answers: Vec<std::thread::JoinHandle<Response>>) -> usize {
    let total = answers.len();
    let mut served = 0;
    for (n, answer) in answers.into_iter().enumerate() {
        let response = answer.join().expect("every request gets an answer");
        if (response.status, response.text()) == (200, format!("slow {n}")) {
            served += 1;
        } else {
            eprintln!("request {n} got {} {}", response.status, response.text());
        }
    }
    println!(
        "{served} of {total} requests in flight at SIGTERM served, {} lost",
        total - served
    );
    served
}

const IN_FLIGHT: usize = 200;

#[test]
fn sigterm_lets_200_slow_requests_in_flight_finish_then_exits_0() {
    let project = slow_project(1000, "3");
    let mut ayanami = Ayanami::run_with(project.path(), &["--grace", "20s"], &[]);
    let answers = fire(ayanami.addr, IN_FLIGHT);
    wait_for_calls(|| ayanami.log(), IN_FLIGHT);

    let stopped = Instant::now();
    ayanami.process.signal(15);
    let refused_after = wait_until_refused(ayanami.addr);
    assert_eq!(count_served(answers), IN_FLIGHT);
    assert_eq!(ayanami.process.wait_exit(Duration::from_secs(20)), Some(0));
    println!(
        "listener closed {refused_after:?} after SIGTERM; exited after {:?}",
        stopped.elapsed()
    );
}

#[test]
fn up_forwards_sigterm_and_200_slow_requests_over_nats_finish_before_everything_exits_0() {
    let project = slow_project(1000, "3");
    let mut command = ayanami(&["up", "--port", "0", "--grace", "20s"]);
    command.arg(project.path());
    let (mut up, line) = Process::start(command, "component ready: gateway on http://");
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    up.wait_for("all 3 components ready", Duration::from_secs(30));

    let answers = fire(addr, IN_FLIGHT);
    wait_for_calls(|| up.log(), IN_FLIGHT);
    up.signal(15);
    wait_until_refused(addr);
    assert_eq!(count_served(answers), IN_FLIGHT);
    assert_eq!(up.wait_exit(Duration::from_secs(40)), Some(0));
    let log = up.log();
    assert!(!log.contains("grace period over"), "{log}");
}

#[test]
fn a_grace_period_shorter_than_the_work_cuts_it_off_at_the_grace() {
    let project = slow_project(100, "5");
    let env = [("AYANAMI_GRACE", "1s")];
    let mut ayanami = Ayanami::run_with(project.path(), &[], &env);
    let addr = ayanami.addr;
    let answers: Vec<_> = (0..3)
        .map(|n| std::thread::spawn(move || raw_get(addr, &format!("/slow/{n}"))))
        .collect();
    wait_for_calls(|| ayanami.log(), 3);

    let stopped = Instant::now();
    ayanami.process.signal(15);
    assert_eq!(ayanami.process.wait_exit(Duration::from_secs(4)), Some(0));
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    for answer in answers {
        let raw = answer.join().unwrap();
        assert!(raw.is_empty(), "cut off without an answer, got {raw}");
    }
    assert!(
        ayanami.log().contains("grace period over"),
        "{}",
        ayanami.log()
    );
}

/// What a server sends back to `GET path` before closing, as text.
fn raw_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

/// A field of `/proc/PID/status` in KiB: `VmRSS` now, `VmHWM` at its peak.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Threads sending `GET path` back to back until `running` is cleared;
/// each gives the status and duration of every answer.
fn load(
    addr: SocketAddr,
    paths: &[&'static str],
    threads: usize,
    running: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<(u16, Duration)>>> {
    (0..threads)
        .map(|n| {
            let (running, path) = (running.clone(), paths[n % paths.len()]);
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while running.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let response = request(addr, "GET", path, &[], b"");
                    answers.push((response.status, started.elapsed()));
                }
                answers
            })
        })
        .collect()
}

/// Counts answers by status, as `200: 812, 504: 40`.
fn by_status(answers: &[(u16, Duration)]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for (status, _) in answers {
        *counts.entry(*status).or_insert(0) += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    counts.join(", ")
}

#[test]
fn a_nats_server_paused_past_the_deadline_gives_504s_bounded_memory_and_service_after() {
    let server = NatsServer::start();
    let project = TempDir::new("sigstop");
    copy_example(project.path(), |yaml| {
        yaml.replace("timeout: 30s", "timeout: 2s")
    });
    let ayanami = Ayanami::run_with(project.path(), &["--nats", &server.url()], &[]);
    let (addr, pid) = (ayanami.addr, ayanami.process.pid());
    assert_eq!(ayanami.get("/").status, 200);

    let running = Arc::new(AtomicBool::new(true));
    let threads = load(addr, &["/", "/hello/rei"], 8, &running);
    std::thread::sleep(Duration::from_secs(1));
    let before = memory_kib(pid, "VmRSS:");
    server.pause();
    let paused = Instant::now();
    let mut during = before;
    while paused.elapsed() < Duration::from_secs(6) {
        during = during.max(memory_kib(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(100));
    }
    server.resume();
    let resumed = Instant::now();
    while ayanami.get("/").status != 200 {
        assert!(
            resumed.elapsed() < Duration::from_secs(20),
            "no service after SIGCONT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let recovered_after = resumed.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    running.store(false, Ordering::Relaxed);

    let answers: Vec<(u16, Duration)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    println!(
        "NATS paused 6 s past a 2 s deadline: {} answers ({}); RSS {before} KiB before, at most {during} KiB paused; served again {recovered_after:?} after SIGCONT",
        answers.len(),
        by_status(&answers)
    );
    assert!(
        answers.iter().any(|(s, _)| *s == 504),
        "{}",
        by_status(&answers)
    );
    for (status, took) in &answers {
        assert!([200, 504].contains(status), "status {status}");
        assert!(
            *took < Duration::from_millis(3500),
            "a request hung for {took:?}"
        );
    }
    assert!(
        during < before + 64 * 1024,
        "RSS grew from {before} KiB to {during} KiB while NATS was paused"
    );
    for _ in 0..20 {
        assert_eq!(ayanami.get("/hello/again").text(), "Hello again");
    }
}

/// A fast route, and one whose worker reads every call and answers none,
/// one call at a time, so that calls queue up to the bound.
const STALLING: &str = r#"name: soak
gateway:
  timeout: 2s
  routes:
    - path: /
    - path: /stall/{n}
services:
  stuck:
    functions:
      wait:
        kind: worker
        run: python3 -c "import sys; [None for _ in sys.stdin]"
        inputs: [n]
        outputs: [text]
        timeout: 1s
        concurrency: 1
flows:
  root:
    wirings:
      - from: trig.request.get.out
        var: request
      - var: content
        value: fast
        to: trig.response.get.in.content
  stall:
    timeout: 2s
    wirings:
      - from: trig.request.get.stall._n.out
        var: request
      - var: request.params.n
        to: srvc.stuck.wait.in.n
      - from: srvc.stuck.wait.out.text
        var: text
        to: trig.response.get.stall._n.in.content
"#;

#[test]
fn sixty_seconds_at_full_speed_against_a_stalling_function_keep_memory_flat() {
    let project = TempDir::new("soak");
    std::fs::write(project.path().join("ayanami.yaml"), STALLING).unwrap();
    let ayanami = Ayanami::run(project.path(), &[]);
    let (addr, pid) = (ayanami.addr, ayanami.process.pid());

    let running = Arc::new(AtomicBool::new(true));
    let mut paths = vec!["/"; 8];
    paths.extend(["/stall/1"; 48]);
    let threads = load(addr, &paths, paths.len(), &running);
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(1));
        samples.push(memory_kib(pid, "VmRSS:"));
    }
    running.store(false, Ordering::Relaxed);
    let answers: Vec<(u16, Duration)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();

    let peak = memory_kib(pid, "VmHWM:");
    let warm = samples[9];
    let late = samples[samples.len() - 10..].iter().copied().max().unwrap();
    println!(
        "soak: {} requests in 60 s ({}); RSS {warm} KiB after 10 s, at most {late} KiB in the last 10 s, peak RSS {peak} KiB",
        answers.len(),
        by_status(&answers)
    );
    let fast = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(
        fast > 1000,
        "the fast route kept answering: {}",
        by_status(&answers)
    );
    let refused = answers.iter().any(|(s, _)| *s == 503);
    assert!(
        refused,
        "the stalled calls reached their bound: {}",
        by_status(&answers)
    );
    for (status, took) in &answers {
        assert!([200, 500, 503, 504].contains(status), "status {status}");
        assert!(
            *took < Duration::from_secs(4),
            "a request hung for {took:?}"
        );
    }
    assert!(
        late <= warm + 16 * 1024,
        "RSS grew from {warm} KiB after 10 s to {late} KiB at the end: {samples:?}"
    );
    assert_eq!(ayanami.get("/").text(), "fast");
}
