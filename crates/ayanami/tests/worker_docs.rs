//! The ten-line Python worker of docs/functions.md, run as the docs show it.

use std::path::Path;

use crate::support::{TempDir, ayanami};

/// The Python block that follows `A complete worker in Python` in the docs.
fn documented_worker() -> String {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/functions.md");
    let text = std::fs::read_to_string(docs).unwrap();
    let (_, after) = text
        .split_once("A complete worker in Python, ten lines:")
        .expect("the docs show a Python worker");
    let (_, block) = after.split_once("```python\n").unwrap();
    let (code, _) = block.split_once("```").unwrap();
    code.to_owned()
}

#[test]
fn the_documented_python_worker_answers_and_fails_as_the_docs_say() {
    let worker = documented_worker();
    assert_eq!(worker.lines().count(), 10, "{worker}");
    let project = TempDir::new("worker-docs");
    std::fs::write(project.path().join("upper.py"), worker).unwrap();
    let yaml = "name: docs
services:
  text:
    functions:
      upper:
        kind: worker
        run: python3 upper.py
        inputs: [text]
        outputs: [upper]
flows:
  shout:
    inputs: [text]
    outputs: [upper]
    wirings:
      - var: text
        to: srvc.text.upper.in.text
      - from: srvc.text.upper.out.upper
        var: upper
";
    std::fs::write(project.path().join("ayanami.yaml"), yaml).unwrap();
    let invoke = |text: &str| {
        ayanami(&["invoke", "shout", "--in", text, "--dir"])
            .arg(project.path())
            .output()
            .unwrap()
    };

    let output = invoke("text=hi");
    assert!(output.status.success(), "{output:?}");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, serde_json::json!({"upper": "HI"}));

    let output = invoke("text=7");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: flow `shout` failed: function `text.upper` failed: 'int' object has no attribute 'upper'"),
        "{stderr}"
    );
}
