//! Past one machine: components spread over the nodes of a NATS cluster,
//! failing over when a node dies.

use std::time::{Duration, Instant};

use ayanami_testing::NatsCluster;

use crate::support::{Process, TempDir, addr_in, ayanami, copy_example, example_dir, request};

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
