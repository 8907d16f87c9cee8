//! Golden-file tests of `ayanami check`.
//!
//! Each `<case>.yaml` in this folder is a broken composition, and
//! `<case>.err` is exactly what `ayanami check <case>.yaml` prints on stderr
//! for it, run from this folder. Run with `AYANAMI_BLESS=1` to write the
//! actual output into the `.err` files instead, then review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ayanami_check(dir: &Path, target: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ayanami"))
        .arg("check")
        .arg(target)
        .current_dir(dir)
        .env_remove("AYANAMI_LOG")
        .output()
        .expect("the ayanami binary runs")
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check")
}

#[test]
fn broken_compositions_report_their_mistakes() {
    let dir = cases_dir();
    let bless = std::env::var_os("AYANAMI_BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .expect("the cases folder is readable")
        .map(|entry| entry.expect("a readable entry").file_name())
        .filter_map(|name| name.to_str()?.strip_suffix(".yaml").map(str::to_owned))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no `*.yaml` cases in {}", dir.display());

    let mut failures = Vec::new();
    for case in &cases {
        let output = ayanami_check(&dir, &format!("{case}.yaml"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let golden = dir.join(format!("{case}.err"));
        if output.status.code() != Some(1) {
            failures.push(format!(
                "{case}: expected exit code 1, got {:?}\nstderr:\n{stderr}",
                output.status.code()
            ));
            continue;
        }
        if !stdout.is_empty() {
            failures.push(format!("{case}: expected no stdout, got:\n{stdout}"));
        }
        if bless {
            std::fs::write(&golden, stderr.as_bytes()).expect("the `.err` file is writable");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
            panic!(
                "{} is missing; run with AYANAMI_BLESS=1 to write it",
                golden.display()
            )
        });
        if stderr != expected {
            failures.push(format!(
                "{case}: stderr differs from {case}.err (AYANAMI_BLESS=1 rewrites it)\n--- expected\n{expected}--- actual\n{stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_golden_file_has_its_case() {
    let dir = cases_dir();
    for entry in std::fs::read_dir(&dir).expect("the cases folder is readable") {
        let path = entry.expect("a readable entry").path();
        if path.extension().is_some_and(|e| e == "err") {
            assert!(
                path.with_extension("yaml").exists(),
                "{} has no `.yaml` case beside it",
                path.display()
            );
        }
    }
}

#[test]
fn the_example_project_checks_clean() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/megazord");
    let output = ayanami_check(&example, ".");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.is_empty(), "stderr:\n{stderr}");
    assert_eq!(
        stdout,
        "ok: `megazord` has 3 services, 3 flows, 3 routes, 0 schedules and 0 subject triggers\n"
    );
}

#[test]
fn wirings_that_can_never_fire_are_warnings_not_errors() {
    let dir = crate::support::TempDir::new("check-warnings");
    let yaml = "name: lint
services:
  s:
    functions:
      used:
        kind: exec
        run: 'true'
        inputs: [x]
        outputs: [y]
      lonely:
        kind: exec
        run: 'true'
        inputs: [x]
        outputs: [y]
flows:
  f:
    inputs: [x]
    outputs: [y]
    wirings:
      - var: x
        to: srvc.s.used.in.x
      - from: srvc.s.used.out.y
        var: y
      - from: srvc.s.lonely.err
        var: y
";
    std::fs::write(dir.path().join("lint.yaml"), yaml).unwrap();
    let output = ayanami_check(dir.path(), "lint.yaml");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lint.yaml:10:7: warning: function `s.lonely` is never called by a flow\n\
         lint.yaml:24:15: warning: nothing calls `s.lonely`, so `from: srvc.s.lonely.err` never fires\n"
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("ok: "));
}

#[test]
fn triggers_that_start_no_flow_are_warnings() {
    let dir = crate::support::TempDir::new("check-idle-triggers");
    let yaml = "name: idle
triggers:
  schedule:
    nightly:
      cron: '0 0 3 * * *'
  subject:
    orders:
      subject: orders.created
";
    std::fs::write(dir.path().join("idle.yaml"), yaml).unwrap();
    let output = ayanami_check(dir.path(), "idle.yaml");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "idle.yaml:4:5: warning: schedule trigger `nightly` starts no flow; wire `from: trig.schedule.nightly.out` in one\n\
         idle.yaml:7:5: warning: subject trigger `orders` starts no flow; wire `from: trig.subject.orders.out` in one\n"
    );
}
