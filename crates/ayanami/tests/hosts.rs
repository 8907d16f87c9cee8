//! Past one machine: components spread over the nodes of a NATS cluster,
//! failing over when a node dies; on loopback, and on three simulated hosts
//! (network namespaces, which need root) under load.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ayanami_testing::NatsCluster;
use ayanami_testing::hosts::{Host, Hosts, needs_root};

use crate::support::{
    Process, TempDir, addr_in, ayanami, copy_example, example_dir, figlet, request, try_request,
};

/// Waits until `GET /hello/NAME` answers correctly, and says how long it took.
fn recovery(addr: std::net::SocketAddr, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let response = request(addr, "GET", "/hello/again", &[], b"");
        if (response.status, response.text().as_str()) == (200, "Hello again") {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "no recovery within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_connects_to_whichever_server_of_the_list_answers() {
    let cluster = NatsCluster::start_on_loopback(2);
    let dead = "nats://127.0.0.1:1";
    let dir = example_dir();
    let mut flow = ayanami(&["serve", "flow", "root", "--dir"]);
    flow.arg(&dir)
        .args(["--nats", &format!("{},{dead}", cluster.url(1))]);
    let _flow = Process::start(flow, "component ready");
    let mut gateway = ayanami(&["serve", "gateway", "--port", "0", "--host", "127.0.0.1"]);
    gateway
        .arg("--dir")
        .arg(&dir)
        .env("AYANAMI_NATS_URL", format!("{dead},{}", cluster.url(0)));
    let (_gateway, line) = Process::start(gateway, "gateway listening");

    let response = request(addr_in(&line), "GET", "/", &[], b"");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "Hello there")
    );
}

#[test]
fn up_over_a_cluster_keeps_serving_when_the_node_it_uses_dies() {
    let mut cluster = NatsCluster::start_on_loopback(3);
    let project = TempDir::new("up-cluster");
    copy_example(project.path(), |yaml| {
        yaml.replace("timeout: 30s", "timeout: 2s")
    });
    let mut command = ayanami(&["up", "--port", "0", "--nats", &cluster.urls_from(0)]);
    command.arg(project.path());
    let (mut up, line) = Process::start(command, "component ready: gateway on http://");
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    up.wait_for("all 7 components ready", Duration::from_secs(30));
    recovery(addr, Duration::from_secs(5));

    cluster.kill(0);
    let took = recovery(addr, Duration::from_secs(15));
    eprintln!("answering again {took:?} after the node died");
    for name in ["rei", "asuka", "shinji"] {
        let response = request(addr, "GET", &format!("/hello/{name}"), &[], b"");
        assert_eq!(response.text(), format!("Hello {name}"));
    }
    assert_eq!(up.signal_and_wait(2, Duration::from_secs(20)), Some(0));
}

/// Runs an `exec` function's script once per request inside one long-lived
/// process: the example's Python functions as `worker`s, so that the load
/// test does not start a Python interpreter per call.
const EXEC_AS_WORKER: &str = r#"
import io, json, runpy, sys
script = sys.argv[1]
for line in sys.stdin:
    request = json.loads(line)
    stdin, stdout = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = io.StringIO(json.dumps(request["inputs"])), io.StringIO()
    try:
        runpy.run_path(script, run_name="__main__")
        reply = {"outputs": json.loads(sys.stdout.getvalue())}
    except BaseException as error:
        reply = {"error": str(error)}
    finally:
        output, sys.stdin, sys.stdout = sys.stdout, stdin, stdout
    reply["id"] = request["id"]
    print(json.dumps(reply), flush=True)
"#;

