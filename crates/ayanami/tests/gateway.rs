//! The HTTP gateway through the real binary, over loopback: what a flow
//! receives of a request, and what it can answer.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Ayanami, Response, TempDir, request};

/// A composition whose routes answer with their request variable, or pass
/// the body through a `python3` exec function, and a few fixed answers.
fn composition(max_body: &str) -> String {
    format!(
        r#"name: gateway-test

gateway:
  timeout: 20s
  max_body: {max_body}
  cors:
    origins: ["https://app.example"]
    methods: [GET, POST]
    headers: [Content-Type, X-Token]
    max_age: 60s
  routes:
    - path: /echo/{{name}}
      methods: [GET, POST]
    - path: /bytes
      method: POST
    - path: /hello
    - path: /any
      method: ANY
    - path: /code

services:
  bin:
    functions:
      echo:
        kind: exec
        run: python3 echo.py
        inputs: [request]
        outputs: [content]
        timeout: 20s

flows:
  echo_get:
    wirings:
      - from: trig.request.get.echo._name.out
        var: request
        to: trig.response.get.echo._name.in.content
  echo_post:
    wirings:
      - from: trig.request.post.echo._name.out
        var: request
        to: trig.response.post.echo._name.in.content
  bytes:
    wirings:
      - from: trig.request.post.bytes.out
        var: request
        to: srvc.bin.echo.in.request
      - from: srvc.bin.echo.out.content
        var: content
        to: trig.response.post.bytes.in.content
  hello:
    wirings:
      - from: trig.request.get.hello.out
        var: request
      - var: content
        value: Hello there
        to: trig.response.get.hello.in.content
      - var: header
        value: {{"set-cookie": ["a=1; Path=/", "b=2; HttpOnly"], "x-one": "1"}}
        to: trig.response.get.hello.in.header
  any:
    wirings:
      - from: trig.request.any.any.out
        var: request
      - var: request.method
        to: trig.response.any.any.in.content
  code:
    wirings:
      - from: trig.request.get.code.out
        var: request
      - var: request.raw_query
        to: trig.response.get.code.in.code
      - var: content
        value: never sent
        to: trig.response.get.code.in.content
"#
    )
}

/// Reads the request's body, whichever way it came, and answers it as bytes.
const ECHO_PY: &str = r#"import base64, json, sys
request = json.load(sys.stdin)["request"]
if request["body_base64"] is not None:
    data = base64.b64decode(request["body_base64"])
else:
    data = request["body"].encode()
json.dump({"content": {"base64": base64.b64encode(data).decode()}}, sys.stdout)
"#;

fn project(max_body: &str) -> TempDir {
    let dir = TempDir::new("gateway");
    std::fs::write(dir.path().join("ayanami.yaml"), composition(max_body)).unwrap();
    std::fs::write(dir.path().join("echo.py"), ECHO_PY).unwrap();
    dir
}

fn start() -> (TempDir, Ayanami) {
    let dir = project("6MiB");
    let ayanami = Ayanami::run(dir.path(), &[]);
    (dir, ayanami)
}

/// The request variable a flow received, as the echo routes answer it.
fn echoed(response: &Response) -> Value {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    serde_json::from_slice(&response.body).expect("the echo routes answer JSON")
}

/// Every header of `name`, in order.
fn all<'a>(response: &'a Response, name: &str) -> Vec<&'a str> {
    let headers = response.headers.iter().filter(|(n, _)| n == name);
    headers.map(|(_, v)| v.as_str()).collect()
}

#[test]
fn repeated_query_keys_arrive_as_lists_in_order() {
    let (_dir, ayanami) = start();
    let request = echoed(&ayanami.get("/echo/x?a=1&b=%20two&a=2&a="));
    assert_eq!(request["raw_query"], json!("a=1&b=%20two&a=2&a="));
    assert_eq!(
        request["query"],
        json!({"a": ["1", "2", ""], "b": [" two"]})
    );
    assert_eq!(request["form"], request["query"]);
}

#[test]
fn an_encoded_slash_stays_inside_its_path_parameter() {
    let (_dir, ayanami) = start();
    let request = echoed(&ayanami.get("/echo/a%2Fb%20c"));
    assert_eq!(request["params"], json!({"name": "a/b c"}));
    assert_eq!(request["path"], json!("/echo/a%2Fb%20c"));
}

