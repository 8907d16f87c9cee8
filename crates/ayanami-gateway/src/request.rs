//! An HTTP request as the JSON value a flow receives.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::header::{CONTENT_TYPE, COOKIE};
use axum::http::request::Parts;
use ayanami_event::RouteSegment;
use base64::Engine;
use serde_json::{Map, Value};

use crate::auth::Identity;
use crate::bytes::BASE64;

/// A request the gateway refuses before any flow sees it.
#[derive(Debug)]
pub(crate) struct BadRequest(pub(crate) String);

/// The fields and files of a request body.
#[derive(Default)]
struct Fields {
    form: Map<String, Value>,
    files: Map<String, Value>,
}

/// The request variable:
///
/// ```json
/// {"method": "GET", "path": "/hello/shinji", "raw_query": "a=1",
///  "query": {"a": ["1"]}, "form": {"a": ["1"]}, "files": {},
///  "params": {"name": "shinji"}, "header": {"host": ["localhost:8080"]},
///  "cookies": {}, "client": {"ip": "127.0.0.1", "port": 50632}, "auth": null,
///  "body": "", "body_base64": null, "json": null}
/// ```
///
/// `form` holds the fields of a urlencoded or multipart body followed by
/// the query's; `files` the files of a multipart body. Exactly one of
/// `body` (UTF-8 text) and `body_base64` (any other bytes) is a string.
pub(crate) async fn to_value(
    parts: &Parts,
    body: &Bytes,
    segments: &[RouteSegment],
) -> Result<Value, BadRequest> {
    let raw_query = parts.uri.query().unwrap_or_default();
    let query = pairs_to_map(form_urlencoded::parse(raw_query.as_bytes()));
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();

    let Fields { mut form, files } = match essence.as_str() {
        "application/x-www-form-urlencoded" => Fields {
            form: pairs_to_map(form_urlencoded::parse(body)),
            files: Map::new(),
        },
        "multipart/form-data" => multipart(content_type, body.clone()).await?,
        _ => Fields::default(),
    };
    for (key, values) in &query {
        let Value::Array(values) = values else {
            continue;
        };
        push_all(&mut form, key, values.iter().cloned());
    }

    let is_json = essence == "application/json" || essence.ends_with("+json");
    let json = if is_json && !body.is_empty() {
        serde_json::from_slice(body)
            .map_err(|error| BadRequest(format!("malformed JSON body: {error}")))?
    } else {
        Value::Null
    };
    let (text, base64) = match std::str::from_utf8(body) {
        Ok(text) => (Value::from(text), Value::Null),
        Err(_) => (Value::Null, Value::from(BASE64.encode(body))),
    };

    let mut request = Map::new();
    request.insert("method".into(), parts.method.as_str().into());
    request.insert("path".into(), parts.uri.path().into());
    request.insert("raw_query".into(), raw_query.into());
    request.insert("query".into(), query.into());
    request.insert("form".into(), form.into());
    request.insert("files".into(), files.into());
    request.insert("params".into(), params(parts.uri.path(), segments).into());
    request.insert("header".into(), headers(parts).into());
    request.insert("cookies".into(), cookies(parts).into());
    request.insert("client".into(), client(parts));
    request.insert("auth".into(), auth(parts));
    request.insert("body".into(), text);
    request.insert("body_base64".into(), base64);
    request.insert("json".into(), json);
    Ok(Value::Object(request))
}

/// The parts of a `multipart/form-data` body: a part with a file name, or
/// whose bytes are not UTF-8, is a file; any other part is a form field.
async fn multipart(content_type: &str, body: Bytes) -> Result<Fields, BadRequest> {
    let malformed = |error: multer::Error| BadRequest(format!("malformed multipart body: {error}"));
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let chunks = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(body)]);
    let mut parts = multer::Multipart::new(chunks, boundary);
    let mut fields = Fields::default();
    while let Some(part) = parts.next_field().await.map_err(malformed)? {
        let name = part.name().unwrap_or_default().to_owned();
        let filename = part.file_name().map(str::to_owned);
        let content_type = part.content_type().map(ToString::to_string);
        let bytes = part.bytes().await.map_err(malformed)?;
        let text = std::str::from_utf8(&bytes)
            .ok()
            .filter(|_| filename.is_none());
        if let Some(text) = text {
            push_all(&mut fields.form, &name, [Value::from(text)]);
            continue;
        }
        let mut file = Map::new();
        file.insert("filename".into(), filename.into());
        file.insert("content_type".into(), content_type.into());
        file.insert("size".into(), bytes.len().into());
        file.insert("base64".into(), BASE64.encode(&bytes).into());
        push_all(&mut fields.files, &name, [Value::Object(file)]);
    }
    Ok(fields)
}

fn push_all(map: &mut Map<String, Value>, key: &str, values: impl IntoIterator<Item = Value>) {
    let entry = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = entry {
        list.extend(values);
    }
}

fn pairs_to_map<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in pairs {
        push_all(&mut map, &key, [Value::String(value.into_owned())]);
    }
    map
}

