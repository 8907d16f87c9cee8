//! An HTTP request as the JSON value a flow receives.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use ayanami_event::RouteSegment;
use serde_json::{Map, Value};

/// A request the gateway refuses before any flow sees it.
#[derive(Debug)]
pub(crate) struct BadRequest(pub(crate) String);

/// The request variable:
///
/// ```json
/// {"method": "GET", "path": "/hello/shinji", "raw_query": "a=1",
///  "query": {"a": ["1"]}, "form": {"a": ["1"]}, "params": {"name": "shinji"},
///  "header": {"host": ["localhost:8080"]}, "body": "", "json": null}
/// ```
///
/// `form` holds the fields of a urlencoded body followed by the query's.
pub(crate) fn to_value(
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
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();

    let mut form = if content_type == "application/x-www-form-urlencoded" {
        pairs_to_map(form_urlencoded::parse(body))
    } else {
        Map::new()
    };
    for (key, values) in &query {
        let Value::Array(values) = values else {
            continue;
        };
        let entry = form
            .entry(key.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.extend(values.iter().cloned());
        }
    }

    let is_json = content_type == "application/json" || content_type.ends_with("+json");
    let json = if is_json && !body.is_empty() {
        serde_json::from_slice(body)
            .map_err(|error| BadRequest(format!("malformed JSON body: {error}")))?
    } else {
        Value::Null
    };

    let mut request = Map::new();
    request.insert("method".into(), parts.method.as_str().into());
    request.insert("path".into(), parts.uri.path().into());
    request.insert("raw_query".into(), raw_query.into());
    request.insert("query".into(), query.into());
    request.insert("form".into(), form.into());
    request.insert("params".into(), params(parts.uri.path(), segments).into());
    request.insert("header".into(), headers(parts).into());
    request.insert(
        "body".into(),
        std::str::from_utf8(body).map_or(Value::Null, Value::from),
    );
    request.insert("json".into(), json);
    Ok(Value::Object(request))
}

fn pairs_to_map<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in pairs {
        let entry = map
            .entry(key.into_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(value.into_owned()));
        }
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

    fn value(
        uri: &str,
        content_type: Option<&str>,
        body: &str,
        route: &str,
    ) -> Result<Value, BadRequest> {
        let mut builder = Request::builder()
            .uri(uri)
            .header("x-twice", "a")
            .header("x-twice", "b");
        if let Some(content_type) = content_type {
            builder = builder.header("Content-Type", content_type);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        to_value(
            &parts,
            &Bytes::from(body.to_owned()),
            &parse_route(route).unwrap(),
        )
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
}
