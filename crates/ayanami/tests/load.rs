//! Holding under load: the in-flight limit, graceful shutdown with slow
//! requests in flight, and memory under a stalled function.

use std::net::SocketAddr;

use crate::support::{Ayanami, Response, TempDir, request};

/// A route whose answer comes from a worker that takes `DELAY` seconds per
/// call, many calls at once, and says on stderr when each call starts.
fn slow_project(max_in_flight: usize, delay: &str) -> TempDir {
    let project = TempDir::new("slow");
    let yaml = format!(
        r#"name: slow
gateway:
  timeout: 30s
  max_in_flight: {max_in_flight}
  routes:
    - path: /slow/{{n}}
services:
  slow:
    functions:
      wait:
        kind: worker
        run: python3 slow.py
        inputs: [n]
        outputs: [text]
        timeout: 30s
        env: {{DELAY: "{delay}"}}
flows:
  slow:
    timeout: 30s
    wirings:
      - from: trig.request.get.slow._n.out
        var: request
      - var: request.params.n
        to: srvc.slow.wait.in.n
      - from: srvc.slow.wait.out.text
        var: text
        to: trig.response.get.slow._n.in.content
"#
    );
    std::fs::write(project.path().join("ayanami.yaml"), yaml).unwrap();
    std::fs::write(project.path().join("slow.py"), SLOW_WORKER).unwrap();
    project
}

const SLOW_WORKER: &str = r#"
import json, os, sys, threading, time
lock = threading.Lock()
delay = float(os.environ["DELAY"])
def handle(call):
    n = call["inputs"]["n"]
    print(f"slow call started {n}", file=sys.stderr, flush=True)
    time.sleep(delay)
    with lock:
        print(json.dumps({"id": call["id"], "outputs": {"text": f"slow {n}"}}), flush=True)
for line in sys.stdin:
    threading.Thread(target=handle, args=(json.loads(line),), daemon=True).start()
"#;

/// Sends `GET /slow/{n}` for each `n` from its own thread, all at once.
fn fire(addr: SocketAddr, count: usize) -> Vec<std::thread::JoinHandle<Response>> {
    (0..count)
        .map(|n| std::thread::spawn(move || request(addr, "GET", &format!("/slow/{n}"), &[], b"")))
        .collect()
}

#[test]
fn requests_beyond_max_in_flight_get_503_with_retry_after_and_the_rest_are_answered() {
    let project = slow_project(100, "1");
    let ayanami = Ayanami::run_with(project.path(), &["--max-in-flight", "4"], &[]);

    let answers: Vec<Response> = fire(ayanami.addr, 12)
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let ok: Vec<&Response> = answers.iter().filter(|r| r.status == 200).collect();
    let refused: Vec<&Response> = answers.iter().filter(|r| r.status == 503).collect();
    assert_eq!(ok.len() + refused.len(), answers.len(), "{answers:?}");
    assert!((1..=4).contains(&ok.len()), "{} answered", ok.len());
    assert!(!refused.is_empty());
    for response in refused {
        assert_eq!(response.header("retry-after"), Some("1"));
        assert_eq!(response.text(), "Service Unavailable");
    }
    for response in ok {
        assert!(response.text().starts_with("slow "), "{}", response.text());
    }
    assert_eq!(ayanami.get("/slow/again").text(), "slow again");
    assert!(ayanami.log().contains("status=503"), "{}", ayanami.log());
}
