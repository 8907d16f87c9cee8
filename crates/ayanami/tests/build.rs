//! `ayanami build`: deployables that validate, parse and run without containers.
//!
//! The generated files of the example, plain and with [`SCALED`], are golden
//! files under `tests/build/`; run with `AYANAMI_BLESS=1` to write the actual
//! output instead, then review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ayanami_testing::NatsServer;

use crate::support::{Process, TempDir, addr_in, ayanami, copy_example, figlet, request};

/// A `deploy:` section with replicas, autoscaling, an external NATS and an Ingress.
const SCALED: &str = "
deploy:
  registry: registry.example/acme
  tag: v1.2.3
  nats: nats://nats.example:4222
  ingress: megazord.example
  components:
    gateway: {replicas: 2}
    flow.banner: {replicas: 3}
    service.cmd: {autoscale: {min: 2, max: 8, cpu: 70}}
";

/// A `deploy:` section asking for a NATS cluster of three nodes.
const NATS_CLUSTER: &str = "
deploy:
  nats_nodes: 3
";

/// The example copied into a temp folder, `edit` applied, then built.
fn built(label: &str, edit: impl Fn(&str) -> String) -> (TempDir, PathBuf) {
    let project = TempDir::new(label);
    copy_example(project.path(), edit);
    let output = ayanami(&["build"]).arg(project.path()).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let out = project.path().join("deployable");
    (project, out)
}

/// Whether `program` runs; a test that needs it fails on CI and is skipped elsewhere.
fn tool(program: &str, args: &[&str]) -> bool {
    let runs = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`{program}` is needed on CI; run scripts/deps.sh"
        );
        eprintln!("skipped: `{program} {}` does not run here", args.join(" "));
    }
    runs
}

fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// The k8s manifests of `out`; the kustomization is kustomize's, not a Kubernetes object.
fn manifests(out: &Path) -> Vec<PathBuf> {
    let mut manifests: Vec<PathBuf> = files(&out.join("k8s"))
        .into_iter()
        .filter(|f| f != "kustomization.yaml")
        .map(|f| out.join("k8s").join(f))
        .collect();
    manifests.sort();
    manifests
}

