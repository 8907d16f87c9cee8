//! `ayanami watch` follows the example's events over NATS.

use std::time::{Duration, Instant};

use ayanami_testing::NatsServer;

use crate::support::{Ayanami, Process, ayanami, example_dir};

/// The events of one `GET /banner` in the order the flow causes them.
const BANNER: [&str; 6] = [
    "trig.request.get.banner.out",
    "srvc.cmd.figlet.in.input",
    "srvc.cmd.figlet.out.output",
    "srvc.html.pre.in.input",
    "srvc.html.pre.out.output",
    "trig.response.get.banner.in.content",
];

fn watch(server: &NatsServer, pattern: Option<&str>) -> Process {
    let url = server.url();
    let mut args = vec!["watch", "--nats", &url];
    args.extend(pattern);
    Process::start(ayanami(&args), "watching").0
}

/// The (ID, event, value) of each line `ayanami watch` printed.
fn events(log: &str) -> Vec<(String, String, String)> {
    log.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, "  ");
            let (_time, id, event) = (parts.next()?, parts.next()?, parts.next()?);
            let value = parts.next().unwrap_or_default();
            Some((id.to_owned(), event.to_owned(), value.to_owned()))
        })
        .collect()
}

#[test]
fn watch_sees_the_events_of_one_request_in_order() {
    let server = NatsServer::start();
    let mut watcher = watch(&server, None);
    let ayanami = Ayanami::run_with(&example_dir(), &["--nats", &server.url()], &[]);

    assert_eq!(ayanami.get("/banner?text=hi").status, 200);
    watcher.wait_for(
        "trig.response.get.banner.in.content",
        Duration::from_secs(10),
    );

    let events = events(&watcher.log());
    let request = events
        .iter()
        .find(|(_, event, _)| event == BANNER[0])
        .unwrap_or_else(|| panic!("no request event in:\n{}", watcher.log()));
    let id = &request.0;
    assert_eq!(id.len(), 32, "{request:?}");
    let seen: Vec<&str> = events
        .iter()
        .filter(|(event_id, event, _)| event_id == id && BANNER.contains(&event.as_str()))
        .map(|(_, event, _)| event.as_str())
        .collect();
    assert_eq!(seen, BANNER, "{}", watcher.log());
    let input = events
        .iter()
        .find(|(_, event, _)| event == "srvc.cmd.figlet.in.input");
    assert_eq!(input.map(|(_, _, value)| value.as_str()), Some("\"hi\""));
}

#[test]
fn watch_of_a_pattern_sees_only_the_events_it_matches() {
    let server = NatsServer::start();
    let mut figlet = watch(&server, Some("*.srvc.cmd.>"));
    let ayanami = Ayanami::run_with(&example_dir(), &["--nats", &server.url()], &[]);

    assert_eq!(ayanami.get("/").status, 200);
    assert_eq!(ayanami.get("/banner?text=hi").status, 200);
    figlet.wait_for("srvc.cmd.figlet.out.output", Duration::from_secs(10));

    let seen: Vec<String> = events(&figlet.log())
        .into_iter()
        .map(|(_, event, _)| event)
        .collect();
    assert_eq!(
        seen,
        ["srvc.cmd.figlet.in.input", "srvc.cmd.figlet.out.output"],
        "{}",
        figlet.log()
    );
}

#[test]
fn run_with_trace_logs_the_events_of_one_request_in_order() {
    let ayanami = Ayanami::run_with(&example_dir(), &["--trace"], &[]);
    assert_eq!(ayanami.get("/banner?text=hi").status, 200);

    let deadline = Instant::now() + Duration::from_secs(5);
    let traced = |log: &str| -> Vec<(String, String)> {
        log.lines()
            .filter(|l| l.contains("ayanami::trace"))
            .filter_map(|l| Some((field(l, "id")?, field(l, "event")?)))
            .collect()
    };
    let events = loop {
        let events = traced(&ayanami.log());
        if events.iter().any(|(_, e)| e == BANNER[5]) {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "no trace of the response in:\n{}",
            ayanami.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let id = &events[0].0;
    let seen: Vec<&str> = events
        .iter()
        .filter(|(event_id, event)| event_id == id && BANNER.contains(&event.as_str()))
        .map(|(_, event)| event.as_str())
        .collect();
    assert_eq!(seen, BANNER, "{}", ayanami.log());
}

/// The value of `name=` in a log line.
fn field(line: &str, name: &str) -> Option<String> {
    let value = line.split(&format!(" {name}=")).nth(1)?;
    value.split_whitespace().next().map(str::to_owned)
}
