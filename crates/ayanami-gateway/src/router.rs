//! The axum router: one handler per route and method, and the bus
//! listener that completes waiting requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, Response, StatusCode};
use axum::routing::{MethodFilter, MethodRouter};
use ayanami_bus::{Bus, BusError, Message, Sink, Subscription};
use ayanami_composition::{Composition, Route};
use ayanami_event::{EventName, Id, RouteSegment};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::auth::{self, Guard};
use crate::cors;
use crate::pending::{CODE, CONTENT, HEADER, Pending, Reply};
use crate::request;
use crate::response::{self, Failure};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A subscription was refused.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The secrets of an `auth` group could not be read.
    #[error(transparent)]
    Secret(#[from] crate::SecretError),
}

/// The gateway's subscriptions; dropping it stops the gateway answering.
#[derive(Debug)]
pub struct GatewayHandle {
    _subscriptions: Vec<Subscription>,
}

/// Everything a handler needs for one route and method.
struct Endpoint<B> {
    bus: B,
    pending: Pending,
    method: String,
    path: String,
    segments: Vec<RouteSegment>,
    request_event: EventName,
    expected: u8,
    timeout: Duration,
    max_body: usize,
    in_flight: Arc<Semaphore>,
}

/// Builds the router for the composition's gateway and subscribes to the
/// events that answer it.
///
/// # Errors
///
/// A [`GatewayError`] when a subscription is refused or the secrets of an
/// `auth` group cannot be read.
pub async fn router<B: Bus>(
    bus: B,
    composition: &Composition,
) -> Result<(Router, GatewayHandle), GatewayError> {
    let pending = Pending::default();
    let answers = pending.clone();
    let on_response = Sink::call(move |message| answer_with(&answers, &message));
    let responses = bus
        .subscribe("*.trig.response.>", None, on_response)
        .await?;
    let failures = pending.clone();
    let on_error = Sink::call(move |message| fail_with(&failures, &message));
    let errors = bus.subscribe("*.flow.*.err", None, on_error).await?;

    let mut router = Router::new();
    if let Some(gateway) = &composition.gateway {
        let in_flight = Arc::new(Semaphore::new(gateway.max_in_flight));
        for route in &gateway.routes {
            let mut methods = MethodRouter::new();
            for method in &route.methods {
                let endpoint = Arc::new(Endpoint {
                    bus: bus.clone(),
                    pending: pending.clone(),
                    method: method.clone(),
                    path: route.path.clone(),
                    segments: route.segments.clone(),
                    request_event: route.request_event(method),
                    expected: expected(composition, route, method),
                    timeout: gateway.timeout,
                    max_body: gateway.max_body,
                    in_flight: in_flight.clone(),
                });
                let handler = move |request: Request| handle(endpoint, request);
                methods = match method_filter(method) {
                    Some(filter) => methods.on(filter, handler),
                    None => methods.fallback(handler),
                };
            }
            router = router.route(&route.path, methods);
        }
        if !gateway.auth.is_empty() {
            let guard = Arc::new(Guard::load(&gateway.auth, &composition.dir)?);
            router = router.layer(axum::middleware::from_fn_with_state(guard, auth::layer));
        }
        // CORS wraps authentication: a browser's preflight carries no
        // credentials, and a 401 must name the origin for a page to read it.
        if let Some(cors) = &gateway.cors {
            let layer = axum::middleware::from_fn_with_state(Arc::new(cors.clone()), cors::layer);
            router = router.layer(layer);
        }
    }
    let router =
        router.fallback(|| async { response::text(StatusCode::NOT_FOUND, "Not Found".to_owned()) });
    let handle = GatewayHandle {
        _subscriptions: vec![responses, errors],
    };
    Ok((router, handle))
}

/// The filter of a method the composition lists; `None` for
/// `ANY`, which answers every method no other route of the path lists.
fn method_filter(method: &str) -> Option<MethodFilter> {
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    MethodFilter::try_from(method).ok()
}