#[test]
fn a_utf8_body_arrives_as_text() {
    let (_dir, ayanami) = start();
    let body = "Grüße, Ayanami".as_bytes();
    let request = echoed(&request(ayanami.addr, "POST", "/echo/x", &[], body));
    assert_eq!(request["method"], json!("POST"));
    assert_eq!(request["body"], json!("Grüße, Ayanami"));
    assert_eq!(request["body_base64"], Value::Null);
}

#[test]
fn a_body_that_is_not_utf8_arrives_as_base64() {
    let (_dir, ayanami) = start();
    let body = [0xff, 0xfe, 0x00, b'a'];
    let request = echoed(&request(ayanami.addr, "POST", "/echo/x", &[], &body));
    assert_eq!(request["body"], Value::Null);
    assert_eq!(request["body_base64"], json!("//4AYQ=="));
}

#[test]
fn a_json_body_is_parsed_and_cookies_and_the_client_are_given() {
    let (_dir, ayanami) = start();
    let headers = [
        ("Content-Type", "application/json"),
        ("Cookie", "session=abc; theme=\"dark\""),
    ];
    let body = br#"{"pilot": "rei", "unit": 0}"#;
    let request = echoed(&request(ayanami.addr, "POST", "/echo/x", &headers, body));
    assert_eq!(request["json"], json!({"pilot": "rei", "unit": 0}));
    assert_eq!(
        request["cookies"],
        json!({"session": "abc", "theme": "dark"})
    );
    assert_eq!(request["client"]["ip"], json!("127.0.0.1"));
    assert!(request["client"]["port"].as_u64().is_some_and(|p| p > 0));
}

#[test]
fn a_five_mib_binary_upload_comes_back_byte_for_byte_through_an_exec_function() {
    let (_dir, ayanami) = start();
    let mut state = 0x2545_f491_u32;
    let body: Vec<u8> = (0..5 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect();
    assert!(std::str::from_utf8(&body).is_err());

    let response = request(ayanami.addr, "POST", "/bytes", &[], &body);
    assert_eq!(response.status, 200, "{}", ayanami.log());
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(response.header("content-length"), Some("5242880"));
    assert!(response.body == body, "the body came back changed");
}

#[test]
fn a_multipart_upload_gives_its_fields_and_both_files() {
    let (_dir, ayanami) = start();
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nunit 01\r\n",
    );
    body.extend_from_slice(b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n");
    body.extend_from_slice(b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"eva.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\x00\xff\r\n");
    body.extend_from_slice(b"--BOUNDARY--\r\n");
    let headers = [("Content-Type", "multipart/form-data; boundary=BOUNDARY")];

    let request = echoed(&request(ayanami.addr, "POST", "/echo/x", &headers, &body));
    assert_eq!(request["form"], json!({"title": ["unit 01"]}));
    let notes = json!({"filename": "notes.txt", "content_type": "text/plain", "size": 5, "base64": "aGVsbG8="});
    let png = json!({"filename": "eva.png", "content_type": "image/png", "size": 6, "base64": "iVBORwD/"});
    assert_eq!(request["files"], json!({"doc": [notes, png]}));
}

#[test]
fn a_header_with_two_values_keeps_both_in_order() {
    let (_dir, ayanami) = start();
    let headers = [("X-Twice", "first"), ("X-Twice", "second")];
    let request = echoed(&request(ayanami.addr, "GET", "/echo/x", &headers, b""));
    assert_eq!(request["header"]["x-twice"], json!(["first", "second"]));

    let response = ayanami.get("/hello");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "Hello there")
    );
    assert_eq!(
        all(&response, "set-cookie"),
        ["a=1; Path=/", "b=2; HttpOnly"]
    );
    assert_eq!(all(&response, "x-one"), ["1"]);
}

#[test]
fn head_answers_like_get_without_a_body() {
    let (_dir, ayanami) = start();
    let response = request(ayanami.addr, "HEAD", "/hello", &[], b"");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("content-length"), Some("11"));
    assert_eq!(all(&response, "set-cookie").len(), 2);
    assert!(response.body.is_empty());
}

