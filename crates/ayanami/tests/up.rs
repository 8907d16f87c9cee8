//! `ayanami up` killed outright takes its children with it.

use std::time::{Duration, Instant};

use crate::support::{Process, ayanami, example_dir};

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
    let deadline = Instant::now() + Duration::from_secs(15);
    while started.iter().any(|&pid| runs(pid)) {
        assert!(
            Instant::now() < deadline,
            "still running 15 s after up was killed: {:?}",
            started.iter().filter(|&&pid| runs(pid)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
