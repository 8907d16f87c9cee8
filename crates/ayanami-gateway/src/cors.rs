//! Cross-origin requests: preflights answered from the gateway's `cors`
//! settings, and the allowed origin named on every other response.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderValue, ORIGIN, VARY,
};
use axum::http::{Method, Response, StatusCode};
use axum::middleware::Next;
use ayanami_composition::Cors;

/// The middleware: a preflight never reaches a route, so a flow need not
/// answer `OPTIONS` for browsers to call it.
pub(crate) async fn layer(
    State(cors): State<Arc<Cors>>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let Some(origin) = request.headers().get(ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let allowed = origin.to_str().is_ok_and(|o| cors.allows(o));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        return preflight_response(&cors, allowed.then_some(origin));
    }
    let mut response = next.run(request).await;
    if allowed {
        let headers = response.headers_mut();
        if !allow_origin(&cors, origin, headers) {
            headers.append(VARY, HeaderValue::from_static("origin"));
        }
    }
    response
}

/// `204 No Content` with what the gateway allows; a browser refuses the
/// real request when the origin is not allowed, as then nothing is named.
fn preflight_response(cors: &Cors, origin: Option<HeaderValue>) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        VARY,
        HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers",
        ),
    );
    let Some(origin) = origin else {
        return response;
    };
    allow_origin(cors, origin, headers);
    let lists = [
        (ACCESS_CONTROL_ALLOW_METHODS, cors.methods.join(", ")),
        (ACCESS_CONTROL_ALLOW_HEADERS, cors.headers.join(", ")),
        (ACCESS_CONTROL_MAX_AGE, cors.max_age.as_secs().to_string()),
    ];
    for (name, value) in lists {
        // The composition checks methods and header names, so every list
        // is a valid header value; an empty one is left out.
        if let Some(value) = HeaderValue::try_from(value).ok().filter(|v| !v.is_empty()) {
            headers.insert(name, value);
        }
    }
    response
}

/// Names the allowed origin; whether it is `*`, the same for every origin.
fn allow_origin(cors: &Cors, origin: HeaderValue, headers: &mut HeaderMap) -> bool {
    let any = cors.origins.iter().any(|o| o == "*");
    let value = if any {
        HeaderValue::from_static("*")
    } else {
        origin
    };
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
    any
}
