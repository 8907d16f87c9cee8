//! The response variables as an HTTP response; every error status is made here.

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use axum::http::{Response, StatusCode};
use base64::Engine;
use serde_json::Value;

use crate::bytes::BASE64;
use crate::pending::Answer;

/// Why the gateway answers without (or despite) a flow's answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The body was larger than the gateway accepts.
    TooLarge,
    /// The request could not be read or made into a request variable.
    BadRequest(String),
    /// The flow failed, or answered with something that is not a response.
    Internal,
    /// No answer came by the deadline.
    Timeout,
    /// The gateway, a flow or a function has as much work as it takes.
    Overloaded,
}

impl Failure {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        let status = self.status();
        let overloaded = matches!(self, Self::Overloaded);
        let body = match self {
            Self::BadRequest(reason) => format!("Bad Request: {reason}"),
            _ => status.canonical_reason().unwrap_or_default().to_owned(),
        };
        let mut response = text(status, body);
        if overloaded {
            // Overload passes in moments; a client may try again soon.
            let retry = HeaderValue::from_static("1");
            response.headers_mut().insert(RETRY_AFTER, retry);
        }
        response
    }
}

pub(crate) fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Builds the response a flow answered with.
///
/// # Errors
///
/// A description of what is wrong when `code` is not a status, `content`
/// holds bytes that are not base64, or a header cannot be sent; the gateway
/// answers 500 and logs it.
pub(crate) fn build(answer: Answer) -> Result<Response<Body>, String> {
    let status = match answer.code.as_deref() {
        None | Some(Value::Null) => StatusCode::OK,
        Some(code) => code
            .as_u64()
            .or_else(|| code.as_str().and_then(|s| s.parse().ok()))
            .and_then(|c| u16::try_from(c).ok())
            .and_then(|c| StatusCode::from_u16(c).ok())
            .filter(|c| c.as_u16() >= 200)
            .ok_or_else(|| format!("`code` {code} is not an HTTP status from 200 to 999"))?,
    };
    let (body, content_type) = match answer.content.as_deref() {
        None | Some(Value::Null) => (Body::empty(), None),
        Some(Value::String(text)) => (Body::from(text.clone()), Some("text/plain; charset=utf-8")),
        Some(Value::Object(map)) if map.len() == 1 && map.contains_key("base64") => {
            let bytes = map["base64"]
                .as_str()
                .and_then(|text| BASE64.decode(text).ok())
                .ok_or("`content.base64` is not a base64 string")?;
            (Body::from(bytes), Some("application/octet-stream"))
        }
        Some(other) => (Body::from(other.to_string()), Some("application/json")),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    for (name, value) in answer.header {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| format!("`{name}` is not a header name"))?;
        if ayanami_composition::FRAMING_HEADERS.contains(&name.as_str()) {
            return Err(format!(
                "header `{name}` frames the connection, which is the gateway's to set, not a flow's"
            ));
        }
        let values: Vec<&Value> = match &*value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        response.headers_mut().remove(&name);
        for value in values {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            let value = HeaderValue::try_from(text)
                .map_err(|_| format!("header `{name}` has a value that cannot be sent"))?;
            response.headers_mut().append(name.clone(), value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn answer(code: Option<Value>, content: Option<Value>, header: &[(&str, Value)]) -> Answer {
        Answer {
            code: code.map(Arc::new),
            content: content.map(Arc::new),
            header: header
                .iter()
                .map(|(n, v)| ((*n).to_owned(), Arc::new(v.clone())))
                .collect(),
        }
    }

    #[test]
    fn strings_are_text_and_other_values_json() {
        let r = build(answer(None, Some(json!("hi")), &[])).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        let r = build(answer(Some(json!(201)), Some(json!({"a": 1})), &[])).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn an_object_of_only_base64_is_bytes() {
        let r = build(answer(None, Some(json!({"base64": "/wBh"})), &[])).unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "application/octet-stream");
        let r = build(answer(None, Some(json!({"base64": "/wBh", "x": 1})), &[])).unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        for bad in [json!({"base64": "not base64!"}), json!({"base64": 7})] {
            let error = build(answer(None, Some(bad), &[])).unwrap_err();
            assert_eq!(error, "`content.base64` is not a base64 string");
        }
    }

    #[test]
    fn a_header_the_flow_sets_wins_and_lists_repeat() {
        let header = [
            ("content-type", json!("text/html")),
            ("set-cookie", json!(["a=1", "b=2"])),
        ];
        let r = build(answer(None, Some(json!("<p>")), &header)).unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "text/html");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn framing_headers_are_refused_with_a_reason() {
        for name in ["content-length", "Transfer-Encoding", "connection"] {
            let header = [(name, json!("5"))];
            let error = build(answer(None, Some(json!("Hello there")), &header)).unwrap_err();
            let lower = name.to_ascii_lowercase();
            assert_eq!(
                error,
                format!(
                    "header `{lower}` frames the connection, which is the gateway's to set, not a flow's"
                )
            );
        }
    }

    #[test]
    fn invalid_codes_are_refused_with_a_reason() {
        for code in [
            json!(42),
            json!(1000),
            json!("teapot"),
            json!(true),
            json!(101),
        ] {
            let error = build(answer(Some(code.clone()), None, &[])).unwrap_err();
            assert!(error.starts_with("`code`"), "{code}: {error}");
        }
    }
}