fn assert_kubernetes_validates(out: &Path) {
    if !tool("python3", &["-m", "kubernetes_validate", "--version"]) {
        return;
    }
    let output = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .args(manifests(out))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn kubernetes_validate_refuses_a_broken_deployment() {
    if !tool("python3", &["-m", "kubernetes_validate", "--version"]) {
        return;
    }
    let dir = TempDir::new("build-broken");
    let broken = dir.path().join("broken.yaml");
    let text =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n";
    std::fs::write(&broken, text).unwrap();
    let output = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
}

#[test]
fn the_example_builds_a_folder_per_component_and_manifests_kubernetes_validates() {
    let (_project, out) = built("build-example", str::to_owned);

    let files = files(&out);
    for expected in [
        ".ayanami-build",
        "Makefile",
        "compose.yaml",
        "gateway/Dockerfile",
        "gateway/ayanami.yaml",
        "flow-banner/Dockerfile",
        "service-html/html/pre.py",
        "service-greeting/greeting/hello.py",
        "k8s/kustomization.yaml",
        "k8s/configmap.yaml",
        "k8s/nats.yaml",
        "k8s/gateway-service.yaml",
        "k8s/service-cmd-deployment.yaml",
    ] {
        assert!(
            files.contains(&expected.to_owned()),
            "{expected} in {files:?}"
        );
    }
    assert!(
        !files
            .iter()
            .any(|f| f.contains("hpa") || f.contains("ingress"))
    );
    assert!(!files.contains(&"service-cmd/html/pre.py".to_owned()));
    assert_kubernetes_validates(&out);
}

#[test]
fn replicas_autoscaling_and_an_external_nats_reach_the_manifests() {
    let (_project, out) = built("build-scaled", |text| format!("{text}{SCALED}"));

    let files = files(&out);
    assert!(files.contains(&"k8s/service-cmd-hpa.yaml".to_owned()));
    assert!(files.contains(&"k8s/gateway-ingress.yaml".to_owned()));
    assert!(!files.contains(&"k8s/nats.yaml".to_owned()));
    let read = |file: &str| std::fs::read_to_string(out.join(file)).unwrap();
    let banner = read("k8s/flow-banner-deployment.yaml");
    assert!(banner.contains("replicas: 3"), "{banner}");
    assert!(banner.contains("\"nats://nats.example:4222\""), "{banner}");
    assert!(banner.contains("\"registry.example/acme/megazord-flow-banner:v1.2.3\""));
    let hpa = read("k8s/service-cmd-hpa.yaml");
    assert!(
        hpa.contains("minReplicas: 2") && hpa.contains("maxReplicas: 8"),
        "{hpa}"
    );
    let kustomization = read("k8s/kustomization.yaml");
    assert!(
        kustomization.contains("- service-cmd-hpa.yaml"),
        "{kustomization}"
    );
    assert!(read("Makefile").contains("REGISTRY ?= registry.example/acme\nTAG ?= v1.2.3\n"));
    assert_kubernetes_validates(&out);
}

#[test]
fn a_three_node_nats_cluster_is_chosen_in_the_composition_or_by_flag_and_validates() {
    let (_project, out) = built("build-nats-cluster", |text| format!("{text}{NATS_CLUSTER}"));
    let read = |file: &str| std::fs::read_to_string(out.join(file)).unwrap();
    let nats = read("k8s/nats.yaml");
    for part in [
        "kind: StatefulSet",
        "replicas: 3",
        "clusterIP: None",
        "publishNotReadyAddresses: true",
        "containerPort: 6222",
        "nats://megazord-nats-0.megazord-nats-headless:6222,nats://megazord-nats-1.megazord-nats-headless:6222,nats://megazord-nats-2.megazord-nats-headless:6222",
        "kind: PodDisruptionBudget",
    ] {
        assert!(nats.contains(part), "no `{part}` in:\n{nats}");
    }
    let urls = "\"nats://megazord-nats:4222,\
                nats://megazord-nats-0.megazord-nats-headless:4222,\
                nats://megazord-nats-1.megazord-nats-headless:4222,\
                nats://megazord-nats-2.megazord-nats-headless:4222\"";
    for component in ["gateway", "flow-banner", "service-cmd"] {
        let deployment = read(&format!("k8s/{component}-deployment.yaml"));
        assert!(deployment.contains(urls), "{deployment}");
    }
    assert_kubernetes_validates(&out);
    let check = ayanami(&["build", "--check", "--out"])
        .arg(&out)
        .arg(out.parent().unwrap())
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    let plain = TempDir::new("build-nats-flag");
    copy_example(plain.path(), str::to_owned);
    let flagged = ayanami(&["build", "--nats-nodes", "3"])
        .arg(plain.path())
        .output()
        .unwrap();
    assert!(flagged.status.success(), "{flagged:?}");
    let by_flag = std::fs::read_to_string(plain.path().join("deployable/k8s/nats.yaml")).unwrap();
    assert_eq!(by_flag, nats);
}

#[test]
fn nats_nodes_with_an_external_nats_is_refused_with_what_to_drop() {
    let project = TempDir::new("build-nats-both");
    copy_example(project.path(), |text| {
        format!("{text}\ndeploy:\n  nats: nats://nats.example:4222\n")
    });
    let output = ayanami(&["build", "--nats-nodes", "3"])
        .arg(project.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`--nats-nodes` sizes the NATS the deployable runs, but the composition's `deploy.nats` uses `nats://nats.example:4222`; drop one of them"),
        "{stderr}"
    );
    let zero = ayanami(&["build", "--nats-nodes", "0"])
        .arg(project.path())
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(2));
}

const COMPOSE_SUMMARY: &str = r#"
import sys, yaml
compose = yaml.safe_load(open(sys.argv[1]))
for name, service in compose["services"].items():
    nats = service.get("environment", {}).get("AYANAMI_NATS_URL", "-")
    print(name, service["image"], nats, service.get("ports", []))
"#;

