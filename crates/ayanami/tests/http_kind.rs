//! `http` functions through the real binary, against a web service on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Ayanami, TempDir, ayanami, request};

/// A small HTTP/1.1 server on a free loopback port, keeping connections
/// alive, counting them, and answering by path:
///
/// - `/upper`: a POST of `{"text": ...}` with a JSON content type is
///   answered `{"upper": TEXT}`; anything else is a 400;
/// - `/fail`: `503` with a long plain-text body that ends in `the end`;
/// - `/html`: `200` with an HTML page;
/// - `/slow`: nothing for three seconds;
/// - `/held`: like `/upper`, after holding the call for 200 ms.
struct WebService {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    held: AtomicUsize,
    most_held: AtomicUsize,
}

impl WebService {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (counts.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let counts = shared.clone();
                std::thread::spawn(move || serve_connection(stream, &counts));
            }
        });
        Self { addr, counts, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for WebService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_connection(stream: TcpStream, counts: &Counts) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push(line.trim_end().to_owned()),
            }
        }
        let header = |name: &str| {
            head.iter().skip(1).find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request_line = head.first().cloned().unwrap_or_default();
        let json = header("content-type").as_deref() == Some("application/json");
        let (status, content_type, answer) = answer(&request_line, json, &body, counts);
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(
    request_line: &str,
    json: bool,
    body: &[u8],
    counts: &Counts,
) -> (&'static str, &'static str, String) {
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match path {
        "/held" => {
            let held = counts.held.fetch_add(1, Ordering::SeqCst) + 1;
            counts.most_held.fetch_max(held, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            counts.held.fetch_sub(1, Ordering::SeqCst);
            answer("POST /upper HTTP/1.1", json, body, counts)
        }
        "/upper" => {
            let text = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["text"].as_str().map(str::to_uppercase));
            match text {
                Some(text) if method == "POST" && json => {
                    let reply = serde_json::json!({"upper": text});
                    ("200 OK", "application/json", reply.to_string())
                }
                _ => ("400 Bad Request", "text/plain", "bad call".to_owned()),
            }
        }
        "/fail" => {
            let text = format!("{}the end", "overloaded; ".repeat(1000));
            ("503 Service Unavailable", "text/plain", text)
        }
        "/html" => ("200 OK", "text/html", "<html>hi</html>".to_owned()),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            (
                "200 OK",
                "application/json",
                r#"{"upper": "late"}"#.to_owned(),
            )
        }
        _ => ("404 Not Found", "text/plain", String::new()),
    }
}

/// A project whose function `web.upper` is served at `url`, called by the
/// flow `shout` and by the route `/shout/{text}`.
fn project(url: &str) -> TempDir {
    project_with(url, "")
}

/// Like [`project`], with more keys for the function, such as
/// `\n        concurrency: 2`.
fn project_with(url: &str, keys: &str) -> TempDir {
    let project = TempDir::new("http-kind");
    let yaml = format!(
        "name: web
gateway:
  routes:
    - path: /shout/{{text}}
services:
  web:
    functions:
      upper:
        kind: http
        url: {url}
        inputs: [text]
        outputs: [upper]
        timeout: 500ms{keys}
flows:
  shout:
    wirings:
      - from: trig.request.get.shout._text.out
        var: request
      - var: request.params.text
        to: srvc.web.upper.in.text
      - from: srvc.web.upper.out.upper
        var: content
        to: trig.response.get.shout._text.in.content
"
    );
    std::fs::write(project.path().join("ayanami.yaml"), yaml).unwrap();
    project
}

fn invoke(dir: &Path, text: &str) -> Output {
    ayanami(&["invoke", "shout", "--dir"])
        .arg(dir)
        .args([
            "--json",
            &format!(r#"{{"request": {{"params": {{"text": "{text}"}}}}}}"#),
        ])
        .output()
        .unwrap()
}

/// The `error:` line of a failed `ayanami invoke`.
fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().find(|line| line.starts_with("error: "));
    line.unwrap_or_else(|| panic!("no error line in {stderr}"))
        .to_owned()
}

#[test]
fn an_http_function_answers_through_a_flow_over_one_kept_connection() {
    let web = WebService::start();
    let project = project(&web.url("/upper"));
    let running = Ayanami::run(project.path(), &[]);

    for n in 0..20 {
        let response = running.get(&format!("/shout/call{n}"));
        assert_eq!(
            (response.status, response.text()),
            (200, format!("CALL{n}")),
            "{}",
            running.log()
        );
    }
    assert_eq!(web.counts.accepted.load(Ordering::Relaxed), 1);

    let output = invoke(project.path(), "rei");
    assert!(output.status.success(), "{output:?}");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, serde_json::json!({"content": "REI"}));
}

#[test]
fn a_non_2xx_answer_fails_the_flow_with_its_status_and_the_end_of_its_body() {
    let web = WebService::start();
    let project = project(&web.url("/fail"));
    let error = failure(&invoke(project.path(), "x"));
    assert!(
        error.starts_with(
            "error: flow `shout` failed: function `web.upper` answered with HTTP status 503 Service Unavailable: "
        ),
        "{error}"
    );
    assert!(error.ends_with("overloaded; the end"), "{error}");
    assert!(error.len() < 2300, "the body is cut to its end: {error}");
}

#[test]
fn an_answer_that_is_not_json_fails_the_flow_and_shows_the_body() {
    let web = WebService::start();
    let project = project(&web.url("/html"));
    let stderr = failure(&invoke(project.path(), "x"));
    assert!(
        stderr.contains("function `web.upper` wrote a body that is not one JSON object"),
        "{stderr}"
    );
    assert!(stderr.ends_with(": <html>hi</html>"), "{stderr}");
}

#[test]
fn a_slow_web_service_fails_the_call_at_its_timeout() {
    let web = WebService::start();
    let project = project(&web.url("/slow"));
    let started = Instant::now();
    let stderr = failure(&invoke(project.path(), "x"));
    assert!(
        stderr.contains(&format!(
            "function `web.upper` got no answer from `{}` within 500ms",
            web.url("/slow")
        )),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_web_service_that_is_down_fails_the_call_with_connect() {
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{free}/upper");
    let project = project(&url);
    let stderr = failure(&invoke(project.path(), "x"));
    assert!(
        stderr.contains(&format!(
            "function `web.upper` could not connect to `{url}`"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");

    let running = Ayanami::run(project.path(), &[]);
    let response = running.get("/shout/x");
    assert_eq!(
        (response.status, response.text().as_str()),
        (500, "Internal Server Error")
    );
}

#[test]
fn calls_beyond_the_concurrency_limit_wait_for_a_free_connection() {
    let web = WebService::start();
    let project = project_with(&web.url("/held"), "\n        concurrency: 2");
    let running = Ayanami::run(project.path(), &[]);
    let addr = running.addr;

    let calls: Vec<_> = (0..6)
        .map(|n| {
            let path = format!("/shout/c{n}");
            std::thread::spawn(move || request(addr, "GET", &path, &[], b""))
        })
        .collect();
    for (n, call) in calls.into_iter().enumerate() {
        let response = call.join().unwrap();
        assert_eq!((response.status, response.text()), (200, format!("C{n}")));
    }
    assert_eq!(web.counts.most_held.load(Ordering::SeqCst), 2);
}
