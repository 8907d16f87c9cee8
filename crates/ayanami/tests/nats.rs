//! The example as microservices over a real nats-server: `run --nats`,
//! `serve`, `up`, a service written in Python, replicas, and reconnection.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ayanami_testing::NatsServer;

use crate::support::{
    Ayanami, Process, TempDir, addr_in, ayanami, copy_example, example_dir, figlet, request,
};

fn assert_serves_the_example(addr: std::net::SocketAddr) {
    let root = request(addr, "GET", "/", &[], b"");
    assert_eq!((root.status, root.text().as_str()), (200, "Hello there"));
    let hello = request(addr, "GET", "/hello/shinji", &[], b"");
    assert_eq!((hello.status, hello.text().as_str()), (200, "Hello shinji"));
    let banner = request(addr, "GET", "/banner?text=hi", &[], b"");
    assert_eq!(banner.status, 200);
    assert_eq!(banner.text(), format!("<pre>{}</pre>", figlet("hi")));
}

/// `ayanami serve KIND [NAME] --dir DIR --nats URL`, started and ready.
fn serve(dir: &Path, url: &str, component: &[&str], env: &[(&str, &str)]) -> (Process, String) {
    let mut command = ayanami(&["serve"]);
    command
        .args(component)
        .arg("--dir")
        .arg(dir)
        .args(["--nats", url]);
    if component == ["gateway"] {
        command.args(["--port", "0", "--host", "127.0.0.1"]);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let ready = if component == ["gateway"] {
        "gateway listening"
    } else {
        "component ready"
    };
    Process::start(command, ready)
}

#[test]
fn run_over_nats_carries_every_event_through_the_server() {
    let server = NatsServer::start();
    let mut watch = Command::new("python3");
    watch.args(["-c", WATCHER, &server.url()]);
    let (mut watcher, _) = Process::start(watch, "watching");
    let ayanami = Ayanami::run_with(&example_dir(), &["--nats", &server.url()], &[]);

    assert_serves_the_example(ayanami.addr);
    watcher.wait_for("flow.banner.out.content", Duration::from_secs(10));
    let log = watcher.log();
    for event in [
        "trig.request.get.out",
        "trig.response.get.in.content",
        "trig.request.get.hello._name.out",
        "srvc.greeting.hello.in.name",
        "srvc.cmd.figlet.in.input",
        "srvc.cmd.figlet.out.output",
        "flow.banner.out.content",
    ] {
        assert!(
            log.contains(&format!(".{event}")),
            "no `{event}` crossed NATS:\n{log}"
        );
    }
}

/// Prints the subject of every message on the server, via nats-py.
const WATCHER: &str = r#"
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    async def show(msg):
        print(msg.subject, flush=True)
    await nc.subscribe(">", cb=show)
    await nc.flush()
    print("watching", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"#;

#[test]
fn the_example_runs_as_one_process_per_component() {
    let server = NatsServer::start();
    let dir = example_dir();
    let mut components = Vec::new();
    for component in [
        &["service", "cmd"][..],
        &["service", "html"],
        &["service", "greeting"],
        &["flow", "root"],
        &["flow", "hello"],
        &["flow", "banner"],
    ] {
        components.push(serve(&dir, &server.url(), component, &[]).0);
    }
    let (gateway, line) = serve(&dir, &server.url(), &["gateway"], &[]);

    assert_serves_the_example(addr_in(&line));
    drop(gateway);
}

#[test]
fn serve_refuses_an_unknown_component_and_names_the_known_ones() {
    let output = ayanami(&["serve", "flow", "nope", "--dir"])
        .arg(example_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("unknown flow `nope`; the composition's flows are `root`, `hello`, `banner`"),
        "{stderr}"
    );
}

#[test]
fn up_runs_everything_quietly_and_ctrl_c_leaves_nothing_running() {
    let project = TempDir::new("up");
    copy_example(project.path(), str::to_owned);
    let mut command = ayanami(&["up", "--port", "0"]);
    command.arg(project.path()).env("AYANAMI_LOG", "warn");
    let (mut up, line) = Process::start(command, "component ready: gateway on http://");
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    up.wait_for("all 7 components ready", Duration::from_secs(30));
    let children = descendants(up.pid());
    // Each component that may start function processes forks a guard.
    let guards = children
        .iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm == "ayanami-guard\n")
        })
        .count();
    assert_eq!(
        (children.len() - guards, guards),
        (8, 7),
        "seven components and nats-server, and a guard per component"
    );

    assert_serves_the_example(addr);
    let log = up.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with("gateway ") && l.contains(" | ")),
        "{log}"
    );
    assert!(log.lines().any(|l| l.starts_with("nats ")), "{log}");

    assert_eq!(up.signal_and_wait(2, Duration::from_secs(20)), Some(0));
    std::thread::sleep(Duration::from_millis(200));
    let left: Vec<u32> = children
        .into_iter()
        .filter(|pid| is_running(*pid))
        .collect();
    assert!(left.is_empty(), "still running after Ctrl-C: {left:?}");
}

