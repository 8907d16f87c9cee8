//! {{ service }}.{{ name }}: an Ayanami `exec` function.
//!
//! Ayanami runs this program once per call, from the project folder: the
//! inputs arrive as one JSON object on stdin, the outputs leave as one JSON
//! object on stdout. A non-zero exit fails the call with the end of stderr.
//! Build it with `cargo build --release` in this folder.

use std::io::Read;
use std::process::ExitCode;

use serde_json::{Map, Value, json};

fn handle(inputs: &Map<String, Value>) -> Result<Value, String> {
    let Some(input) = inputs.get("{{ input }}").and_then(Value::as_str) else {
        return Err("input `{{ input }}` must be a string".to_owned());
    };
    Ok(json!({"{{ output }}": format!("Hello {input}")}))
}

fn main() -> ExitCode {
    let mut text = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("cannot read stdin: {error}");
        return ExitCode::FAILURE;
    }
    let inputs: Map<String, Value> = match serde_json::from_str(&text) {
        Ok(inputs) => inputs,
        Err(error) => {
            eprintln!("the inputs are not one JSON object: {error}");
            return ExitCode::FAILURE;
        }
    };
    match handle(&inputs) {
        Ok(outputs) => {
            println!("{outputs}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