#[test]
fn hosts_reach_each_other_and_leave_nothing_behind_even_on_panic() {
    if !needs_root("hosts_reach_each_other_and_leave_nothing_behind_even_on_panic") {
        return;
    }
    let made = std::panic::catch_unwind(|| {
        let hosts = Hosts::create(&["a", "b", "c"]);
        let cluster = NatsCluster::start_on(hosts.all());
        let names: Vec<String> = hosts.all().iter().map(|h| h.netns().to_owned()).collect();
        let (a, c) = (hosts.host("a"), hosts.host("c"));
        assert!(a.run(|| std::net::TcpStream::connect((c.addr(), 4222)).is_ok()));
        let _keep = cluster;
        let stray = c
            .command("sleep")
            .arg("60")
            .spawn()
            .expect("sleep starts on host c");
        let pid = stray.id().to_string();
        let started = Instant::now();
        while !netns_of(&pid).contains(c.netns()) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "sleep never reached host c"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::panic::panic_any((names, stray))
    });
    let (names, mut stray) = *made
        .unwrap_err()
        .downcast::<(Vec<String>, std::process::Child)>()
        .unwrap();

    let started = Instant::now();
    let status = loop {
        if let Some(status) = stray.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a process on host c outlived it"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for name in &names {
        assert!(!list.contains(name.as_str()), "`{name}` is left:\n{list}");
    }
}

/// The name of the network namespace process `pid` is in, if `ip` knows it.
fn netns_of(pid: &str) -> String {
    let output = std::process::Command::new("ip")
        .args(["netns", "identify", pid])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_component_fails_over_when_its_node_drops_off_the_network() {
    if !needs_root("a_component_fails_over_when_its_node_drops_off_the_network") {
        return;
    }
    let hosts = Hosts::create(&["a", "b", "c"]);
    let (a, c) = (hosts.host("a"), hosts.host("c"));
    let cluster = NatsCluster::start_on(hosts.all());
    let project = TempDir::new("unplug");
    copy_example(project.path(), |yaml| {
        yaml.replace("timeout: 30s", "timeout: 1s")
    });
    let dir = project.path();
    // The flow runs on a but talks to the node on c, across the bridge.
    let _flow = serve_on(a, &cluster.urls_from(2), dir, &["flow", "root"]);
    let _gateway = serve_on(a, &cluster.urls_from(0), dir, &["gateway"]);
    let gateway = SocketAddr::from((a.addr(), 8080));
    assert_eq!(cluster.clients_of(2), ["ayanami flow.root"]);
    let hello = || {
        a.run(|| try_request(gateway, "GET", "/", &[], b""))
            .is_ok_and(|r| r.status == 200 && r.text() == "Hello there")
    };
    assert!(hello());

    c.unplug();
    let unplugged = Instant::now();
    let limit = Duration::from_secs(40);
    while !hello() {
        assert!(
            unplugged.elapsed() < limit,
            "no answer within {limit:?} of unplugging c"
        );
    }
    eprintln!(
        "answering again {:?} after the flow's node dropped off the network",
        unplugged.elapsed()
    );
    assert_eq!(
        cluster.clients_of(0),
        ["ayanami flow.root", "ayanami gateway"]
    );
    c.plug_back();
}

/// The quoted strings of the YAML list under `key:` in `text`, such as a
/// container's `args`.
fn yaml_list(text: &str, key: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| l.trim() != key).skip(1);
    let mut items = Vec::new();
    while let Some(item) = lines.next().and_then(|l| l.trim().strip_prefix("- \"")) {
        items.push(item.trim_end_matches('"').to_owned());
    }
    items
}

