//! Schedules and NATS subjects that start flows, through the real binary:
//! in one process, as separate processes under `up`, and NATS request-reply
//! from a Python client.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ayanami_testing::NatsServer;
use serde_json::{Value, json};

use crate::support::{Process, TempDir, ayanami};

/// A project whose schedule `every` fires each second; flow `tick` hands
/// the fire time to a Python function that appends it to `ticks.txt`.
fn ticker(dir: &Path) {
    std::fs::write(
        dir.join("ayanami.yaml"),
        r#"name: ticker
triggers:
  schedule:
    every:
      cron: "* * * * * *"
services:
  log:
    functions:
      record:
        kind: exec
        run: python3 record.py
        inputs: [time]
        outputs: [line]
flows:
  tick:
    outputs: [line]
    wirings:
      - from: trig.schedule.every.out
        var: fire
      - var: fire.time
        to: srvc.log.record.in.time
      - from: srvc.log.record.out.line
        var: line
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("record.py"),
        r#"import json, sys
time = json.load(sys.stdin)["time"]
with open("ticks.txt", "a") as ticks:
    ticks.write(time + "\n")
print(json.dumps({"line": time}))
"#,
    )
    .unwrap();
}

/// Waits until `ticks.txt` holds `count` fire times, and returns them sorted.
fn ticks(dir: &Path, count: usize, process: &Process) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(dir.join("ticks.txt")).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= count {
            lines.sort();
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "only {} fires within 15 s:\n{}",
            lines.len(),
            process.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Fire times are whole seconds in UTC, one second apart, none repeated.
fn assert_one_per_second(ticks: &[String]) {
    let seconds: Vec<i64> = ticks
        .iter()
        .map(|t| {
            assert!(t.ends_with("+00:00") && t.len() == 25, "fire time `{t}`");
            let clock = &t[11..19];
            let parts: Vec<i64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
            parts[0] * 3600 + parts[1] * 60 + parts[2]
        })
        .collect();
    for pair in seconds.windows(2) {
        let step = (pair[1] - pair[0]).rem_euclid(86_400);
        assert_eq!(step, 1, "consecutive fires one second apart: {ticks:?}");
    }
}

#[test]
fn a_schedule_starts_its_flow_every_second_in_one_process() {
    let dir = TempDir::new("schedule-run");
    ticker(dir.path());
    let mut run = ayanami(&["run"]);
    run.arg(dir.path());
    let (mut process, line) = Process::start(run, "component ready");
    assert!(line.contains("schedules"), "{line}");
    let got = ticks(dir.path(), 3, &process);
    assert_one_per_second(&got[..3]);
    assert_eq!(
        process.signal_and_wait(15, Duration::from_secs(15)),
        Some(0)
    );
}

const WATCHER: &str = r#"
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    async def show(msg):
        print(msg.subject, msg.data.decode(), flush=True)
    await nc.subscribe(">", cb=show)
    await nc.flush()
    print("watching", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"#;

#[test]
fn under_up_the_schedules_run_as_their_own_component() {
    let server = NatsServer::start();
    let dir = TempDir::new("schedule-up");
    ticker(dir.path());
    let mut watch = Command::new("python3");
    watch.args(["-c", WATCHER, &server.url()]);
    let (mut watcher, _) = Process::start(watch, "watching");
    let mut up = ayanami(&["up", "--nats", &server.url()]);
    up.arg(dir.path());
    let (mut up, _) = Process::start(up, "all 3 components ready");
    assert!(up.log().contains("schedules"), "{}", up.log());

    let fire = watcher.wait_for(".trig.schedule.every.out", Duration::from_secs(10));
    let value: Value = serde_json::from_str(fire.split_once(' ').unwrap().1).unwrap();
    assert_eq!(value["timezone"], "UTC");
    assert!(value["timestamp"].is_i64(), "{value}");
    watcher.wait_for(".flow.tick.out.line", Duration::from_secs(10));
    let got = ticks(dir.path(), 2, &up);
    assert_one_per_second(&got[..2]);
    assert_eq!(up.signal_and_wait(2, Duration::from_secs(20)), Some(0));
}

/// A project where each message on `orders.created` starts flow `order`,
/// whose output `greeting` answers the request.
fn orders(dir: &Path) {
    std::fs::write(
        dir.join("ayanami.yaml"),
        r#"name: orders
triggers:
  subject:
    orders:
      subject: orders.created
      reply: true
services:
  greeting:
    functions:
      hello:
        kind: exec
        run: python3 hello.py
        inputs: [name]
        outputs: [greeting]
flows:
  order:
    timeout: 5s
    outputs: [greeting]
    wirings:
      - from: trig.subject.orders.out
        var: message
      - var: message.data.name
        to: srvc.greeting.hello.in.name
      - from: srvc.greeting.hello.out.greeting
        var: greeting
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("hello.py"),
        r#"import json, sys, time
name = json.load(sys.stdin)["name"]
if name == "crash":
    sys.exit("no greeting for crash")
if name == "slow":
    time.sleep(9)
if name == "nap":
    time.sleep(3)
print(json.dumps({"greeting": "Hello " + name}))
"#,
    )
    .unwrap();
}

/// Sends each payload as a NATS request and prints each reply's data.
const REQUESTER: &str = r#"
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    for payload in sys.argv[3:]:
        reply = await nc.request(sys.argv[2], payload.encode(), timeout=10)
        print(reply.data.decode(), flush=True)
    await nc.close()
asyncio.run(main())
"#;

fn requests(url: &str, subject: &str, payloads: &[&str]) -> Vec<Value> {
    let output = Command::new("python3")
        .args(["-c", REQUESTER, url, subject])
        .args(payloads)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the requester failed: {stderr}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_nats_request_on_a_subject_is_answered_with_the_flows_outputs() {
    let server = NatsServer::start();
    let dir = TempDir::new("subject");
    orders(dir.path());
    let mut run = ayanami(&["run", "--nats", &server.url()]);
    run.arg(dir.path());
    let (mut process, line) = Process::start(run, "component ready");
    assert!(line.contains("subjects"), "{line}");

    let replies = requests(
        &server.url(),
        "orders.created",
        &[
            r#"{"name": "rei"}"#,
            r#"{"name": "crash"}"#,
            r#"{"name": "slow"}"#,
        ],
    );
    assert_eq!(replies[0], json!({"greeting": "Hello rei"}));
    let crashed = replies[1]["error"]["message"].as_str().unwrap_or_default();
    assert!(crashed.contains("no greeting for crash"), "{}", replies[1]);
    // The flow's 5 s deadline passes while the function sleeps.
    let late = replies[2]["error"]["message"].as_str().unwrap_or_default();
    assert!(late.contains("deadline"), "{}", replies[2]);
    assert_eq!(
        process.signal_and_wait(15, Duration::from_secs(15)),
        Some(0)
    );
}

/// Sends three requests for `argv[2]`, says `sent`, and a second later
/// sends one more for `rei`; prints each outcome as it ends: the answer,
/// or the exception's name.
const STOPPING_CLIENT: &str = r#"
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    async def ask(name):
        try:
            reply = await nc.request("orders.created", ('{"name": "%s"}' % name).encode(), timeout=20)
            return reply.data.decode()
        except Exception as error:
            return type(error).__name__
    first = [asyncio.create_task(ask(sys.argv[2])) for _ in range(3)]
    await asyncio.sleep(1)
    print("sent", flush=True)
    await asyncio.sleep(1)
    print("late", await ask("rei"), flush=True)
    for task in first:
        print("first", await task, flush=True)
    print("done", flush=True)
asyncio.run(main())
"#;

/// Runs the orders project with `grace`, sends three requests for `name`,
/// stops Ayanami with SIGTERM while they wait, and returns what the client
/// saw and Ayanami's exit code.
fn stop_while_waiting(name: &str, grace: &str) -> (String, Option<i32>) {
    let server = NatsServer::start();
    let dir = TempDir::new("subject-stop");
    orders(dir.path());
    let mut run = ayanami(&["run", "--nats", &server.url(), "--grace", grace]);
    run.arg(dir.path());
    let (mut ayanami, _) = Process::start(run, "component ready");
    let mut client = Command::new("python3");
    client.args(["-c", STOPPING_CLIENT, &server.url(), name]);
    let (mut client, _) = Process::start(client, "sent");
    let code = ayanami.signal_and_wait(15, Duration::from_secs(20));
    client.wait_for("done", Duration::from_secs(25));
    (client.log(), code)
}

#[test]
fn a_stop_lets_requests_taken_get_their_answers_and_sends_new_ones_elsewhere() {
    let (log, code) = stop_while_waiting("nap", "10s");
    assert_eq!(code, Some(0), "{log}");
    // Nothing else listens on the subject once the trigger stopped taking.
    assert!(log.contains("late NoRespondersError"), "{log}");
    let answers: Vec<&str> = log.lines().filter(|l| l.starts_with("first ")).collect();
    assert_eq!(answers, [r#"first {"greeting":"Hello nap"}"#; 3], "{log}");
}

#[test]
fn requests_still_waiting_when_the_grace_period_ends_get_an_error_answer() {
    let (log, code) = stop_while_waiting("slow", "1s");
    assert_eq!(code, Some(0), "{log}");
    let answers: Vec<&str> = log.lines().filter(|l| l.starts_with("first ")).collect();
    let expected =
        r#"first {"error":{"message":"Ayanami stopped before flow `order` answered; try again"}}"#;
    assert_eq!(answers, [expected; 3], "{log}");
}

#[test]
fn an_answer_too_large_for_nats_is_replaced_by_an_error_saying_so() {
    let server = NatsServer::start_with_config("max_payload: 65536");
    let dir = TempDir::new("subject-large");
    std::fs::write(
        dir.path().join("ayanami.yaml"),
        r#"name: echo
triggers:
  subject:
    twice:
      subject: echo.twice
      reply: true
flows:
  twice:
    outputs: [a, b]
    wirings:
      - from: trig.subject.twice.out.data
        var: a
      - from: trig.subject.twice.out.data
        var: b
"#,
    )
    .unwrap();
    let mut run = ayanami(&["run", "--nats", &server.url()]);
    run.arg(dir.path());
    let (mut process, _) = Process::start(run, "component ready");
    let small = json!("x".repeat(100)).to_string();
    let large = json!("x".repeat(40_000)).to_string();
    let replies = requests(&server.url(), "echo.twice", &[&small, &large]);
    assert_eq!(
        replies[0],
        json!({"a": "x".repeat(100), "b": "x".repeat(100)})
    );
    let message = replies[1]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the flow's answer is 80")
            && message.ends_with("more than the NATS server's limit of 65536"),
        "{}",
        replies[1]
    );
    assert_eq!(
        process.signal_and_wait(15, Duration::from_secs(15)),
        Some(0)
    );
}
