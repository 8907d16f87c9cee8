//! Calling functions through the runner: workers over the line protocol,
//! and concurrency limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ayanami_function::{CallErrorKind, Runner};
use serde_json::{Map, Value, json};

const WORKER: &str = r#"
import json, os, sys, time
for line in sys.stdin:
    call = json.loads(line)
    text = call["inputs"]["text"]
    if text == "die":
        sys.exit(3)
    if text == "slow":
        continue
    if text == "bad":
        print(json.dumps({"id": call["id"], "error": "bad text"}), flush=True)
        continue
    reply = {"upper": text.upper(), "pid": os.getpid()}
    print(json.dumps({"id": call["id"], "outputs": reply}), flush=True)
"#;

struct Project(PathBuf);

impl Project {
    fn new(label: &str, yaml: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ayanami-runner-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("worker.py"), WORKER).unwrap();
        std::fs::write(dir.join("ayanami.yaml"), yaml).unwrap();
        Self(dir)
    }

    fn runner(&self, service: &str) -> Runner {
        let composition = ayanami_composition::load(Path::new(&self.0)).unwrap();
        Runner::new(&composition, service)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WORKER_YAML: &str = "
name: workers
services:
  s:
    functions:
      w:
        kind: worker
        run: python3 worker.py
        inputs: [text]
        outputs: [upper]
        timeout: 20s
";

fn text(value: &str) -> Map<String, Value> {
    Map::from_iter([("text".to_owned(), json!(value))])
}

#[tokio::test]
async fn one_worker_process_answers_many_calls_in_flight() {
    let project = Project::new("many", WORKER_YAML);
    let runner = Arc::new(project.runner("s"));
    let calls: Vec<_> = (0..32)
        .map(|n| {
            let runner = runner.clone();
            tokio::spawn(async move { runner.call(0, &text(&format!("call {n}"))).await })
        })
        .collect();
    let mut pids = Vec::new();
    for (n, call) in calls.into_iter().enumerate() {
        let outputs = call.await.unwrap().unwrap();
        assert_eq!(outputs["upper"], json!(format!("CALL {n}")));
        pids.push(outputs["pid"].clone());
    }
    pids.dedup();
    assert_eq!(pids.len(), 1, "one process served every call");
}

#[tokio::test]
async fn a_worker_error_reply_fails_only_that_call() {
    let project = Project::new("error", WORKER_YAML);
    let runner = project.runner("s");
    let error = runner.call(0, &text("bad")).await.unwrap_err();
    assert_eq!(error.to_string(), "function `s.w` failed: bad text");
    assert_eq!(
        runner.call(0, &text("ok")).await.unwrap()["upper"],
        json!("OK")
    );
}

#[tokio::test]
async fn a_dying_worker_fails_the_calls_it_held_and_is_restarted() {
    let project = Project::new("dies", WORKER_YAML);
    let runner = Arc::new(project.runner("s"));
    let first = runner.call(0, &text("before")).await.unwrap()["pid"].clone();

    let held = {
        let runner = runner.clone();
        tokio::spawn(async move { runner.call(0, &text("slow")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = runner.call(0, &text("die")).await.unwrap_err();
    assert_eq!(error.kind, CallErrorKind::Exit);
    assert!(
        error
            .to_string()
            .starts_with("function `s.w` worker stopped (exit status: 3)"),
        "{error}"
    );
    let held = held.await.unwrap().unwrap_err();
    assert!(held.to_string().contains("worker stopped"), "{held}");

    let after = runner.call(0, &text("after")).await.unwrap();
    assert_eq!(after["upper"], json!("AFTER"));
    assert_ne!(after["pid"], first, "a new process");
}

#[tokio::test]
async fn a_call_the_worker_never_answers_times_out() {
    let project = Project::new("slow", &WORKER_YAML.replace("timeout: 20s", "timeout: 2s"));
    let runner = project.runner("s");
    let started = Instant::now();
    let error = runner.call(0, &text("slow")).await.unwrap_err();
    assert_eq!(error.kind, CallErrorKind::Timeout);
    assert_eq!(error.to_string(), "function `s.w` got no reply within 2s");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        runner.call(0, &text("next")).await.unwrap()["upper"],
        json!("NEXT")
    );
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_wait() {
    let yaml = "
name: limited
services:
  s:
    functions:
      nap:
        kind: exec
        run: sh -c 'sleep 0.3; echo {}'
        concurrency: 2
";
    let project = Project::new("limit", yaml);
    let runner = Arc::new(project.runner("s"));
    let started = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let runner = runner.clone();
            tokio::spawn(async move { runner.call(0, &Map::new()).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600),
        "two at a time: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1150),
        "but two at once: {took:?}"
    );
}

#[test]
fn calls_beyond_the_concurrency_and_the_queue_are_refused_until_one_ends() {
    let project = Project::new(
        "admit",
        "name: t\nservices:\n  s:\n    functions:\n      f: {kind: cmd, run: 'echo $input', concurrency: 2}\n",
    );
    let runner = project.runner("s");
    let limit = 2 + ayanami_function::MAX_QUEUED_CALLS;
    let mut admitted: Vec<_> = (0..limit).map(|_| runner.admit(0).unwrap()).collect();
    assert_eq!(runner.in_flight(), limit);

    let error = runner.admit(0).unwrap_err();
    assert_eq!(error.kind, CallErrorKind::Overloaded);
    assert_eq!(
        error.to_string(),
        format!("function `s.f` has {limit} calls running and waiting, and takes no more for now")
    );
    admitted.pop();
    assert!(runner.admit(0).is_ok());
}

fn resident_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib >> 10
}

#[tokio::test]
async fn a_worker_that_stops_reading_stdin_holds_a_bounded_backlog() {
    let yaml = "
name: deaf
services:
  s:
    functions:
      w:
        kind: worker
        run: python3 -c 'import time; time.sleep(3600)'
        inputs: [text]
        timeout: 100ms
        concurrency: 64
";
    let project = Project::new("deaf", yaml);
    let runner = Arc::new(project.runner("s"));
    let inputs = Arc::new(text(&"x".repeat(256 << 10)));
    let before = resident_mib();
    let calls: Vec<_> = (0..400)
        .map(|_| {
            let (runner, inputs) = (runner.clone(), inputs.clone());
            tokio::spawn(async move { runner.call(0, &inputs).await })
        })
        .collect();
    for call in calls {
        let error = call.await.unwrap().unwrap_err();
        assert_eq!(error.kind, CallErrorKind::Timeout, "{error}");
    }
    // Unbounded, the 400 lines of 256 KiB would all stay queued: 100 MiB.
    let grown = resident_mib().saturating_sub(before);
    assert!(
        grown < 64,
        "400 calls of 256 KiB to a worker that reads nothing grew memory by {grown} MiB"
    );
}

#[tokio::test]
async fn a_worker_writing_bytes_that_are_not_utf8_on_stderr_keeps_answering() {
    let worker = r#"
import json, sys
sys.stderr.buffer.write(b"\xff\xfe not text\n")
sys.stderr.flush()
for line in sys.stdin:
    call = json.loads(line)
    sys.stderr.write("x" * 1024 + "\n")
    sys.stderr.flush()
    print(json.dumps({"id": call["id"], "outputs": {"upper": "OK"}}), flush=True)
"#;
    let project = Project::new("stderr", &WORKER_YAML.replace("20s", "5s"));
    std::fs::write(project.0.join("worker.py"), worker).unwrap();
    let runner = project.runner("s");
    for n in 0..200 {
        let outputs = runner.call(0, &text("a")).await;
        assert_eq!(
            outputs.map(|o| o["upper"].clone()).ok(),
            Some(json!("OK")),
            "call {n}"
        );
    }
}
