//! {{ service }}.{{ name }}: an Ayanami `worker` function.
//!
//! Ayanami starts this program once and keeps it: each call is one JSON line
//! on stdin, `{"id": 7, "inputs": {...}}`, answered by one JSON line on
//! stdout, `{"id": 7, "outputs": {...}}` or `{"id": 7, "error": "..."}`.
//! Print nothing else on stdout; stderr goes to Ayanami's log.
//! Build it with `cargo build --release` in this folder.

use std::io::{BufRead, Write};

use serde_json::{Map, Value, json};

fn handle(inputs: &Map<String, Value>) -> Result<Value, String> {
    let Some(input) = inputs.get("{{ input }}").and_then(Value::as_str) else {
        return Err("input `{{ input }}` must be a string".to_owned());
    };
    Ok(json!({"{{ output }}": format!("Hello {input}")}))
}

fn main() {
    let mut stdout = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let request: Value = match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(error) => {
                eprintln!("not a request ({error}): {line}");
                continue;
            }
        };
        let answer = match request["inputs"].as_object() {
            Some(inputs) => handle(inputs),
            None => Err("the request has no `inputs` object".to_owned()),
        };
        let reply = match answer {
            Ok(outputs) => json!({"id": request["id"], "outputs": outputs}),
            Err(error) => json!({"id": request["id"], "error": error}),
        };
        if writeln!(stdout, "{reply}").and_then(|()| stdout.flush()).is_err() {
            break;
        }
    }
}
