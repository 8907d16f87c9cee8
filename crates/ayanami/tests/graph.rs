//! Golden-file tests of `ayanami graph` on the example.
//!
//! Each `<case>.<ext>` in `tests/graph/` is exactly what `ayanami graph`
//! prints for the example with that case's arguments. Run with
//! `AYANAMI_BLESS=1` to write the actual output instead, then review the diff.

use std::path::Path;
use std::process::Command;

use crate::support::example_dir;

/// Each golden file, and the arguments after `ayanami graph --dir <example>`.
const CASES: [(&str, &[&str]); 4] = [
    ("megazord.mmd", &[]),
    ("megazord.dot", &["--format", "dot"]),
    ("banner.mmd", &["banner"]),
    ("banner.dot", &["banner", "--format", "dot"]),
];

fn graph(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ayanami"))
        .arg("graph")
        .arg("--dir")
        .arg(example_dir())
        .args(args)
        .env_remove("AYANAMI_LOG")
        .output()
        .expect("the ayanami binary runs")
}

#[test]
fn the_example_is_drawn_as_its_golden_files_say() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graph");
    let bless = std::env::var_os("AYANAMI_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for (file, args) in CASES {
        let output = graph(args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "graph {args:?} failed:\n{stderr}");
        let golden = dir.join(file);
        if bless {
            std::fs::write(&golden, stdout.as_bytes()).expect("the golden file is writable");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
            panic!("{} is missing; AYANAMI_BLESS=1 writes it", golden.display())
        });
        if stdout != expected {
            failures.push(format!(
                "{file}: output differs (AYANAMI_BLESS=1 rewrites it)\n--- expected\n{expected}--- actual\n{stdout}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_drawing_names_every_route_and_function_of_the_example() {
    for args in [&[][..], &["--format", "dot"], &["--format", "svg"]] {
        let output = graph(args);
        assert!(output.status.success(), "{args:?}: {output:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        let names = [
            "GET /",
            "GET /hello/{name}",
            "GET /banner",
            "cmd.figlet",
            "html.pre",
            "greeting.hello",
            "flow.banner.err",
        ];
        for name in names {
            assert!(text.contains(name), "`{name}` is not in:\n{text}");
        }
    }
}

#[test]
fn an_unknown_flow_is_refused_with_the_flows_there_are() {
    let output = graph(&["nope"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr
            .contains("unknown flow `nope`; the composition's flows are `root`, `hello`, `banner`"),
        "{stderr}"
    );
}

#[test]
fn schedules_and_subjects_are_drawn_as_triggers_of_their_flows_and_replies_back() {
    let dir = crate::support::TempDir::new("graph-triggers");
    let yaml = "name: clock
triggers:
  schedule:
    nightly: {cron: '0 0 3 * * *', timezone: Europe/Berlin}
  subject:
    orders: {subject: orders.created, reply: true}
flows:
  tick:
    outputs: [fire]
    wirings:
      - from: trig.schedule.nightly.out
        var: fire
  order:
    outputs: [message]
    wirings:
      - from: trig.subject.orders.out
        var: message
";
    std::fs::write(dir.path().join("ayanami.yaml"), yaml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ayanami"))
        .args(["graph", "--dir"])
        .arg(dir.path())
        .env_remove("AYANAMI_LOG")
        .output()
        .expect("the ayanami binary runs");
    assert!(output.status.success(), "{output:?}");
    let mermaid = String::from_utf8(output.stdout).unwrap();
    for line in [
        "  subgraph triggers[\"triggers\"]",
        "    trigger1([\"nightly: 0 0 3 * * * (Europe/Berlin)\"])",
        "    trigger2([\"orders: orders.created\"])",
        "  trigger1 --> var1",
        "  trigger2 --> var2",
        "  var2 -- \"reply\" --> trigger2",
    ] {
        assert!(
            mermaid.lines().any(|l| l == line),
            "`{line}` in:\n{mermaid}"
        );
    }
}