#[test]
fn a_wrong_method_gives_405_with_the_allowed_ones() {
    let (_dir, ayanami) = start();
    let response = request(ayanami.addr, "DELETE", "/echo/x", &[], b"");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET,HEAD,POST"));
    assert!(response.body.is_empty());
}

#[test]
fn an_any_route_answers_every_method() {
    let (_dir, ayanami) = start();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let response = request(ayanami.addr, method, "/any", &[], b"");
        assert_eq!((response.status, response.text()), (200, method.to_owned()));
    }
}

#[test]
fn a_cors_preflight_is_answered_from_the_gateway_settings() {
    let (_dir, ayanami) = start();
    let preflight = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    let response = request(ayanami.addr, "OPTIONS", "/echo/x", &preflight, b"");
    assert_eq!(response.status, 204);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        response.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some("content-type, x-token")
    );
    assert_eq!(response.header("access-control-max-age"), Some("60"));
    assert!(response.body.is_empty());

    let stranger = [
        ("Origin", "https://elsewhere.example"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let response = request(ayanami.addr, "OPTIONS", "/echo/x", &stranger, b"");
    assert_eq!(response.status, 204);
    assert_eq!(response.header("access-control-allow-origin"), None);
    assert_eq!(response.header("access-control-allow-methods"), None);

    let origin = [("Origin", "https://app.example")];
    let response = request(ayanami.addr, "GET", "/hello", &origin, b"");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "Hello there")
    );
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(response.header("vary"), Some("origin"));
}

#[test]
fn a_body_over_max_body_gives_413() {
    let dir = project("1KiB");
    let ayanami = Ayanami::run(dir.path(), &[]);
    let response = request(ayanami.addr, "POST", "/echo/x", &[], &[b'x'; 1025]);
    assert_eq!(
        (response.status, response.text().as_str()),
        (413, "Payload Too Large")
    );
    let response = request(ayanami.addr, "POST", "/echo/x", &[], &[b'x'; 1024]);
    assert_eq!(echoed(&response)["body"].as_str().map(str::len), Some(1024));

    // A length declared over the limit is refused before any of the body
    // comes, rather than waiting for bytes that may never be sent.
    let mut stream = std::net::TcpStream::connect(ayanami.addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nabc",
    )
    .unwrap();
    let mut answer = [0; 64];
    let read = std::io::Read::read(&mut stream, &mut answer).unwrap();
    let head = String::from_utf8_lossy(&answer[..read]);
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
}

#[test]
fn malformed_json_gives_400_with_the_reason() {
    let (_dir, ayanami) = start();
    let headers = [("Content-Type", "application/json")];
    let response = request(ayanami.addr, "POST", "/echo/x", &headers, br#"{"a":"#);
    assert_eq!(response.status, 400);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        response.text(),
        "Bad Request: malformed JSON body: EOF while parsing a value at line 1 column 5"
    );
}

#[test]
fn an_invalid_code_gives_500_and_a_log_line_saying_why() {
    let (_dir, ayanami) = start();
    // The code comes from the request: `check` refuses a constant one.
    let response = ayanami.get("/code?42");
    assert_eq!(
        (response.status, response.text().as_str()),
        (500, "Internal Server Error")
    );
    let log = ayanami.log();
    let line = log
        .lines()
        .find(|l| l.contains("flow answered with an invalid response"))
        .unwrap_or_else(|| panic!("no log line for the invalid code:\n{log}"));
    assert!(
        line.contains(r#"`code` \"42\" is not an HTTP status from 200 to 999"#),
        "{line}"
    );
}

#[test]
fn routes_prints_each_route_and_method_with_its_events() {
    let dir = project("1KiB");
    let output = Command::new(env!("CARGO_BIN_EXE_ayanami"))
        .arg("routes")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let expected = "\
METHOD  PATH          REQUEST                           RESPONSE
GET     /echo/{name}  trig.request.get.echo._name.out   trig.response.get.echo._name.in
POST    /echo/{name}  trig.request.post.echo._name.out  trig.response.post.echo._name.in
POST    /bytes        trig.request.post.bytes.out       trig.response.post.bytes.in
GET     /hello        trig.request.get.hello.out        trig.response.get.hello.in
ANY     /any          trig.request.any.any.out          trig.response.any.any.in
GET     /code         trig.request.get.code.out         trig.response.get.code.in
";
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
}