#[test]
fn up_says_how_to_install_a_missing_nats_server() {
    let empty = TempDir::new("no-nats-path");
    let output = ayanami(&["up"])
        .arg(example_dir())
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`nats-server` is not installed"),
        "{stderr}"
    );
    assert!(stderr.contains("apt-get install nats-server"), "{stderr}");
}

/// Every process below `pid`, found through `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            let ppid: u32 = after_name.split(' ').nth(1).unwrap().parse().unwrap();
            if ppid == parent {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat[stat.rfind(')').unwrap()..].starts_with(") Z"))
}

#[test]
fn a_python_service_speaking_only_nats_serves_a_flow() {
    let server = NatsServer::start();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python-service");
    let mut python = Command::new("python3");
    python.arg(dir.join("shout.py")).arg(server.url());
    let (_python, _) = Process::start(python, "shout.upper ready");
    let ayanami = Ayanami::run_with(&dir, &["--nats", &server.url()], &[]);

    let response = ayanami.get("/shout?text=hello%20rei");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "HELLO REI")
    );
}

#[test]
fn two_replicas_of_a_service_share_the_calls_and_answer_each_once() {
    let server = NatsServer::start();
    let dir = example_dir();
    let url = server.url();
    let debug = [("AYANAMI_LOG", "info,ayanami_function=debug")];
    let (first, _) = serve(&dir, &url, &["service", "html"], &debug);
    let (second, _) = serve(&dir, &url, &["service", "html"], &debug);
    let _figlet = serve(&dir, &url, &["service", "cmd"], &[]);
    let _flow = serve(&dir, &url, &["flow", "banner"], &[]);
    let (_gateway, line) = serve(&dir, &url, &["gateway"], &[]);
    let addr = addr_in(&line);

    let calls = 24;
    for n in 0..calls {
        let text = format!("r{n}");
        let response = request(addr, "GET", &format!("/banner?text={text}"), &[], b"");
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), format!("<pre>{}</pre>", figlet(&text)));
    }
    let done = |p: &Process| p.log().matches("call done").count();
    let (a, b) = (done(&first), done(&second));
    assert!(a > 0 && b > 0, "both replicas work: {a} and {b}");
    assert_eq!(a + b, calls, "each call is answered exactly once");
}

#[test]
fn components_reconnect_after_the_nats_server_restarts() {
    let mut server = NatsServer::start();
    let project = TempDir::new("reconnect");
    copy_example(project.path(), |yaml| {
        yaml.replace("timeout: 30s", "timeout: 2s")
    });
    let ayanami = Ayanami::run_with(project.path(), &["--nats", &server.url()], &[]);
    let addr = ayanami.addr;
    assert_eq!(ayanami.get("/").status, 200);

    let running = Arc::new(AtomicBool::new(true));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let running = running.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while running.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let response = request(addr, "GET", "/", &[], b"");
                    answers.push((response.status, started.elapsed()));
                }
                answers
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(500));
    server.kill();
    std::thread::sleep(Duration::from_secs(1));
    server.restart();
    let recovered = Instant::now();
    while ayanami.get("/").status != 200 {
        assert!(recovered.elapsed() < Duration::from_secs(20), "no recovery");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    running.store(false, Ordering::Relaxed);

    let answers: Vec<(u16, Duration)> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(answers.len() > 10);
    let count = |code: u16| answers.iter().filter(|(status, _)| *status == code).count();
    println!(
        "NATS restart under load: {} requests, {} answered 200, {} 500, {} 504, none unanswered",
        answers.len(),
        count(200),
        count(500),
        count(504)
    );
    for (status, took) in &answers {
        assert!([200, 500, 504].contains(status), "status {status}");
        assert!(
            *took < Duration::from_secs(4),
            "a request hung for {took:?}"
        );
    }
    for _ in 0..20 {
        assert_eq!(ayanami.get("/hello/again").text(), "Hello again");
    }
}

const FLAT: &str = "
name: flat
services:
  svc:
    functions:
      f:
        kind: outside
        inputs: [x]
        outputs: [y]
flows:
  echo:
    inputs: [x]
    outputs: [y]
    timeout: 200ms
    wirings:
      - var: x
        to: srvc.svc.f.in.x
      - from: srvc.svc.f.out.y
        var: y
