//! `--log-format json`: one JSON object per line, carrying the event ID.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Process, ayanami, example_dir, request};

#[test]
fn json_logs_carry_the_event_id_of_each_request_and_call() {
    let mut command = ayanami(&["run", "--port", "0", "--log-format", "json"]);
    command.arg(example_dir()).env("AYANAMI_LOG", "debug");
    let (mut process, line) = Process::start(command, "gateway listening");
    let listening: Value = serde_json::from_str(&line).expect("a JSON line");
    let addr: SocketAddr = listening["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line}"));

    let response = request(addr, "GET", "/hello/shinji", &[], b"");
    assert_eq!(response.status, 200);
    let line = process.wait_for("\"message\":\"request\"", Duration::from_secs(5));
    let logged: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(logged["route"], "/hello/{name}", "{line}");
    assert_eq!(logged["status"], 200, "{line}");
    let id = logged["id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 32, "{line}");

    let log = process.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let call = lines
        .iter()
        .find(|l| l["message"] == "call done")
        .unwrap_or_else(|| panic!("no call line in:\n{log}"));
    assert_eq!(call["span"]["id"], id, "{call}");
}