#[test]
fn the_nats_cluster_ayanami_build_deploys_links_up_and_fails_over() {
    if !needs_root("the_nats_cluster_ayanami_build_deploys_links_up_and_fails_over") {
        return;
    }
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build/megazord-nats-cluster/k8s");
    let read = |file: &str| std::fs::read_to_string(golden.join(file)).unwrap();
    let args = yaml_list(&read("nats.yaml"), "args:");
    assert!(args.contains(&"--routes".to_owned()), "{args:?}");
    let gateway = read("gateway-deployment.yaml");
    let urls = gateway
        .lines()
        .skip_while(|l| !l.contains("AYANAMI_NATS_URL"))
        .nth(1)
        .and_then(|l| l.trim().strip_prefix("value: "))
        .unwrap()
        .trim_matches('"')
        .to_owned();

    // Three hosts stand for three machines of the cluster, each pod's name
    // resolving to its host, as the headless Service's DNS would.
    let hosts = Hosts::create(&["a", "b", "c"]);
    let pods: Vec<(String, &Host)> = hosts
        .all()
        .iter()
        .enumerate()
        .map(|(n, host)| (format!("megazord-nats-{n}"), host))
        .collect();
    // Host a stands for the Service too, as if it had picked the first pod.
    let mut names: Vec<(String, &Host)> = pods
        .iter()
        .map(|(pod, host)| (format!("{pod}.megazord-nats-headless"), *host))
        .collect();
    names.push(("megazord-nats".to_owned(), hosts.host("a")));
    let names: Vec<(&str, &Host)> = names.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    hosts.resolve(&names);
    let mut nodes: Vec<Process> = pods
        .iter()
        .map(|(pod, host)| {
            let mut command = host.command("nats-server");
            command.args(args.iter().map(|a| a.replace("$(POD_NAME)", pod)));
            Process::start(command, "Server is ready").0
        })
        .collect();

    let project = TempDir::new("k8s-nats");
    copy_example(project.path(), |yaml| {
        yaml.replace("timeout: 30s", "timeout: 1s")
    });
    let (a, b) = (hosts.host("a"), hosts.host("b"));
    // The flow talks to the last node, the gateway to the first: requests
    // and answers cross the cluster's routes.
    let mut reversed: Vec<&str> = urls.split(',').collect();
    reversed.reverse();
    let _flow = serve_on(b, &reversed.join(","), project.path(), &["flow", "root"]);
    let _gateway = serve_on(a, &urls, project.path(), &["gateway"]);
    let addr = SocketAddr::from((a.addr(), 8080));
    let answers = |limit: Duration| {
        let started = Instant::now();
        loop {
            let answer = a.run(|| try_request(addr, "GET", "/", &[], b""));
            if answer.is_ok_and(|r| r.text() == "Hello there") {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "no answer within {limit:?}");
        }
    };
    answers(Duration::from_secs(20));

    // The gateway's node dies.
    nodes[0].signal_and_wait(9, Duration::from_secs(5));
    let took = answers(Duration::from_secs(20));
    eprintln!("answering again {took:?} after megazord-nats-0 died");
}

/// Requests per second the fault test sends, and for how long.
const RATE: u32 = 200;
const LOAD: Duration = Duration::from_secs(30);
/// Distinct names and banner texts the load cycles through.
const TEXTS: usize = 16;

/// What happened to one request of the load.
struct Outcome {
    path: String,
    sent: Duration,
    answered: Duration,
    status: Option<u16>,
    correct: bool,
}

/// `ayanami serve ...` on `host`, connected to `nats`, started and ready.
fn serve_on(host: &Host, nats: &str, dir: &Path, component: &[&str]) -> Process {
    let mut command = host.command(env!("CARGO_BIN_EXE_ayanami"));
    command
        .arg("serve")
        .args(component)
        .arg("--dir")
        .arg(dir)
        .args(["--nats", nats])
        .env("AYANAMI_LOG", "warn");
    let ready = if component == ["gateway"] {
        command.args(["--host", &host.addr().to_string(), "--port", "8080"]);
        "component ready: gateway"
    } else {
        "component ready"
    };
    Process::start(command, ready).0
}