/// The response variables some flow publishes for this route and method.
fn expected(composition: &Composition, route: &Route, method: &str) -> u8 {
    let base = route.response_event(method);
    let mut mask = 0;
    for to in composition
        .flows
        .iter()
        .flat_map(|f| &f.wirings)
        .flat_map(|w| &w.to)
    {
        if to.base() != base {
            continue;
        }
        mask |= match to.var().map(|v| v.split('.').next().unwrap_or(v)) {
            Some("code") => CODE,
            Some("content") => CONTENT,
            Some("header") => HEADER,
            _ => CODE | CONTENT | HEADER,
        };
    }
    mask
}

/// Records a response variable for the waiting request it names.
fn answer_with(pending: &Pending, message: &Message) {
    ayanami_metrics::metrics().received();
    let Some((id, var)) = response_parts(&message.subject) else {
        tracing::debug!(subject = %message.subject, "not a response event");
        return;
    };
    pending.answer(id.as_u128(), var, &message.value);
}

/// Fails the waiting request a flow's `err` event names.
fn fail_with(pending: &Pending, message: &Message) {
    ayanami_metrics::metrics().received();
    let token = message.subject.split('.').next().unwrap_or_default();
    if let Ok(id) = token.parse::<Id>() {
        pending.fail(id.as_u128(), &message.value);
    }
}

/// The ID and variable path of `<ID>.trig.response.<method>[.<route>].in[.<var>]`.
///
/// Route tokens are never `in` (see `ayanami-event`'s route rule), so the
/// first `in` after the method ends the route.
fn response_parts(subject: &str) -> Option<(Id, Option<&str>)> {
    let (token, rest) = subject.split_once('.')?;
    let id = token.parse().ok()?;
    let after_method = rest.strip_prefix("trig.response.")?.split_once('.')?.1;
    let mut offset = 0;
    for token in after_method.split('.') {
        if token == "in" {
            let var = &after_method[offset + token.len()..];
            return Some((id, var.strip_prefix('.')));
        }
        offset += token.len() + 1;
    }
    None
}

async fn handle<B: Bus>(endpoint: Arc<Endpoint<B>>, request: Request) -> Response<Body> {
    let mut line = RequestLine {
        id: Id::new(),
        method: &endpoint.method,
        route: &endpoint.path,
        started: Instant::now(),
        status: None,
    };
    let Ok(_permit) = endpoint.in_flight.clone().try_acquire_owned() else {
        let response = Failure::Overloaded.into_response();
        line.status = Some(response.status().as_u16());
        return response;
    };
    // The deadline covers reading the body and publishing too: a slow
    // client or a bus that is reconnecting must not hold a request longer.
    let answering = answer(&endpoint, line.id, request);
    let response = match tokio::time::timeout(endpoint.timeout, answering).await {
        Ok(Ok(response)) => response,
        Ok(Err(failure)) => failure.into_response(),
        Err(_) => Failure::Timeout.into_response(),
    };
    line.status = Some(response.status().as_u16());
    response
}

/// The one log line of a request, written when the handler ends; a client
/// that goes away first leaves the line with status 499.
struct RequestLine<'a> {
    id: Id,
    method: &'a str,
    route: &'a str,
    started: Instant,
    status: Option<u16>,
}

impl Drop for RequestLine<'_> {
    fn drop(&mut self) {
        let Self {
            id,
            method,
            route,
            started,
            status,
        } = self;
        let elapsed = started.elapsed();
        let code = status.unwrap_or(499);
        ayanami_metrics::metrics().request(method, route, code, elapsed);
        let duration_ms = format!("{:.3}", elapsed.as_secs_f64() * 1000.0);
        match status {
            Some(status) => {
                tracing::info!(%id, %method, %route, status, %duration_ms, "request");
            }
            None => {
                let status = 499;
                let message = "request abandoned by the client";
                tracing::info!(%id, %method, %route, status, %duration_ms, message);
            }
        }
    }
}

