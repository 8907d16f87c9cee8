//! The axum router: one handler per route and method, and the bus
//! listener that completes waiting requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, Response, StatusCode};
use axum::routing::{MethodFilter, MethodRouter};
use ayanami_bus::{Bus, BusError, Delivery, Sink, Subscription};
use ayanami_composition::{Composition, Route};
use ayanami_event::{Direction, EventName, Id, RouteSegment};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::pending::{CODE, CONTENT, HEADER, Pending, Reply};
use crate::request;
use crate::response::{self, Failure};

const BUFFER: usize = 16384;
const RESPONSES: usize = 0;
const FLOW_ERRORS: usize = 1;

/// The gateway's bus listener; dropping it stops the gateway answering.
#[derive(Debug)]
pub struct GatewayHandle {
    task: JoinHandle<()>,
    _subscriptions: Vec<Subscription>,
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
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
}

/// Builds the router for the composition's gateway and subscribes to the
/// events that answer it.
///
/// # Errors
///
/// A [`BusError`] when a subscription is refused.
pub async fn router<B: Bus>(
    bus: B,
    composition: &Composition,
) -> Result<(Router, GatewayHandle), BusError> {
    let pending = Pending::default();
    let (tx, rx) = mpsc::channel(BUFFER);
    let responses = bus
        .subscribe("*.trig.response.>", None, Sink::new(tx.clone(), RESPONSES))
        .await?;
    let errors = bus
        .subscribe("*.flow.*.err", None, Sink::new(tx, FLOW_ERRORS))
        .await?;
    let task = tokio::spawn(listen(rx, pending.clone()));

    let mut router = Router::new();
    if let Some(gateway) = &composition.gateway {
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
                });
                let filter = Method::from_bytes(method.as_bytes())
                    .ok()
                    .and_then(|m| MethodFilter::try_from(m).ok())
                    .expect("the composition checks methods");
                methods = methods.on(filter, move |request: Request| handle(endpoint, request));
            }
            router = router.route(&route.path, methods);
        }
    }
    let router =
        router.fallback(|| async { response::text(StatusCode::NOT_FOUND, "Not Found".to_owned()) });
    let handle = GatewayHandle {
        task,
        _subscriptions: vec![responses, errors],
    };
    Ok((router, handle))
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

async fn listen(mut rx: mpsc::Receiver<Delivery>, pending: Pending) {
    while let Some(Delivery { tag, message }) = rx.recv().await {
        let Some((token, rest)) = message.subject.split_once('.') else {
            continue;
        };
        let Ok(id) = token.parse::<Id>() else {
            continue;
        };
        match tag {
            RESPONSES => match rest.parse::<EventName>() {
                Ok(event) if event.direction() == Direction::In => {
                    pending.answer(id.as_u128(), event.var(), &message.value)
                }
                _ => tracing::debug!(subject = %message.subject, "not a response event"),
            },
            _ => pending.fail(id.as_u128(), &message.value),
        }
    }
}

async fn handle<B: Bus>(endpoint: Arc<Endpoint<B>>, request: Request) -> Response<Body> {
    let started = Instant::now();
    let id = Id::new();
    let response = match answer(&endpoint, id, request).await {
        Ok(response) => response,
        Err(failure) => failure.into_response(),
    };
    tracing::info!(
        %id,
        method = %endpoint.method,
        route = %endpoint.path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

async fn answer<B: Bus>(
    endpoint: &Endpoint<B>,
    id: Id,
    request: Request,
) -> Result<Response<Body>, Failure> {
    let (parts, body) = request.into_parts();
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
        .map_err(|bad| Failure::BadRequest(bad.0))?;

    let (_ticket, rx) = endpoint.pending.wait(id.as_u128(), endpoint.expected);
    let subject = endpoint.request_event.subject(id);
    if let Err(error) = endpoint.bus.publish(subject, Arc::new(value)).await {
        tracing::error!(%id, %error, "request could not be published");
        return Err(Failure::Internal);
    }
    match tokio::time::timeout(endpoint.timeout, rx).await {
        Ok(Ok(Reply::Answer(answer))) => response::build(answer).map_err(|reason| {
            tracing::error!(%id, reason, "flow answered with an invalid response");
            Failure::Internal
        }),
        Ok(Ok(Reply::Failed(error))) if error["kind"] == "timeout" => Err(Failure::Timeout),
        Ok(Ok(Reply::Failed(error))) => {
            tracing::warn!(%id, error = %error["message"], "flow failed");
            Err(Failure::Internal)
        }
        Ok(Err(_)) => Err(Failure::Internal),
        Err(_) => Err(Failure::Timeout),
    }
}
