//! Helpers for `bench/flows.sh`, so that function start-ups do not hide the
//! cost of the bus:
//!
//! - `bench-helper worker`: an Ayanami `worker` that answers each call at
//!   once with `{"output": <its input>}`;
//! - `bench-helper echo`: the same as an `exec`, one call per process;
//! - `bench-helper kinds SECONDS`: the cost of a call of each function kind
//!   against plain Rust baselines, for `bench/functions.sh`;
//! - `bench-helper responder URL`: a NATS responder that echoes every
//!   request on `bench.echo`;
//! - `bench-helper floor URL PORT`: an axum server whose `/one` and `/two`
//!   make one and two request-replies to that responder with plain
//!   async-nats; the floor Ayanami over NATS is measured against.

mod kinds;

use std::io::{BufRead, Write};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use futures_util::StreamExt;
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["worker"] => worker(),
        ["echo"] => echo(),
        ["kinds", seconds] => {
            // As `ayanami` does, so that its cost is measured too.
            // SAFETY: no other thread runs yet.
            unsafe { ayanami_function::guard::start() }
                .map_err(Into::into)
                .and_then(|()| kinds::run(seconds))
        }
        ["responder", url] => runtime().block_on(responder(url)),
        ["floor", url, port] => runtime().block_on(floor(url, port)),
        _ => Err(
            "usage: bench-helper worker | echo | kinds SECONDS | responder URL | floor URL PORT"
                .into(),
        ),
    };
    if let Err(error) = result {
        eprintln!("bench-helper: {error}");
        std::process::exit(1);
    }
}

type Result = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a tokio runtime starts")
}

fn worker() -> Result {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lines() {
        let request: Value = serde_json::from_str(&line?)?;
        let reply = json!({"id": request["id"], "outputs": {"output": request["inputs"]["input"]}});
        serde_json::to_writer(&mut stdout, &reply)?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
    }
    Ok(())
}

fn echo() -> Result {
    let inputs: Value = serde_json::from_reader(std::io::stdin().lock())?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &json!({"output": inputs["input"]}))?;
    stdout.flush()?;
    Ok(())
}

async fn responder(url: &str) -> Result {
    let client = async_nats::connect(url).await?;
    let mut requests = client
        .queue_subscribe("bench.echo", "bench".to_owned())
        .await?;
    client.flush().await?;
    println!("responder ready");
    while let Some(message) = requests.next().await {
        if let Some(reply) = message.reply {
            client.publish(reply, message.payload).await?;
        }
    }
    Ok(())
}

async fn floor(url: &str, port: &str) -> Result {
    let client = async_nats::connect(url).await?;
    let router = Router::new()
        .route(
            "/one",
            get(|State(c): State<async_nats::Client>| round_trips(c, 1)),
        )
        .route(
            "/two",
            get(|State(c): State<async_nats::Client>| round_trips(c, 2)),
        )
        .with_state(client);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

async fn round_trips(client: async_nats::Client, count: usize) -> String {
    let mut payload = axum::body::Bytes::from_static(b"\"/one\"");
    for _ in 0..count {
        match client.request("bench.echo", payload.clone()).await {
            Ok(reply) => payload = reply.payload,
            Err(error) => return format!("error: {error}"),
        }
    }
    String::from_utf8_lossy(&payload).into_owned()
}