async fn answer<B: Bus>(
    endpoint: &Endpoint<B>,
    id: Id,
    request: Request,
) -> Result<Response<Body>, Failure> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    let limit = u64::try_from(endpoint.max_body).unwrap_or(u64::MAX);
    if declared.is_some_and(|length| length > limit) {
        return Err(Failure::TooLarge);
    }
    let body = axum::body::to_bytes(body, endpoint.max_body)
        .await
        .map_err(|error| {
            let error = error.into_inner();
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Failure::TooLarge
            } else {
                Failure::BadRequest(format!("the body could not be read: {error}"))
            }
        })?;
    let value = request::to_value(&parts, &body, &endpoint.segments)
        .await
        .map_err(|bad| Failure::BadRequest(bad.0))?;

    let (_ticket, rx) = endpoint.pending.wait(id.as_u128(), endpoint.expected);
    let subject = endpoint.request_event.subject(id);
    if let Err(error) = endpoint.bus.publish(subject, Arc::new(value)).await {
        tracing::error!(%id, %error, "request could not be published");
        return Err(Failure::Internal);
    }
    match rx.await {
        Ok(Reply::Answer(answer)) => response::build(answer).map_err(|reason| {
            tracing::error!(%id, reason, "flow answered with an invalid response");
            Failure::Internal
        }),
        Ok(Reply::Failed(error)) if error["kind"] == "timeout" => Err(Failure::Timeout),
        Ok(Reply::Failed(error)) if is_overload(&error) => Err(Failure::Overloaded),
        Ok(Reply::Failed(error)) => {
            tracing::warn!(%id, error = %error["message"], "flow failed");
            Err(Failure::Internal)
        }
        Err(_) => Err(Failure::Internal),
    }
}

