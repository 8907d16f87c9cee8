//! `ayanami dev` reloads the project when it changes, keeping its port.

use std::time::Duration;

use crate::support::{Process, TempDir, addr_in, ayanami, copy_example, request};

#[test]
fn dev_answers_anew_after_an_edit_and_survives_a_broken_one() {
    let dir = TempDir::new("dev");
    copy_example(dir.path(), str::to_owned);
    let mut command = ayanami(&["dev", "--port", "0"]);
    command.arg(dir.path());
    let (mut dev, line) = Process::start(command, "gateway listening");
    let addr = addr_in(&line);
    let root = || request(addr, "GET", "/", &[], b"").text();
    assert_eq!(root(), "Hello there");

    let file = dir.path().join("ayanami.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        yaml.replace("value: Hello there", "value: Hello again"),
    )
    .unwrap();
    dev.wait_for("reloading", Duration::from_secs(10));
    let line = dev.wait_for("gateway listening", Duration::from_secs(20));
    assert_eq!(addr_in(&line), addr, "the port changed");
    assert_eq!(root(), "Hello again");

    std::fs::write(&file, "name: [broken\n").unwrap();
    dev.wait_for("the running version stays", Duration::from_secs(10));
    assert_eq!(root(), "Hello again");
    assert!(dev.log().contains("error:"), "{}", dev.log());
}
