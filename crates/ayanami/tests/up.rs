//! Ayanami killed outright takes its children with it: `up` its
//! components and NATS, a component its functions' processes.

use std::time::{Duration, Instant};

use crate::support::{Ayanami, Process, TempDir, ayanami, example_dir, try_request};

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The command name may hold spaces; the fields after it do not.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let parent: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if parent == pid {
            found.push(child);
        }
    }
    found
}

/// Whether `pid` still runs (a zombie waiting for a reaper has stopped).
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'))
}

#[test]
fn killing_up_with_sigkill_stops_every_component_and_nats() {
    let mut up = ayanami(&["up", "--port", "0"]);
    up.arg(example_dir());
    let (mut up, _) = Process::start(up, "components ready");
    let started = children(up.pid());
    // nats-server and the seven components of the example.
    assert_eq!(
        started.len(),
        8,
        "children of up: {started:?}\n{}",
        up.log()
    );
    assert_eq!(up.signal_and_wait(9, Duration::from_secs(5)), None);
    assert_all_stop(&started);
}

/// Waits up to 15 s for every process of `pids` to stop.
fn assert_all_stop(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while pids.iter().any(|&pid| runs(pid)) {
        assert!(
            Instant::now() < deadline,
            "still running 15 s after their parent was killed: {:?}",
            pids.iter().filter(|&&pid| runs(pid)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killing_ayanami_with_sigkill_stops_the_function_calls_it_started() {
    let dir = TempDir::new("orphan-calls");
    std::fs::write(
        dir.path().join("ayanami.yaml"),
        "name: naps
gateway:
  routes:
    - path: /nap
services:
  slow:
    functions:
      nap:
        kind: exec
        run: python3 -c 'import time; time.sleep(60)'
        inputs: [request]
        outputs: [content]
        timeout: 60s
flows:
  nap:
    wirings:
      - from: trig.request.get.nap.out
        var: request
        to: srvc.slow.nap.in.request
      - from: srvc.slow.nap.out.content
        var: content
        to: trig.response.get.nap.in.content
",
    )
    .unwrap();
    let mut ayanami = Ayanami::run(dir.path(), &[]);
    let addr = ayanami.addr;
    let clients: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || try_request(addr, "GET", "/nap", &[], b"")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    let is_guard = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "ayanami-guard\n")
    };
    let (guards, calls) = loop {
        let (guards, calls): (Vec<u32>, Vec<u32>) = children(ayanami.process.pid())
            .into_iter()
            .partition(is_guard);
        if calls.len() == 3 {
            break (guards, calls);
        }
        assert!(
            Instant::now() < deadline,
            "3 calls did not start: {calls:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(guards.len(), 1, "one guard process: {guards:?}");
    assert_eq!(
        ayanami.process.signal_and_wait(9, Duration::from_secs(5)),
        None
    );
    // The guard kills the calls' groups and goes too.
    assert_all_stop(&calls);
    assert_all_stop(&guards);
    for client in clients {
        assert!(
            client.join().unwrap().is_err(),
            "no answer from a killed process"
        );
    }
}