fn headers(parts: &Parts) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in &parts.headers {
        let entry = map
            .entry(name.as_str())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(
                String::from_utf8_lossy(value.as_bytes())
                    .into_owned()
                    .into(),
            );
        }
    }
    map
}

/// The cookies of every `Cookie` header, by name; the first of a repeated
/// name wins, as browsers send the most specific cookie first.
fn cookies(parts: &Parts) -> Map<String, Value> {
    let mut map = Map::new();
    let headers = parts.headers.get_all(COOKIE).into_iter();
    let text = headers.filter_map(|value| value.to_str().ok());
    for pair in text.flat_map(|t| t.split(';')) {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        map.entry(name.trim()).or_insert_with(|| value.into());
    }
    map
}

/// The client's address as `{"ip": ..., "port": ...}`, or `null` when the
/// server was not given it.
fn client(parts: &Parts) -> Value {
    let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return Value::Null;
    };
    let mut client = Map::new();
    client.insert("ip".into(), addr.ip().to_string().into());
    client.insert("port".into(), addr.port().into());
    Value::Object(client)
}

/// Who the request proved to be, as `{"group": ..., "user": ...}`, or
/// `null` on a route of no `auth` group.
fn auth(parts: &Parts) -> Value {
    let Some(identity) = parts.extensions.get::<Identity>() else {
        return Value::Null;
    };
    let mut auth = Map::new();
    auth.insert("group".into(), identity.group.as_ref().into());
    auth.insert("user".into(), identity.user.clone().into());
    Value::Object(auth)
}

