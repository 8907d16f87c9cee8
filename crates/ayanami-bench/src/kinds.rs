//! `bench-helper kinds SECONDS`: the cost of a call of each function kind,
//! through Ayanami's function runner, against a baseline in the same run
//! (`bench-helper` must be on PATH, as functions name programs):
//!
//! - `exec` of a small Rust program, one call at a time, against a plain
//!   loop that spawns the same program, writes it the same JSON and waits
//!   (with std's processes, and with tokio's as Ayanami uses);
//! - `http` to a loopback axum server, one call at a time, against a plain
//!   hyper client posting the same JSON over one kept connection;
//! - a Python function as `worker` and as `exec`, 32 calls in flight, and
//!   32 threads spawning it in a plain loop.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use ayanami_function::Runner;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Result;

type Outcome<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PYTHON: &str = "import json, sys
inputs = json.load(sys.stdin)
json.dump({\"output\": inputs[\"input\"]}, sys.stdout)
";

const PYTHON_WORKER: &str = "import json, sys
for line in sys.stdin:
    request = json.loads(line)
    reply = {\"id\": request[\"id\"], \"outputs\": {\"output\": request[\"inputs\"][\"input\"]}}
    print(json.dumps(reply), flush=True)
";

/// How many rounds of each kind and its baselines alternate.
const ROUNDS: u32 = 20;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Calls made and the time they took.
#[derive(Default)]
struct Rate {
    calls: u64,
    elapsed: Duration,
}

impl Rate {
    fn add(&mut self, other: &Self) {
        self.calls += other.calls;
        self.elapsed += other.elapsed;
    }

    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    fn micros_per_call(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.calls as f64
    }
}

pub(crate) fn run(seconds: &str) -> Result {
    let seconds: f64 = seconds.parse()?;
    let span = Duration::from_secs_f64(seconds);
    let dir = std::env::temp_dir().join(format!("ayanami-bench-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let outcome = measure(&dir, span);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn measure(dir: &Path, span: Duration) -> Result {
    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let router = Router::new().route("/echo", post(echo));
    runtime.spawn(async move { axum::serve(listener, router).await });

    std::fs::write(dir.join("echo.py"), PYTHON)?;
    std::fs::write(dir.join("worker.py"), PYTHON_WORKER)?;
    let python = interpreter()?;
    let yaml = format!(
        "name: kinds
services:
  bench:
    functions:
      exec:
        kind: exec
        run: bench-helper echo
        inputs: [input]
        outputs: [output]
      http:
        kind: http
        url: http://{addr}/echo
        inputs: [input]
        outputs: [output]
      python-exec:
        kind: exec
        run: {python} echo.py
        inputs: [input]
        outputs: [output]
        concurrency: 32
        timeout: 60s
      python-worker:
        kind: worker
        run: {python} worker.py
        inputs: [input]
        outputs: [output]
        timeout: 60s
"
    );
    std::fs::write(dir.join("ayanami.yaml"), yaml)?;
    let composition = ayanami_composition::load(dir)?;
    let runner = Arc::new(Runner::new(&composition, "bench"));

    println!("{:<44} {:>10} {:>10}", "", "calls/s", "µs/call");
    let row = |name: &str, rate: &Rate| {
        println!(
            "{name:<44} {:>10.0} {:>10.1}",
            rate.per_second(),
            rate.micros_per_call()
        );
    };

    // Other work on the machine comes and goes; alternating short rounds
    // of a kind and its baselines exposes them to the same conditions.
    let round = span / ROUNDS;
    let echo = ["bench-helper".to_owned(), "echo".to_owned()];
    let url = format!("http://{addr}/echo");
    let mut rates: [Rate; 5] = Default::default();
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        let spawn = spawn_loop(&echo, round)?;
        let argv = echo.clone();
        let tokio_spawn =
            runtime.block_on(async move { tokio::spawn(tokio_spawn_loop(argv, round)).await? })?;
        let exec = runtime.block_on(calls(&runner, 0, 1, round))?;
        let url = url.clone();
        let raw = runtime.block_on(async move { tokio::spawn(post_loop(url, round)).await? })?;
        let http = runtime.block_on(calls(&runner, 1, 1, round))?;
        ratios[0].push(exec.micros_per_call() / spawn.micros_per_call());
        ratios[1].push(exec.micros_per_call() / tokio_spawn.micros_per_call());
        ratios[2].push(http.micros_per_call() / raw.micros_per_call());
        for (total, rate) in rates.iter_mut().zip([spawn, tokio_spawn, exec, raw, http]) {
            total.add(&rate);
        }
    }
    let [spawn, tokio_spawn, exec, raw, http] = rates;
    row("spawn + write + read + wait (plain Rust)", &spawn);
    row("the same with tokio::process (plain Rust)", &tokio_spawn);
    row("exec, one at a time", &exec);
    row("POST over one connection (plain hyper)", &raw);
    row("http, one at a time", &http);

    let python_argv = [python.clone(), dir.join("echo.py").display().to_string()];
    let python_spawn = spawn_threads(&python_argv, 32, span)?;
    row("python, 32 plain spawns in flight", &python_spawn);
    let python_exec = runtime.block_on(calls(&runner, 2, 32, span))?;
    row("python exec, 32 in flight", &python_exec);
    let python_worker = runtime.block_on(calls(&runner, 3, 32, span))?;
    row("python worker, 32 in flight", &python_worker);

    println!();
    let [exec_spawn, exec_tokio, http_raw] = ratios.map(median);
    println!("time per call, the median of {ROUNDS} rounds (the whole run's in brackets):");
    println!(
        "exec / plain spawn:                     {exec_spawn:.2} ({:.2}) (goal <= 1.3)",
        exec.micros_per_call() / spawn.micros_per_call()
    );
    println!(
        "exec / tokio::process:                  {exec_tokio:.2} ({:.2})",
        exec.micros_per_call() / tokio_spawn.micros_per_call()
    );
    println!(
        "http / plain hyper:                     {http_raw:.2} ({:.2})",
        http.micros_per_call() / raw.micros_per_call()
    );
    println!("calls per second, 32 in flight:");
    println!(
        "python exec / plain spawns:             {:.2}",
        python_exec.per_second() / python_spawn.per_second()
    );
    println!(
        "python worker / python exec:            {:.1} (goal >= 20)",
        python_worker.per_second() / python_exec.per_second()
    );
    Ok(())
}

/// The Python interpreter itself: `python3` on PATH may be a shim (pyenv's
/// is a shell script) whose own start-up would be measured as exec's.
fn interpreter() -> Outcome<String> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()?;
    let path = String::from_utf8(output.stdout)?.trim().to_owned();
    if !output.status.success() || path.is_empty() {
        return Err("python3 does not run".into());
    }
    Ok(path)
}

async fn echo(body: Bytes) -> ([(&'static str, &'static str); 1], String) {
    let inputs: Value = serde_json::from_slice(&body).unwrap_or_default();
    let outputs = json!({"output": inputs["input"]}).to_string();
    ([("content-type", "application/json")], outputs)
}

fn inputs() -> Map<String, Value> {
    Map::from_iter([("input".to_owned(), json!("hello"))])
}

/// Calls function `index` with `in_flight` calls at a time for `span`,
/// after one call that starts whatever the function keeps.
async fn calls(
    runner: &Arc<Runner>,
    index: usize,
    in_flight: usize,
    span: Duration,
) -> Outcome<Rate> {
    runner.call(index, &inputs()).await?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let runner = runner.clone();
            tokio::spawn(async move {
                let inputs = inputs();
                let mut calls = 0u64;
                while started.elapsed() < span {
                    runner.call(index, &inputs).await?;
                    calls += 1;
                }
                Ok::<u64, ayanami_function::CallError>(calls)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(Rate {
        calls: total,
        elapsed: started.elapsed(),
    })
}

/// The baseline of `exec`: spawn `argv`, give it the inputs, read its
/// answer and wait for it, one call after another.
fn spawn_loop(argv: &[String], span: Duration) -> Outcome<Rate> {
    let input = serde_json::to_vec(&inputs())?;
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < span {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("piped").write_all(&input)?;
        let mut answer = Vec::new();
        child
            .stdout
            .take()
            .expect("piped")
            .read_to_end(&mut answer)?;
        let status = child.wait()?;
        check(status.success(), &answer)?;
        calls += 1;
    }
    Ok(Rate {
        calls,
        elapsed: started.elapsed(),
    })
}

/// [`spawn_loop`] on `threads` threads at once.
fn spawn_threads(argv: &[String], threads: usize, span: Duration) -> Outcome<Rate> {
    let started = Instant::now();
    let loops: Vec<_> = (0..threads)
        .map(|_| {
            let argv = argv.to_vec();
            std::thread::spawn(move || spawn_loop(&argv, span).map(|rate| rate.calls))
        })
        .collect();
    let mut calls = 0;
    for handle in loops {
        calls += handle.join().map_err(|_| "a spawning thread panicked")??;
    }
    Ok(Rate {
        calls,
        elapsed: started.elapsed(),
    })
}

fn check(success: bool, answer: &[u8]) -> Outcome<()> {
    let outputs: Value = serde_json::from_slice(answer)?;
    if !success || outputs["output"] != "hello" {
        return Err("the echo program answered wrongly".into());
    }
    Ok(())
}

/// [`spawn_loop`] with tokio's child processes, as Ayanami's are.
async fn tokio_spawn_loop(argv: [String; 2], span: Duration) -> Outcome<Rate> {
    let input = serde_json::to_vec(&inputs())?;
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < span {
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("piped").write_all(&input).await?;
        let mut answer = Vec::new();
        child
            .stdout
            .take()
            .expect("piped")
            .read_to_end(&mut answer)
            .await?;
        let status = child.wait().await?;
        check(status.success(), &answer)?;
        calls += 1;
    }
    Ok(Rate {
        calls,
        elapsed: started.elapsed(),
    })
}

/// The baseline of `http`: POST the inputs with a plain hyper client.
async fn post_loop(url: String, span: Duration) -> Outcome<Rate> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let input = Bytes::from(serde_json::to_vec(&inputs())?);
    let uri: hyper::Uri = url.parse()?;
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < span {
        let request = hyper::Request::post(uri.clone())
            .header("content-type", "application/json")
            .body(Full::new(input.clone()))?;
        let response = client.request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        let outputs: Value = serde_json::from_slice(&body)?;
        if outputs["output"] != "hello" {
            return Err("the echo server answered wrongly".into());
        }
        calls += 1;
    }
    Ok(Rate {
        calls,
        elapsed: started.elapsed(),
    })
}
