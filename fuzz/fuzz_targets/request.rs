//! The request variable of any request on a few kinds of route: a variable
//! whose body round-trips, or a reason for a 400, never a panic.
#![no_main]

use base64::Engine;
use serde_json::Value;

const ROUTES: [&str; 4] = ["/", "/hello/{name}", "/users/{id}/orders/{order}", "/files/{*path}"];

/// Content types that lead into each body reader; any other `kind` leaves
/// the content type to the input's own headers.
const CONTENT_TYPES: [&str; 5] = [
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=X",
    "application/json",
    "text/plain; charset=utf-8",
    "application/ld+json",
];

libfuzzer_sys::fuzz_target!(|input: (u8, u8, &str, Vec<(&str, &[u8])>, &[u8])| {
    let (route, kind, uri, mut headers, body) = input;
    let route = ROUTES[usize::from(route) % ROUTES.len()];
    let segments = ayanami_event::parse_route(route).expect("the routes here are valid");
    if let Some(content_type) = CONTENT_TYPES.get(usize::from(kind)) {
        headers.push(("content-type", content_type.as_bytes()));
    }
    let Some(result) = ayanami_gateway::fuzzing::request_value(uri, &headers, body, &segments)
    else {
        return;
    };
    let Ok(value) = result else {
        return;
    };
    let sent = match (&value["body"], &value["body_base64"]) {
        (Value::String(text), Value::Null) => text.as_bytes().to_vec(),
        (Value::Null, Value::String(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("body_base64 is base64"),
        other => panic!("exactly one of body and body_base64 must be a string: {other:?}"),
    };
    assert_eq!(sent, body);
    for field in ["query", "form", "files", "params", "header", "cookies"] {
        assert!(value[field].is_object(), "{field} is not an object: {value}");
    }
});
