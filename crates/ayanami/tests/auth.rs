//! Gateway authentication through the real binary: bearer tokens from the
//! environment, users from a file, CORS preflights, and logs free of secrets.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{Ayanami, Response, TempDir, ayanami, request};

const TOKEN: &str = "s3cr3t-T0ken-2f9c1e";
const OLD_TOKEN: &str = "old-T0ken-77aa10";
const PASSWORD: &str = "pa55-w0rd-b81d";

const COMPOSITION: &str = r#"name: auth-test
gateway:
  cors:
    origins: ["https://app.example"]
    methods: [GET]
    headers: [Authorization]
  routes:
    - path: /open
    - path: /admin/{what}
    - path: /ops
    - path: /files/{*path}
  auth:
    admin:
      paths: [/admin, /files/private]
      env: ADMIN_TOKENS
    ops:
      scheme: basic
      paths: [/ops]
      file: secrets/ops.txt
services:
  audit:
    functions:
      headers:
        kind: outside
        inputs: [header]
        outputs: [done]
flows:
  open:
    wirings:
      - from: trig.request.get.open.out
        var: request
        to: trig.response.get.open.in.content
  admin:
    wirings:
      - from: trig.request.get.admin._what.out
        var: request
        to: trig.response.get.admin._what.in.content
      - var: request.header
        to: srvc.audit.headers.in.header
  ops:
    wirings:
      - from: trig.request.get.ops.out
        var: request
        to: trig.response.get.ops.in.content
  files:
    wirings:
      - from: trig.request.get.files.__path.out
        var: request
        to: trig.response.get.files.__path.in.content
"#;

fn project() -> TempDir {
    let project = TempDir::new("auth");
    std::fs::write(project.path().join("ayanami.yaml"), COMPOSITION).unwrap();
    std::fs::create_dir(project.path().join("secrets")).unwrap();
    let users = format!("alice:{PASSWORD}\n");
    std::fs::write(project.path().join("secrets/ops.txt"), users).unwrap();
    project
}

fn start(project: &Path, args: &[&str]) -> Ayanami {
    let tokens = format!("{TOKEN}\n{OLD_TOKEN}\n");
    Ayanami::run_with(project, args, &[("ADMIN_TOKENS", &tokens)])
}

fn get(ayanami: &Ayanami, path: &str, headers: &[(&str, &str)]) -> Response {
    request(ayanami.addr, "GET", path, headers, b"")
}

fn echoed(response: &Response) -> Value {
    assert_eq!(response.status, 200, "{}", response.text());
    serde_json::from_slice(&response.body).unwrap()
}

fn basic(user_and_password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(user_and_password);
    format!("Basic {encoded}")
}

#[test]
fn bearer_routes_need_one_of_the_tokens_and_flows_see_the_group_not_the_token() {
    let project = project();
    let ayanami = start(project.path(), &[]);

    assert_eq!(echoed(&get(&ayanami, "/open", &[]))["auth"], Value::Null);
    let missing = get(&ayanami, "/admin/users", &[]);
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (401, "Unauthorized")
    );
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Bearer realm="admin""#)
    );
    let wrong = get(
        &ayanami,
        "/admin/users",
        &[("Authorization", "Bearer s3cr3t-T0ken-2f9c1")],
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.header("www-authenticate"),
        Some(r#"Bearer realm="admin", error="invalid_token""#)
    );

    for token in [TOKEN, OLD_TOKEN] {
        let bearer = format!("Bearer {token}");
        let request = echoed(&get(
            &ayanami,
            "/admin/users",
            &[("Authorization", &bearer)],
        ));
        assert_eq!(request["auth"], json!({"group": "admin", "user": null}));
        assert_eq!(request["header"].get("authorization"), None, "{request}");
        assert_eq!(request["params"]["what"], "users");
    }
}