/// Whether a flow's `err` value says that the flow, or a function it
/// called, refused the work for having too much of it.
fn is_overload(error: &Value) -> bool {
    error["kind"] == "overloaded" || error["cause"]["kind"] == "overloaded"
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ayanami_bus::MemoryBus;

    use super::*;

    /// Routes the checker accepts must never make the router panic.
    #[tokio::test]
    async fn every_route_set_the_checker_accepts_builds_a_router() {
        let paths = [
            "/",
            "/{*rest}",
            "/users/me",
            "/users/{id}",
            "/users/{id}/orders/{order}",
            "/files",
            "/files/{*path}",
            "/log/in",
        ];
        let mut yaml = String::from("name: t\ngateway:\n  routes:\n");
        let mut flows = String::from("flows:\n");
        for (index, path) in paths.iter().enumerate() {
            let route = Route {
                path: (*path).to_owned(),
                segments: ayanami_event::parse_route(path).unwrap(),
                methods: Vec::new(),
                span: ayanami_composition::Span::default(),
            };
            for method in ["GET", "ANY"] {
                let (request, response) =
                    (route.request_event(method), route.response_event(method));
                flows.push_str(&format!(
                    "  f{index}{method}:\n    wirings:\n      - from: {request}\n        var: request\n        to: {response}.content\n"
                ));
            }
            yaml.push_str(&format!("    - path: {path}\n      methods: [GET]\n"));
            yaml.push_str(&format!("    - path: {path}\n      methods: [ANY]\n"));
        }
        yaml.push_str(&flows);
        let composition = ayanami_composition::parse(&yaml, Path::new("t.yaml"), ".".into())
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(router(MemoryBus::new(), &composition).await.is_ok());
    }

    #[test]
    fn a_flow_or_function_refusing_work_is_an_overload_and_nothing_else_is() {
        let flow = serde_json::json!({"message": "m", "kind": "overloaded"});
        let call = serde_json::json!({"message": "m", "cause": {"kind": "overloaded"}});
        let exit = serde_json::json!({"message": "m", "cause": {"kind": "exit"}});
        assert!(is_overload(&flow) && is_overload(&call));
        assert!(!is_overload(&exit) && !is_overload(&Value::Null));
    }

    #[test]
    fn response_subjects_give_their_id_and_variable() {
        let id = "0123456789abcdef0123456789abcdef";
        let cases = [
            ("trig.response.get.in.content", Some(Some("content"))),
            ("trig.response.get.in", Some(None)),
            (
                "trig.response.get.hello._name.in.header.x-a",
                Some(Some("header.x-a")),
            ),
            ("trig.response.post.log.-in.in.code", Some(Some("code"))),
            ("trig.response.get.banner.in", Some(None)),
            ("trig.request.get.out", None),
            ("trig.response.get.inbox.out", None),
            ("trig.response.get.a.inbox.in.code", Some(Some("code"))),
        ];
        for (rest, expected) in cases {
            let subject = format!("{id}.{rest}");
            let parts = response_parts(&subject);
            assert_eq!(parts.map(|(_, var)| var), expected, "{rest}");
        }
        assert!(response_parts("nope.trig.response.get.in.content").is_none());
    }

    /// A route path from segments: literals (some needing escapes in
    /// subjects), parameters, and a last catch-all.
    fn route_path() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let segment = prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("in".to_owned()),
            Just("_x".to_owned()),
            Just("-y".to_owned()),
            Just("{p}".to_owned()),
            Just("{q}".to_owned()),
        ];
        let tail = prop_oneof![Just(String::new()), Just("/{*rest}".to_owned())];
        (proptest::collection::vec(segment, 0..4), tail)
            .prop_map(|(segments, tail)| format!("/{}{tail}", segments.join("/")))
            .prop_map(|path| path.replace("//", "/"))
    }

    /// A path a client could send for `route`: parameters filled with
    /// `fill`, percent-encoded.
    fn fill(route: &str, fill: &str) -> String {
        let encoded: String =
            percent_encoding::utf8_percent_encode(fill, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        route
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    encoded.as_str()
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Every route set the checker accepts builds a router, and a path
        /// made from one of its routes is routed (never a 404), whatever
        /// the parameter values; any other path gets a status, never a panic.
        #[test]
        fn generated_routes_route_their_own_paths_and_anything_else_gets_a_status(
            paths in proptest::collection::vec(route_path(), 1..5),
            value in "\\PC{1,12}",
            junk in "(/[a-z_{}%*.-]{0,4}){0,5}",
        ) {
            use tower_service::Service;

            let mut yaml = String::from("name: t\ngateway:\n  timeout: 1ms\n  routes:\n");
            let mut flows = String::from("flows:\n");
            for (index, path) in paths.iter().enumerate() {
                let Ok(segments) = ayanami_event::parse_route(path) else { return Ok(()) };
                let route = Route {
                    path: path.clone(),
                    segments,
                    methods: Vec::new(),
                    span: ayanami_composition::Span::default(),
                };
                let (request, response) = (route.request_event("GET"), route.response_event("GET"));
                flows.push_str(&format!(
                    "  f{index}:\n    wirings:\n      - from: {request}\n        var: request\n        to: {response}.content\n"
                ));
                yaml.push_str(&format!("    - path: \"{path}\"\n"));
            }
            yaml.push_str(&flows);
            let Ok(composition) = ayanami_composition::parse(&yaml, Path::new("t.yaml"), ".".into()) else {
                return Ok(());
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            runtime.block_on(async {
                let (mut router, _handle) = router(MemoryBus::new(), &composition).await.unwrap();
                let routed = composition.gateway.as_ref().unwrap().routes.iter().map(|r| fill(&r.path, &value));
                for path in routed {
                    let request = Request::builder().uri(&path).body(Body::empty()).unwrap();
                    let status = router.call(request).await.unwrap().status();
                    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{path} in {yaml}");
                }
                for method in [Method::GET, Method::POST] {
                    let uri = if junk.is_empty() { "/".to_owned() } else { junk.clone() };
                    let Ok(request) = Request::builder().method(method).uri(&uri).body(Body::empty()) else {
                        continue;
                    };
                    let status = router.call(request).await.unwrap().status().as_u16();
                    assert!([404, 405, 504].contains(&status), "{status} for {uri}");
                }
            });
        }

        /// A response subject gives back the ID and variable it was made of.
        #[test]
        fn response_subjects_give_back_their_id_and_variable(
            path in route_path(),
            method in "(GET|POST|ANY)",
            var in proptest::option::of("(code|content|header)(\\.[a-z_-]{1,5}){0,2}"),
        ) {
            let Ok(segments) = ayanami_event::parse_route(&path) else { return Ok(()) };
            let route = Route {
                path,
                segments,
                methods: Vec::new(),
                span: ayanami_composition::Span::default(),
            };
            let id = Id::new();
            let mut subject = route.response_event(&method).subject(id);
            if let Some(var) = &var {
                subject = format!("{subject}.{var}");
            }
            let parts = response_parts(&subject);
            proptest::prop_assert_eq!(parts.map(|(i, v)| (i.as_u128(), v.map(str::to_owned))), Some((id.as_u128(), var)));
        }

        #[test]
        fn any_subject_is_read_without_panicking(subject in "\\PC{0,80}") {
            let _ = response_parts(&subject);
        }
    }
}
