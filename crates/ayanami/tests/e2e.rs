//! The example application through the real binary, over loopback HTTP.

use std::process::Command;

use crate::support::{Ayanami, TempDir, copy_example, encode, example_dir, figlet};

/// `html.pre` escapes what it wraps, as any HTML function must.
fn pre(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!("<pre>{escaped}</pre>")
}

#[test]
fn the_example_answers_its_three_routes_byte_for_byte() {
    let ayanami = Ayanami::run(&example_dir(), &[]);

    let root = ayanami.get("/");
    assert_eq!((root.status, root.text().as_str()), (200, "Hello there"));
    assert_eq!(
        root.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let hello = ayanami.get("/hello/shinji");
    assert_eq!((hello.status, hello.text().as_str()), (200, "Hello shinji"));

    let banner = ayanami.get("/banner?text=hi");
    assert_eq!(banner.status, 200);
    assert_eq!(banner.text(), format!("<pre>{}</pre>", figlet("hi")));
}

#[test]
fn banner_text_reaches_figlet_as_one_argument_whatever_it_holds() {
    let ayanami = Ayanami::run(&example_dir(), &[]);
    let texts = [
        "hello world",
        "it's \"quoted\"",
        "hi;rm -rf /",
        "$(touch /tmp/ayanami-pwned) `id`",
        "Grüße, Ayanami",
        "a & <b>",
    ];
    for text in texts {
        let response = ayanami.get(&format!("/banner?text={}", encode(text)));
        assert_eq!(response.status, 200, "{text}: {}", response.text());
        assert_eq!(response.text(), pre(&figlet(text)), "{text}");
    }
    assert!(!std::path::Path::new("/tmp/ayanami-pwned").exists());
}

#[test]
fn a_missing_figlet_gives_500() {
    let project = TempDir::new("missing-figlet");
    copy_example(project.path(), |yaml| {
        yaml.replace("run: figlet $input", "run: figlet-is-not-installed $input")
    });
    let ayanami = Ayanami::run(project.path(), &[]);

    let response = ayanami.get("/banner?text=hi");
    assert_eq!(
        (response.status, response.text().as_str()),
        (500, "Internal Server Error")
    );
    let log = ayanami.log();
    assert!(
        log.contains("could not start `figlet-is-not-installed`"),
        "{log}"
    );
}

#[test]
fn a_failing_figlet_gives_500() {
    let project = TempDir::new("failing-figlet");
    copy_example(project.path(), |yaml| {
        yaml.replace("run: figlet $input", "run: figlet -f no-such-font $input")
    });
    let ayanami = Ayanami::run(project.path(), &[]);

    let response = ayanami.get("/banner?text=hi");
    assert_eq!(
        (response.status, response.text().as_str()),
        (500, "Internal Server Error")
    );
    assert!(
        ayanami.log().contains("exited with code"),
        "{}",
        ayanami.log()
    );
}

#[test]
fn an_unknown_route_gives_404_and_a_wrong_method_405() {
    let ayanami = Ayanami::run(&example_dir(), &[]);
    let response = ayanami.get("/nowhere");
    assert_eq!(
        (response.status, response.text().as_str()),
        (404, "Not Found")
    );

    let response = crate::support::request(ayanami.addr, "POST", "/banner", &[], b"x");
    assert_eq!(response.status, 405);
    assert!(response.header("allow").is_some_and(|a| a.contains("GET")));
}

#[test]
fn fifty_concurrent_requests_each_get_their_own_name() {
    let ayanami = Ayanami::run(&example_dir(), &[]);
    let addr = ayanami.addr;
    let workers: Vec<_> = (0..50)
        .map(|n| {
            std::thread::spawn(move || {
                let path = format!("/hello/pilot-{n}");
                let response = crate::support::request(addr, "GET", &path, &[], b"");
                (n, response.status, response.text())
            })
        })
        .collect();
    for worker in workers {
        let (n, status, body) = worker.join().unwrap();
        assert_eq!((status, body), (200, format!("Hello pilot-{n}")));
    }
}

#[test]
fn every_request_is_logged_with_its_id_status_and_duration() {
    let ayanami = Ayanami::run(&example_dir(), &[]);
    assert_eq!(ayanami.get("/").status, 200);
    // The line is written once the response is on its way; give the
    // reader of the process's stderr a moment to catch up.
    let started = std::time::Instant::now();
    let is_line = |l: &&str| l.contains(" request ") && l.contains("route=/ ");
    while !ayanami.log().lines().any(|l| is_line(&l)) {
        assert!(
            started.elapsed().as_secs() < 5,
            "no request line in:\n{}",
            ayanami.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = ayanami.log();
    let line = log.lines().find(is_line).unwrap();
    let id = line.split("id=").nth(1).unwrap().split(' ').next().unwrap();
    assert_eq!(id.len(), 32, "{line}");
    assert!(
        line.contains("status=200") && line.contains("duration_ms="),
        "{line}"
    );
}

#[test]
fn init_writes_the_example_and_refuses_to_overwrite() {
    let parent = TempDir::new("init");
    let project = parent.path().join("pilot");
    let ayanami = env!("CARGO_BIN_EXE_ayanami");

    let first = Command::new(ayanami)
        .arg("init")
        .arg(&project)
        .output()
        .unwrap();
    assert!(first.status.success(), "{first:?}");
    let yaml = std::fs::read_to_string(project.join("ayanami.yaml")).unwrap();
    assert!(yaml.contains("\nname: pilot\n"), "{yaml}");
    assert!(project.join("html/pre.py").is_file());

    let check = Command::new(ayanami)
        .arg("check")
        .arg(&project)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    std::fs::write(project.join("ayanami.yaml"), "mine").unwrap();
    let again = Command::new(ayanami)
        .arg("init")
        .arg(&project)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(project.join("ayanami.yaml")).unwrap(),
        "mine"
    );
}

#[test]
fn the_initialised_project_serves_like_the_example() {
    let parent = TempDir::new("init-run");
    let project = parent.path().join("fresh");
    let ayanami = env!("CARGO_BIN_EXE_ayanami");
    let init = Command::new(ayanami)
        .arg("init")
        .arg(&project)
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");

    let running = Ayanami::run(&project, &[]);
    assert_eq!(running.get("/hello/rei").text(), "Hello rei");
}

#[test]
fn no_answer_by_the_gateway_deadline_gives_504() {
    let project = TempDir::new("deadline");
    copy_example(project.path(), |yaml| {
        yaml.replace("timeout: 30s", "timeout: 500ms")
            .replace("run: python3 greeting/hello.py", "run: sleep 3")
    });
    let ayanami = Ayanami::run(project.path(), &[]);

    let started = std::time::Instant::now();
    let response = ayanami.get("/hello/late");
    assert_eq!(
        (response.status, response.text().as_str()),
        (504, "Gateway Timeout")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(ayanami.get("/").status, 200, "the gateway still serves");
}

#[test]
fn a_client_that_goes_away_still_gets_its_request_logged() {
    use std::io::Write;

    let project = TempDir::new("abandoned");
    copy_example(project.path(), |yaml| {
        yaml.replace("run: python3 greeting/hello.py", "run: sleep 2")
    });
    let ayanami = Ayanami::run(project.path(), &[]);
    let mut stream = std::net::TcpStream::connect(ayanami.addr).unwrap();
    stream
        .write_all(b"GET /hello/gone HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(stream);

    let started = std::time::Instant::now();
    while !ayanami.log().contains("request abandoned by the client") {
        assert!(started.elapsed().as_secs() < 5, "{}", ayanami.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = ayanami.log();
    let line = log.lines().find(|l| l.contains("abandoned")).unwrap();
    assert!(
        line.contains("status=499") && line.contains("route=/hello/{name}"),
        "{line}"
    );
}

#[test]
fn invoke_starts_a_flow_and_prints_its_outputs() {
    let output = crate::support::ayanami(&["invoke", "hello", "--dir"])
        .arg(example_dir())
        .args(["--in", r#"request={"params": {"name": "rei"}}"#])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, serde_json::json!({"content": "Hello rei"}));

    let output = crate::support::ayanami(&["invoke", "banner", "--dir"])
        .arg(example_dir())
        .args(["--json", r#"{"request": {"form": {"text": ["hi"]}}}"#])
        .output()
        .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["content"], serde_json::json!(pre(&figlet("hi"))));
    assert_eq!(printed["code"], serde_json::json!(200));
}

#[test]
fn invoke_exits_non_zero_with_the_flow_error() {
    let project = TempDir::new("invoke-fails");
    copy_example(project.path(), |yaml| {
        yaml.replace("run: figlet $input", "run: figlet-is-not-installed $input")
    });
    let output = crate::support::ayanami(&["invoke", "banner", "--dir"])
        .arg(project.path())
        .args(["--in", r#"request={"form": {"text": ["hi"]}}"#])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: flow `banner` failed: function `cmd.figlet` could not start `figlet-is-not-installed`"),
        "{stderr}"
    );
}

#[test]
fn invoke_names_missing_and_unknown_inputs() {
    let run = |args: &[&str]| {
        let output = crate::support::ayanami(&["invoke", "hello", "--dir"])
            .arg(example_dir())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(
        run(&[]).contains("flow `hello` needs input `request`; pass it as `--in request=VALUE`")
    );
    assert!(
        run(&["--in", "x=1"]).contains("flow `hello` has no input `x`; its inputs are `request`")
    );
    assert!(run(&["--json", "[1]"]).contains("`--json` must be a JSON object"));
}

#[test]
fn a_client_that_trickles_its_headers_is_cut_off() {
    use std::io::{Read, Write};

    let ayanami = Ayanami::run(&example_dir(), &[]);
    let mut stream = std::net::TcpStream::connect(ayanami.addr).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest);
    assert!(read.is_ok(), "the server closed the connection: {read:?}");
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(15), "{waited:?}");
    assert_eq!(ayanami.get("/").status, 200, "others are still served");
}