#[test]
fn a_protected_prefix_holds_however_the_path_is_spelled() {
    let project = project();
    let ayanami = start(project.path(), &[]);

    let public = echoed(&get(&ayanami, "/files/public/a.txt", &[]));
    assert_eq!(public["params"]["path"], "public/a.txt");
    // Each reaches the catch-all with a `path` under `private` once decoded
    // or resolved, as a function reading files would see it.
    for spelling in [
        "/files/private/a.txt",
        "/files/%70rivate/a.txt",
        "/files/private%2Fa.txt",
        "/files//private/a.txt",
        "/files/./private/a.txt",
        "/files/public/../private/a.txt",
        "/files/private",
    ] {
        let refused = get(&ayanami, spelling, &[]);
        assert_eq!(refused.status, 401, "{spelling}: {}", refused.text());
        assert_eq!(
            refused.header("www-authenticate"),
            Some(r#"Bearer realm="admin""#),
            "{spelling}"
        );
    }
    let bearer = format!("Bearer {TOKEN}");
    let allowed = echoed(&get(
        &ayanami,
        "/files/%70rivate/a.txt",
        &[("Authorization", &bearer)],
    ));
    assert_eq!(allowed["params"]["path"], "private/a.txt");
}

#[test]
fn basic_routes_need_a_user_and_password_from_the_file() {
    let project = project();
    let ayanami = start(project.path(), &[]);

    let missing = get(&ayanami, "/ops", &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Basic realm="ops", charset="UTF-8""#)
    );
    for wrong in [
        format!("alice:{PASSWORD}x"),
        format!("bob:{PASSWORD}"),
        "alice".to_owned(),
    ] {
        assert_eq!(
            get(&ayanami, "/ops", &[("Authorization", &basic(&wrong))]).status,
            401
        );
    }
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        get(&ayanami, "/ops", &[("Authorization", &bearer)]).status,
        401
    );

    let right = basic(&format!("alice:{PASSWORD}"));
    let request = echoed(&get(&ayanami, "/ops", &[("Authorization", &right)]));
    assert_eq!(request["auth"], json!({"group": "ops", "user": "alice"}));
}

#[test]
fn a_cors_preflight_needs_no_credentials_and_a_401_names_the_origin() {
    let project = project();
    let ayanami = start(project.path(), &[]);
    let origin = ("Origin", "https://app.example");

    let preflight = request(
        ayanami.addr,
        "OPTIONS",
        "/admin/users",
        &[
            origin,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("authorization")
    );

    let refused = get(&ayanami, "/admin/users", &[origin]);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let bearer = format!("Bearer {TOKEN}");
    let allowed = get(
        &ayanami,
        "/admin/users",
        &[origin, ("Authorization", &bearer)],
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}

#[test]
fn no_secret_reaches_the_log_even_at_trace_level_with_every_event_traced() {
    let project = project();
    let ayanami = start(project.path(), &["--log", "trace", "--trace"]);
    let right_basic = basic(&format!("alice:{PASSWORD}"));
    let wrong_basic = basic(&format!("alice:{PASSWORD}!"));
    let bearer = format!("Bearer {TOKEN}");
    let wrong_bearer = format!("Bearer {TOKEN}!");
    assert_eq!(
        get(&ayanami, "/admin/x", &[("Authorization", &bearer)]).status,
        200
    );
    assert_eq!(
        get(&ayanami, "/admin/x", &[("Authorization", &wrong_bearer)]).status,
        401
    );
    assert_eq!(
        get(&ayanami, "/ops", &[("Authorization", &right_basic)]).status,
        200
    );
    assert_eq!(
        get(&ayanami, "/ops", &[("Authorization", &wrong_basic)]).status,
        401
    );
    let started = std::time::Instant::now();
    while ayanami.log().matches("status=401").count() < 2 {
        assert!(started.elapsed().as_secs() < 10, "{}", ayanami.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let log = ayanami.log();
    assert!(
        log.contains("trig.request.get.admin._what.out"),
        "events are traced:\n{log}"
    );
    for secret in [
        TOKEN,
        OLD_TOKEN,
        PASSWORD,
        &right_basic[6..],
        &wrong_basic[6..],
    ] {
        assert!(!log.contains(secret), "`{secret}` is in the log:\n{log}");
    }
}

#[test]
fn a_missing_secret_stops_the_start_with_what_to_set() {
    let project = project();
    let output = ayanami(&["run", "--port", "0"])
        .arg(project.path())
        .env_remove("ADMIN_TOKENS")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("auth group `admin`: the environment variable `ADMIN_TOKENS` is not set"),
        "{stderr}"
    );
}