/// The route's parameters, read off the raw path so that an encoded `/`
/// stays inside its parameter.
fn params(path: &str, segments: &[RouteSegment]) -> Map<String, Value> {
    let mut map = Map::new();
    let raw: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        match segment {
            RouteSegment::Literal(_) => {}
            RouteSegment::Param(name) => {
                let value = raw.get(index).map(|t| decode(t)).unwrap_or_default();
                map.insert(name.clone(), value.into());
            }
            RouteSegment::CatchAll(name) => {
                let rest = raw.get(index..).unwrap_or_default();
                let value = rest.iter().map(|t| decode(t)).collect::<Vec<_>>().join("/");
                map.insert(name.clone(), value.into());
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use ayanami_event::parse_route;
    use serde_json::json;

    use super::*;

    fn request(
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        route: &str,
    ) -> Result<Value, BadRequest> {
        let mut builder = Request::builder()
            .uri(uri)
            .header("x-twice", "a")
            .header("x-twice", "b");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        let body = Bytes::copy_from_slice(body);
        let segments = parse_route(route).unwrap();
        futures_util::FutureExt::now_or_never(to_value(&parts, &body, &segments))
            .expect("an in-memory body is read at once")
    }

    fn value(
        uri: &str,
        content_type: Option<&str>,
        body: &str,
        route: &str,
    ) -> Result<Value, BadRequest> {
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| ("content-type", c))
            .into_iter()
            .collect();
        request(uri, &headers, body.as_bytes(), route)
    }

    #[test]
    fn query_values_are_lists_that_keep_repeated_keys() {
        let v = value("/banner?text=hi&text=there&x=%20y", None, "", "/banner").unwrap();
        assert_eq!(v["query"], json!({"text": ["hi", "there"], "x": [" y"]}));
        assert_eq!(v["form"]["text"][0], json!("hi"));
        assert_eq!(v["raw_query"], json!("text=hi&text=there&x=%20y"));
    }

    #[test]
    fn form_bodies_come_before_query_values() {
        let v = value(
            "/f?a=2",
            Some("application/x-www-form-urlencoded"),
            "a=1&b=x",
            "/f",
        )
        .unwrap();
        assert_eq!(v["form"], json!({"a": ["1", "2"], "b": ["x"]}));
    }

    #[test]
    fn headers_are_lower_case_lists() {
        let v = value("/", None, "", "/").unwrap();
        assert_eq!(v["header"]["x-twice"], json!(["a", "b"]));
    }

    #[test]
    fn path_parameters_are_decoded_and_keep_encoded_slashes() {
        let v = value("/hello/a%2Fb%20c", None, "", "/hello/{name}").unwrap();
        assert_eq!(v["params"], json!({"name": "a/b c"}));
        let v = value("/files/x/y.txt", None, "", "/files/{*path}").unwrap();
        assert_eq!(v["params"], json!({"path": "x/y.txt"}));
    }

    #[test]
    fn json_bodies_are_parsed_and_malformed_ones_refused() {
        let v = value(
            "/",
            Some("application/json; charset=utf-8"),
            "{\"a\": [1]}",
            "/",
        )
        .unwrap();
        assert_eq!(v["json"], json!({"a": [1]}));
        assert_eq!(v["body"], json!("{\"a\": [1]}"));
        let error = value("/", Some("application/json"), "{\"a\": ", "/").unwrap_err();
        assert!(error.0.starts_with("malformed JSON body: "), "{}", error.0);
    }

    #[test]
    fn bodies_are_text_when_utf8_and_base64_otherwise() {
        let v = value("/", None, "grüße", "/").unwrap();
        assert_eq!(
            (&v["body"], &v["body_base64"]),
            (&json!("grüße"), &Value::Null)
        );
        let v = request("/", &[], &[0xff, 0x00, 0x61], "/").unwrap();
        assert_eq!(
            (&v["body"], &v["body_base64"]),
            (&Value::Null, &json!("/wBh"))
        );
    }

    #[test]
    fn cookies_are_a_map_in_which_the_first_of_a_name_wins() {
        let headers = [("cookie", "a=1; b=\"two\""), ("cookie", "a=3;c=x=y; junk")];
        let v = request("/", &headers, b"", "/").unwrap();
        assert_eq!(v["cookies"], json!({"a": "1", "b": "two", "c": "x=y"}));
        assert_eq!(v["client"], Value::Null);
    }

    #[test]
    fn multipart_parts_become_fields_and_files() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nhi\r\n\
--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n\xff\x00\r\n--XX--\r\n";
        let headers = [("content-type", "multipart/form-data; boundary=XX")];
        let v = request("/?t=q", &headers, body, "/").unwrap();
        assert_eq!(v["form"], json!({"t": ["hi", "q"]}));
        let file = json!({"filename": "a.bin", "content_type": "application/octet-stream", "size": 2, "base64": "/wA="});
        assert_eq!(v["files"], json!({"f": [file]}));
    }

    #[test]
    fn malformed_multipart_bodies_are_refused() {
        let headers = [("content-type", "multipart/form-data")];
        let error = request("/", &headers, b"x", "/").unwrap_err();
        assert!(
            error.0.starts_with("malformed multipart body: "),
            "{}",
            error.0
        );
        let headers = [("content-type", "multipart/form-data; boundary=XX")];
        let error = request("/", &headers, b"--XX\r\nbroken", "/").unwrap_err();
        assert!(
            error.0.starts_with("malformed multipart body: "),
            "{}",
            error.0
        );
    }

    fn content_type() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        use proptest::prelude::*;
        proptest::option::of(prop_oneof![
            Just("application/json".to_owned()),
            Just("application/problem+json; charset=utf-8".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            Just("multipart/form-data; boundary=XX".to_owned()),
            Just("multipart/form-data".to_owned()),
            Just("text/plain".to_owned()),
            "[ -~]{0,30}",
        ])
    }

    proptest::proptest! {
        /// Whatever a client sends, the request variable is made or the
        /// request refused with a reason; the body comes back byte for byte.
        #[test]
        fn any_request_becomes_a_variable_that_keeps_its_body(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            query in "[a-zA-Z0-9=&%+;,._~!$'()*:@/?-]{0,40}",
            content_type in content_type(),
            cookie in "[ -~]{0,30}",
        ) {
            let uri = format!("/p?{query}");
            let mut headers = vec![("cookie", cookie.as_str())];
            if let Some(content_type) = &content_type {
                headers.push(("content-type", content_type.as_str()));
            }
            let Ok(value) = request(&uri, &headers, &body, "/p") else { return Ok(()) };
            let bytes = match (&value["body"], &value["body_base64"]) {
                (Value::String(text), Value::Null) => text.as_bytes().to_vec(),
                (Value::Null, Value::String(encoded)) => BASE64.decode(encoded).unwrap(),
                other => panic!("body and body_base64 are {other:?}"),
            };
            proptest::prop_assert_eq!(bytes, body);
            proptest::prop_assert!(value["query"].is_object() && value["form"].is_object());
        }

        /// Query values arrive as the lists the client encoded, in order.
        #[test]
        fn query_pairs_come_back_as_lists_in_order(
            pairs in proptest::collection::vec(("[a-c]{1,2}", "\\PC{0,8}"), 0..6),
        ) {
            let mut encoder = form_urlencoded::Serializer::new(String::new());
            for (key, value) in &pairs {
                encoder.append_pair(key, value);
            }
            let uri = format!("/p?{}", encoder.finish());
            let value = request(&uri, &[], b"", "/p").unwrap();
            let mut expected = Map::new();
            for (key, item) in &pairs {
                push_all(&mut expected, key, [Value::from(item.as_str())]);
            }
            proptest::prop_assert_eq!(&value["query"], &Value::Object(expected));
        }

        /// A parameter is the decoded text the client percent-encoded,
        /// slashes included; a catch-all keeps the segments between.
        #[test]
        fn path_parameters_decode_to_what_was_encoded(
            one in "\\PC{1,10}",
            rest in proptest::collection::vec("\\PC{1,6}", 1..4),
        ) {
            let encode = |text: &str| {
                percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            let tail: Vec<String> = rest.iter().map(|r| encode(r)).collect();
            let uri = format!("/p/{}/{}", encode(&one), tail.join("/"));
            let value = request(&uri, &[], b"", "/p/{one}/{*rest}").unwrap();
            proptest::prop_assert_eq!(&value["params"]["one"], &Value::from(one));
            proptest::prop_assert_eq!(&value["params"]["rest"], &Value::from(rest.join("/")));
        }
    }
}