";

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn flow_memory_stays_flat_over_100000_instances_half_of_which_never_complete() {
    use ayanami_bus::{Bus, Sink};
    use ayanami_bus_nats::NatsBus;
    use serde_json::json;
    use std::sync::atomic::AtomicU64;

    let server = NatsServer::start();
    let project = TempDir::new("flat");
    std::fs::write(project.path().join("ayanami.yaml"), FLAT).unwrap();
    let (flow, _) = serve(project.path(), &server.url(), &["flow", "echo"], &[]);
    let pid = flow.pid();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let bus = NatsBus::connect(&server.url(), "flat-test", Duration::from_secs(5))
            .await
            .unwrap();
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let count = |counter: &Arc<AtomicU64>| {
            let counter = counter.clone();
            Sink::call(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
            })
        };
        let _outs = bus
            .subscribe("*.flow.echo.out.y", None, count(&done))
            .await
            .unwrap();
        let _errs = bus
            .subscribe("*.flow.echo.err", None, count(&failed))
            .await
            .unwrap();
        // The service answers even calls only; odd ones pass their deadline.
        let replier = bus.clone();
        let answer = Sink::call(move |message| {
            let even = message.value.as_u64().is_some_and(|n| n % 2 == 0);
            let id = message
                .subject
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned();
            let (bus, value) = (replier.clone(), message.value.clone());
            if even {
                tokio::spawn(async move {
                    let subject = format!("{id}.srvc.svc.f.out.y");
                    bus.publish(subject, value).await.unwrap();
                });
            }
        });
        let _calls = bus
            .subscribe("*.srvc.svc.f.in.x", Some("svc"), answer)
            .await
            .unwrap();
        bus.flush().await.unwrap();

        let total: u64 = 100_000;
        let ended = |target: u64| {
            let (done, failed) = (done.clone(), failed.clone());
            async move {
                let started = Instant::now();
                while done.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < target {
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "instances stopped ending"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        let mut baseline = 0;
        for n in 0..total {
            let subject = format!("{}.flow.echo.in.x", ayanami_event::Id::new());
            bus.publish(subject, Arc::new(json!(n))).await.unwrap();
            if n % 500 == 499 {
                ended((n + 1).saturating_sub(2000)).await;
            }
            if n + 1 == 20_000 {
                ended(n + 1).await;
                baseline = rss_kib(pid);
            }
        }
        ended(total).await;
        let end = rss_kib(pid);

        // Every instance ended exactly once; those never answered by failing.
        let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        assert_eq!(done + failed, total);
        assert!(failed >= total / 2, "{failed} failed");
        assert!(
            end <= baseline + 8 * 1024,
            "RSS grew from {baseline} KiB after 20 000 instances to {end} KiB after {total}"
        );
    });
    drop(flow);
}

#[test]
fn invoke_starts_a_flow_on_a_composition_running_over_nats() {
    let server = NatsServer::start();
    // `run` finds the server through the environment, `invoke` by its flag,
    // and a second `invoke` through the environment again.
    let _ayanami = Ayanami::run_with(&example_dir(), &[], &[("AYANAMI_NATS_URL", &server.url())]);
    let by_flag = ayanami(&["invoke", "hello", "--nats", &server.url(), "--dir"])
        .arg(example_dir())
        .args(["--in", r#"request={"params": {"name": "asuka"}}"#])
        .output()
        .unwrap();
    let by_env = ayanami(&["invoke", "hello", "--dir"])
        .arg(example_dir())
        .args(["--in", r#"request={"params": {"name": "rei"}}"#])
        .env(
            "AYANAMI_NATS_URL",
            format!("nats://127.0.0.1:1,{}", server.url()),
        )
        .output()
        .unwrap();
    for (output, name) in [(by_flag, "asuka"), (by_env, "rei")] {
        assert!(output.status.success(), "{output:?}");
        let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let expected = format!("Hello {name}");
        assert_eq!(printed, serde_json::json!({ "content": expected }));
    }
}

#[test]
fn up_trace_logs_every_event_of_a_request() {
    let project = TempDir::new("up-trace");
    copy_example(project.path(), str::to_owned);
    let mut command = ayanami(&["up", "--port", "0", "--trace"]);
    command.arg(project.path());
    let (mut up, line) = Process::start(command, "component ready: gateway on http://");
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let response = request(addr, "GET", "/", &[], b"");
    assert_eq!(response.text(), "Hello there");
    let limit = Duration::from_secs(10);
    let first = up.wait_for("event=trig.request.get.out", limit);
    let id = first
        .split("id=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let answer = up.wait_for("event=trig.response.get.in.content", limit);
    assert!(answer.contains(&format!("id={id}")), "{answer}");
    assert_eq!(up.signal_and_wait(2, Duration::from_secs(20)), Some(0));
}