#[test]
fn a_host_lost_under_load_leaves_no_request_unanswered() {
    if !needs_root("a_host_lost_under_load_leaves_no_request_unanswered") {
        return;
    }
    let hosts = Hosts::create(&["a", "b", "c"]);
    let (a, b, c) = (hosts.host("a"), hosts.host("b"), hosts.host("c"));
    let mut cluster = NatsCluster::start_on(hosts.all());
    let project = TempDir::new("fault");
    copy_example(project.path(), |yaml| {
        yaml.replace("timeout: 30s", "timeout: 5s")
            .replace("kind: exec", "kind: worker")
            .replace("run: python3 ", "run: python3 exec_worker.py ")
    });
    std::fs::write(project.path().join("exec_worker.py"), EXEC_AS_WORKER).unwrap();
    let dir = project.path();

    // Flows on b, a replica of every service on b and on c, each component
    // connected to its host's node first; the gateway on a.
    let services = ["cmd", "html", "greeting"];
    let near_b = cluster.urls_from(1);
    let mut on_b: Vec<Process> = services
        .iter()
        .map(|s| serve_on(b, &near_b, dir, &["service", s]))
        .collect();
    let _on_c: Vec<Process> = services
        .iter()
        .map(|s| serve_on(c, &cluster.urls_from(2), dir, &["service", s]))
        .collect();
    let _flows: Vec<Process> = ["root", "hello", "banner"]
        .iter()
        .map(|f| serve_on(b, &near_b, dir, &["flow", f]))
        .collect();
    let _gateway = serve_on(a, &cluster.urls_from(0), dir, &["gateway"]);
    let gateway = SocketAddr::from((a.addr(), 8080));
    let banners: Vec<String> = (0..TEXTS)
        .map(|n| format!("<pre>{}</pre>", escape(&figlet(&format!("r{n}")))))
        .collect();
    let banners = Arc::new(banners);
    let warm = a.run(|| try_request(gateway, "GET", "/hello/warm", &[], b""));
    assert_eq!(warm.unwrap().text(), "Hello warm");

    let clients = |node| cluster.clients_of(node).join(", ");
    assert_eq!(clients(0), "ayanami gateway");
    assert_eq!(
        clients(1),
        "ayanami flow.banner, ayanami flow.hello, ayanami flow.root, \
         ayanami service.cmd, ayanami service.greeting, ayanami service.html"
    );
    assert_eq!(
        clients(2),
        "ayanami service.cmd, ayanami service.greeting, ayanami service.html"
    );

    let start = Instant::now();
    let load = spawn_load(a, gateway, start, banners);
    let mut timeline = Vec::new();
    let mut mark = |what: &str| {
        timeline.push(format!("{:>6.2}s {what}", start.elapsed().as_secs_f64()));
    };
    std::thread::sleep(Duration::from_secs(6));
    cluster.kill(2);
    let killed = Instant::now();
    mark("killed the NATS node on c");
    while cluster.clients_of(0).len() < 4 {
        assert!(
            killed.elapsed() < Duration::from_secs(4),
            "the services of c did not fail over to the node on a: {:?}",
            cluster.clients_of(0)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = killed.elapsed().as_millis();
    mark(&format!(
        "the 3 services of c are on the node on a ({took} ms)"
    ));
    std::thread::sleep(Duration::from_secs(4).saturating_sub(killed.elapsed()));
    for replica in &mut on_b {
        replica.signal_and_wait(9, Duration::from_secs(5));
    }
    mark("killed the replicas on b of cmd, html and greeting");
    std::thread::sleep(Duration::from_secs(4));
    cluster.restart(2);
    mark("the NATS node on c is back and routed");
    on_b = services
        .iter()
        .map(|s| serve_on(b, &near_b, dir, &["service", s]))
        .collect();
    mark("the replicas on b are back and ready");
    let settled = start.elapsed();
    let outcomes: Vec<Outcome> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    mark("load over");
    drop(on_b);

    report(&outcomes, settled, &timeline);
}

/// Sends `RATE` requests a second for `LOAD` from host `a`, alternating
/// `/hello/NAME` and `/banner?text=TEXT`, each at its planned time (or as
/// soon after as a thread is free), and records what came back.
fn spawn_load(
    a: &Host,
    gateway: SocketAddr,
    start: Instant,
    banners: Arc<Vec<String>>,
) -> Vec<std::thread::JoinHandle<Vec<Outcome>>> {
    let next = Arc::new(AtomicU32::new(0));
    let total = RATE * u32::try_from(LOAD.as_secs()).unwrap();
    (0..256)
        .map(|_| {
            let (a, next, banners) = (a.clone(), next.clone(), banners.clone());
            std::thread::spawn(move || {
                a.enter();
                let mut outcomes = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return outcomes;
                    }
                    let due = start + Duration::from_secs(1) * n / RATE;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    let text = n as usize / 2 % TEXTS;
                    let (path, expected) = if n % 2 == 0 {
                        (format!("/hello/n{text}"), format!("Hello n{text}"))
                    } else {
                        (format!("/banner?text=r{text}"), banners[text].clone())
                    };
                    let sent = start.elapsed();
                    let answer = try_request(gateway, "GET", &path, &[], b"");
                    let status = answer.as_ref().ok().map(|r| r.status);
                    let correct = answer.is_ok_and(|r| r.status == 200 && r.text() == expected);
                    outcomes.push(Outcome {
                        path,
                        sent,
                        answered: start.elapsed(),
                        status,
                        correct,
                    });
                }
            })
        })
        .collect()
}