#[test]
fn the_compose_file_parses_and_runs_every_image_plus_nats() {
    let (_project, out) = built("build-compose", str::to_owned);
    if !tool("python3", &["-c", "import yaml"]) {
        return;
    }

    let output = Command::new("python3")
        .args(["-c", COMPOSE_SUMMARY])
        .arg(out.join("compose.yaml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = summary.lines().collect();
    let url = "nats://nats:4222";
    assert_eq!(lines[0], "nats nats:2.10-alpine - []", "{summary}");
    assert_eq!(lines.len(), 8, "{summary}");
    assert!(
        lines.contains(&format!("gateway megazord-gateway:latest {url} ['8080:8080']").as_str())
    );
    assert!(lines.contains(&format!("service-cmd megazord-service-cmd:latest {url} []").as_str()));
}

/// A Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    lines
}

#[test]
fn every_dockerfile_is_checked_instruction_by_instruction() {
    let (_project, out) = built("build-dockerfiles", str::to_owned);

    let common = |from: &str, copies: &[&str], env: &[&str], expose: &str, run: &str| {
        let mut expected = vec![format!("FROM {from}")];
        if from == "debian:bookworm-slim" && run == "service cmd" {
            expected.push("RUN apt-get update && apt-get install --yes --no-install-recommends figlet && rm -rf /var/lib/apt/lists/*".to_owned());
        }
        expected.push("RUN useradd --system --uid 10001 --no-create-home ayanami".to_owned());
        expected.push("WORKDIR /app".to_owned());
        expected.push("COPY --from=ayanami ayanami /usr/local/bin/ayanami".to_owned());
        expected.push("COPY ayanami.yaml ayanami.yaml".to_owned());
        expected.extend(copies.iter().map(|c| format!("COPY [\"{c}\",\"{c}\"]")));
        expected.push("ENV AYANAMI_ADMIN=0.0.0.0:9090 AYANAMI_LOG=info".to_owned());
        expected.extend(env.iter().map(|e| format!("ENV {e}")));
        expected.push(format!("EXPOSE {expose}"));
        expected.push("USER 10001".to_owned());
        let argv: Vec<String> = ["/usr/local/bin/ayanami", "serve"]
            .into_iter()
            .chain(run.split(' '))
            .map(|w| format!("\"{w}\""))
            .collect();
        expected.push(format!("ENTRYPOINT [{}]", argv.join(",")));
        expected
    };
    let debian = "debian:bookworm-slim";
    let python = "python:3.12-slim-bookworm";
    let cases = [
        (
            "gateway",
            common(debian, &[], &["AYANAMI_PORT=8080"], "8080 9090", "gateway"),
        ),
        (
            "flow-banner",
            common(debian, &[], &[], "9090", "flow banner"),
        ),
        (
            "service-cmd",
            common(debian, &[], &[], "9090", "service cmd"),
        ),
        (
            "service-html",
            common(python, &["html/pre.py"], &[], "9090", "service html"),
        ),
        (
            "service-greeting",
            common(
                python,
                &["greeting/hello.py"],
                &[],
                "9090",
                "service greeting",
            ),
        ),
    ];
    for (folder, expected) in cases {
        let text = std::fs::read_to_string(out.join(folder).join("Dockerfile")).unwrap();
        assert_eq!(instructions(&text), expected, "{folder}/Dockerfile");
        assert!(
            text.starts_with("# syntax=docker/dockerfile:1\n"),
            "{folder}"
        );
    }
}

/// The parts of a Dockerfile that say how its container starts.
struct EntryPoint {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
}

fn entry_point(dockerfile: &Path) -> EntryPoint {
    let text = std::fs::read_to_string(dockerfile).unwrap();
    let mut entry = EntryPoint {
        argv: Vec::new(),
        env: BTreeMap::new(),
    };
    for line in instructions(&text) {
        if let Some(json) = line.strip_prefix("ENTRYPOINT ") {
            entry.argv = serde_json::from_str(json).unwrap();
        } else if let Some(pairs) = line.strip_prefix("ENV ") {
            for pair in pairs.split_whitespace() {
                let (key, value) = pair.split_once('=').unwrap();
                entry.env.insert(key.to_owned(), value.to_owned());
            }
        } else if let Some(dir) = line.strip_prefix("WORKDIR ") {
            assert_eq!(
                dir, "/app",
                "the test runs the image's /app from its folder"
            );
        }
    }
    entry
}

/// Starts a component as its image would: the entry point's arguments from
/// the component's folder (the image's `/app`), with the image's environment
/// and what Kubernetes sets on top, except the addresses, which must not clash.
fn start(folder: &Path, nats: &str) -> (Process, String) {
    let entry = entry_point(&folder.join("Dockerfile"));
    assert_eq!(entry.argv[0], "/usr/local/bin/ayanami");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ayanami"));
    command
        .args(&entry.argv[1..])
        .current_dir(folder)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(&entry.env)
        .env("AYANAMI_NATS_URL", nats)
        .env("AYANAMI_ADMIN", "127.0.0.1:0");
    let ready = if entry.argv[2] == "gateway" {
        command
            .env("AYANAMI_PORT", "0")
            .env("AYANAMI_HOST", "127.0.0.1");
        "gateway listening"
    } else {
        "component ready"
    };
    Process::start(command, ready)
}

#[test]
fn the_deployables_serve_the_example_without_containers() {
    let (_project, out) = built("build-run", str::to_owned);
    let server = NatsServer::start();

    let mut folders: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    folders.sort_by_key(|f| f.ends_with("gateway"));
    assert_eq!(folders.len(), 7);
    let mut components = Vec::new();
    for folder in &folders {
        components.push(start(folder, &server.url()));
    }
    let (gateway, line) = components.last().unwrap();
    let addr = addr_in(line);

    let root = request(addr, "GET", "/", &[], b"");
    assert_eq!((root.status, root.text().as_str()), (200, "Hello there"));
    let hello = request(addr, "GET", "/hello/shinji", &[], b"");
    assert_eq!((hello.status, hello.text().as_str()), (200, "Hello shinji"));
    let banner = request(addr, "GET", "/banner?text=hi", &[], b"");
    assert_eq!(banner.status, 200);
    assert_eq!(banner.text(), format!("<pre>{}</pre>", figlet("hi")));

    let log = gateway.log();
    let admin_line = log.lines().find(|l| l.contains("admin listening")).unwrap();
    let ready = request(addr_in(admin_line), "GET", "/readyz", &[], b"");
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready"));
    let metrics = request(addr_in(admin_line), "GET", "/metrics", &[], b"");
    assert_eq!(
        metrics.status, 200,
        "the pods' prometheus.io annotations point here"
    );
}

#[test]
fn building_again_removes_stale_files_and_never_touches_the_project() {
    let (project, out) = built("build-again", |text| format!("{text}{SCALED}"));
    assert!(out.join("k8s/service-cmd-hpa.yaml").is_file());
    let own = out.join("notes.txt");
    std::fs::write(&own, "mine").unwrap();

    copy_example(project.path(), str::to_owned);
    let output = ayanami(&["build"]).arg(project.path()).output().unwrap();
    assert!(output.status.success(), "{output:?}");

    assert!(!out.join("k8s/service-cmd-hpa.yaml").exists());
    assert!(!out.join("k8s/gateway-ingress.yaml").exists());
    assert!(out.join("k8s/nats.yaml").is_file());
    assert_eq!(std::fs::read_to_string(own).unwrap(), "mine");
    assert!(project.path().join("html/pre.py").is_file());
}

#[test]
fn build_refuses_an_output_it_did_not_write_and_the_project_itself() {
    let project = TempDir::new("build-refuse");
    copy_example(project.path(), str::to_owned);

    let refuse = |out: &Path| {
        let output = ayanami(&["build", "--out"])
            .arg(out)
            .arg(project.path())
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let html = refuse(&project.path().join("html"));
    assert!(
        html.contains("was not written by `ayanami build`"),
        "{html}"
    );
    assert!(
        html.contains("choose another `--out` or remove it"),
        "{html}"
    );
    let itself = refuse(project.path());
    assert!(itself.contains("holds the project folder"), "{itself}");
    assert!(project.path().join("html/pre.py").is_file());
}

#[test]
fn check_passes_a_fresh_build_and_names_a_changed_file() {
    let (project, out) = built("build-check", str::to_owned);
    let check = || {
        ayanami(&["build", "--check"])
            .arg(project.path())
            .output()
            .unwrap()
    };
    let fresh = check();
    assert!(fresh.status.success(), "{fresh:?}");

    std::fs::write(out.join("k8s/configmap.yaml"), "kind: [").unwrap();
    std::fs::remove_file(out.join("gateway/Dockerfile")).unwrap();
    let stale = check();
    assert!(!stale.status.success());
    let stderr = String::from_utf8(stale.stderr).unwrap();
    assert!(
        stderr
            .contains("`k8s/configmap.yaml` differs from what `ayanami build` writes; build again"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`gateway/Dockerfile` is missing; build again"),
        "{stderr}"
    );
}

/// Whether a built file is generated text, as opposed to a copy of a project file.
fn generated(file: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    name == "Dockerfile"
        || file.starts_with("k8s/")
        || (!file.contains('/') && name != ".ayanami-build")
}

#[test]
fn the_generated_files_match_their_golden_files() {
    let bless = std::env::var_os("AYANAMI_BLESS").is_some_and(|v| v == "1");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build");
    let mut failures = Vec::new();
    for (case, deploy) in [
        ("megazord", ""),
        ("megazord-scaled", SCALED),
        ("megazord-nats-cluster", NATS_CLUSTER),
    ] {
        let (_project, out) = built(case, |text| format!("{text}{deploy}"));
        let expected_dir = golden.join(case);
        let actual: Vec<String> = files(&out).into_iter().filter(|f| generated(f)).collect();
        if bless {
            let _ = std::fs::remove_dir_all(&expected_dir);
            for file in &actual {
                let to = expected_dir.join(file);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(out.join(file), to).unwrap();
            }
            continue;
        }
        let expected = if expected_dir.is_dir() {
            files(&expected_dir)
        } else {
            Vec::new()
        };
        if expected != actual {
            failures.push(format!(
                "{case}: the files differ (AYANAMI_BLESS=1 rewrites them)\n  expected {expected:?}\n  actual   {actual:?}"
            ));
            continue;
        }
        for file in &actual {
            let want = std::fs::read_to_string(expected_dir.join(file)).unwrap();
            let got = std::fs::read_to_string(out.join(file)).unwrap();
            if want != got {
                failures.push(format!(
                    "{case}/{file}: output differs (AYANAMI_BLESS=1 rewrites it)\n--- expected\n{want}--- actual\n{got}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn registry_and_tag_flags_override_the_composition_and_are_checked() {
    let project = TempDir::new("build-flags");
    copy_example(project.path(), |text| format!("{text}{SCALED}"));
    let build = |args: &[&str]| {
        ayanami(&["build"])
            .args(args)
            .arg(project.path())
            .output()
            .unwrap()
    };

    let output = build(&["--registry", "localhost:5000/team", "--tag", "dev"]);
    assert!(output.status.success(), "{output:?}");
    let out = project.path().join("deployable");
    let gateway = std::fs::read_to_string(out.join("k8s/gateway-deployment.yaml")).unwrap();
    assert!(
        gateway.contains("\"localhost:5000/team/megazord-gateway:dev\""),
        "{gateway}"
    );

    let bad = build(&["--tag", "dev; rm -rf /"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.contains("the tag `dev; rm -rf /` is not valid"),
        "{stderr}"
    );
}

#[test]
fn a_source_named_like_a_generated_file_is_refused_with_what_to_change() {
    let project = TempDir::new("build-clash");
    copy_example(project.path(), |text| {
        text.replace("python3 html/pre.py", "python3 html/pre.py Dockerfile")
    });
    std::fs::write(project.path().join("Dockerfile"), "FROM scratch\n").unwrap();

    let output = ayanami(&["build"]).arg(project.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let expected = "a function of `service.html` runs `Dockerfile`, which would take the place of the generated `Dockerfile`; move or rename it";
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!project.path().join("deployable").exists());
}

/// Adds a schedule, a replying subject trigger and their flows to the example.
fn with_triggers(text: &str) -> String {
    let triggers = r#"
triggers:
  schedule:
    nightly: {cron: "0 0 3 * * *", timezone: Europe/Berlin}
  subject:
    greet: {subject: greetings.requested, reply: true}

flows:
  greet:
    outputs: [greeting]
    wirings:
      - from: trig.subject.greet.out
        var: message
      - var: message.data.name
        to: srvc.greeting.hello.in.name
      - from: srvc.greeting.hello.out.greeting
        var: greeting
  nightly:
    outputs: [fire]
    wirings:
      - from: trig.schedule.nightly.out
        var: fire
"#;
    text.replacen("\nflows:\n", triggers, 1)
}

#[test]
fn schedules_and_subjects_are_components_of_their_own() {
    let (_project, out) = built("build-triggers", with_triggers);
    let files = files(&out);
    for component in ["schedules", "subjects"] {
        assert!(
            files.contains(&format!("{component}/Dockerfile")),
            "{files:?}"
        );
        let deployment = format!("k8s/{component}-deployment.yaml");
        assert!(files.contains(&deployment), "{files:?}");
        let text = std::fs::read_to_string(out.join(&deployment)).unwrap();
        assert!(text.contains("replicas: 1"), "{text}");
        assert_eq!(
            text.contains("type: Recreate"),
            component == "schedules",
            "only the schedules never overlap in a rollout:\n{text}"
        );
        let dockerfile = std::fs::read_to_string(out.join(component).join("Dockerfile")).unwrap();
        assert!(
            dockerfile.contains(&format!("\"serve\",\"{component}\"]")),
            "{dockerfile}"
        );
    }
    assert_kubernetes_validates(&out);
}

#[test]
fn the_schedules_component_refuses_more_than_one_replica() {
    let project = TempDir::new("build-two-schedulers");
    copy_example(project.path(), |text| {
        format!(
            "{}\ndeploy:\n  components:\n    schedules: {{replicas: 2}}\n",
            with_triggers(text)
        )
    });
    let output = ayanami(&["build"]).arg(project.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "`schedules` fires every schedule once in each replica; keep it at `replicas: 1`"
        ),
        "{stderr}"
    );
}
