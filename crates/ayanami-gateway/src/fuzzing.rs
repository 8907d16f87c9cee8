//! What `fuzz/` drives, outside the crate's API: compiled only with the
//! `fuzzing` feature.

use axum::body::Bytes;
use axum::http::Request;
use ayanami_event::RouteSegment;
use serde_json::Value;

/// The request variable a flow would receive for a request to `uri` with
/// `headers` and `body` on a route of `segments`, or the reason the
/// gateway would answer `400`; `None` when the parts make no HTTP request
/// at all (a header name HTTP does not allow, say).
#[must_use]
pub fn request_value(
    uri: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    segments: &[RouteSegment],
) -> Option<Result<Value, String>> {
    let mut builder = Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (parts, ()) = builder.body(()).ok()?.into_parts();
    let body = Bytes::copy_from_slice(body);
    let value =
        futures_util::FutureExt::now_or_never(crate::request::to_value(&parts, &body, segments))
            .expect("a body in memory is read at once");
    Some(value.map_err(|bad| bad.0))
}