/// Prints the counts and the longest gap between correct answers, then
/// holds the test to them.
fn report(outcomes: &[Outcome], settled: Duration, timeline: &[String]) {
    let sent = outcomes.len();
    let correct = outcomes.iter().filter(|o| o.correct).count();
    let server_errors = outcomes
        .iter()
        .filter(|o| o.status.is_some_and(|s| s >= 500))
        .count();
    let unanswered = outcomes.iter().filter(|o| o.status.is_none()).count();
    let wrong = sent - correct - server_errors - unanswered;
    let mut times: Vec<Duration> = outcomes
        .iter()
        .filter(|o| o.correct)
        .map(|o| o.answered)
        .collect();
    times.sort();
    let (gap, gap_end) = times
        .windows(2)
        .map(|w| (w[1] - w[0], w[1]))
        .max()
        .unwrap_or_default();
    let late: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent >= settled && !o.correct)
        .collect();
    let after = outcomes.iter().filter(|o| o.sent >= settled).count();

    eprintln!("{}", timeline.join("\n"));
    eprintln!(
        "sent {sent}, answered correctly {correct}, answered 5xx {server_errors}, \
         answered wrongly {wrong}, never answered {unanswered}"
    );
    let mut by_second = std::collections::BTreeMap::<u64, usize>::new();
    for o in outcomes.iter().filter(|o| !o.correct) {
        *by_second.entry(o.sent.as_secs()).or_default() += 1;
    }
    let mut by_second: Vec<String> = by_second
        .iter()
        .map(|(s, n)| format!("{s}s: {n}"))
        .collect();
    if by_second.is_empty() {
        by_second.push("none".to_owned());
    }
    eprintln!(
        "not answered correctly, by second sent: {}",
        by_second.join(", ")
    );
    eprintln!(
        "longest gap between correct answers: {:.3}s, ending at {:.2}s",
        gap.as_secs_f64(),
        gap_end.as_secs_f64()
    );
    eprintln!(
        "after the restarts settled at {:.2}s: {after} sent, {} not answered correctly",
        settled.as_secs_f64(),
        late.len()
    );
    assert_eq!(unanswered, 0, "every request is answered");
    assert_eq!(wrong, 0, "no answer is wrong, only late");
    assert!(after > 0, "the load outlasts the restarts");
    if let Some(first) = late.first() {
        panic!(
            "`{}` sent at {:.2}s, after the restarts settled, got {:?} at {:.2}s",
            first.path,
            first.sent.as_secs_f64(),
            first.status,
            first.answered.as_secs_f64()
        );
    }
}

/// What `html.escape(text, quote=False)` makes of `text`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
