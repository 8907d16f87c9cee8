//! `http` functions: the inputs POSTed as one JSON object to a web
//! service, the outputs taken from the JSON object it answers with, over
//! kept-alive connections shared by a service's functions.

use std::error::Error;
use std::time::Duration;

use ayanami_composition::Function;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::{Map, Value};

use crate::process::{MAX_ANSWER, outputs_of, tail};
use crate::{CallError, CallErrorKind};

/// A pool of connections to web services; clones share it.
#[derive(Clone)]
pub(crate) struct Connections(Client<HttpConnector, Full<Bytes>>);

impl Connections {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        // A call is one small request and one small answer; waiting to
        // coalesce segments (Nagle) would only add latency to each.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self(client)
    }
}

/// One `http` function: where it is served and what it must answer.
pub(crate) struct Endpoint {
    name: String,
    url: String,
    uri: Result<Uri, String>,
    outputs: Vec<String>,
    timeout: Duration,
    connections: Connections,
}

impl Endpoint {
    pub(crate) fn new(
        name: String,
        function: &Function,
        url: &str,
        connections: Connections,
    ) -> Self {
        Self {
            name,
            url: url.to_owned(),
            uri: url.parse().map_err(|error| format!("{error}")),
            outputs: function.outputs.clone(),
            timeout: function.timeout,
            connections,
        }
    }

    /// POSTs `inputs` and takes the outputs from the answer.
    pub(crate) async fn call(
        &self,
        inputs: &Map<String, Value>,
    ) -> Result<Map<String, Value>, CallError> {
        let uri = self.uri.clone().map_err(|error| {
            let detail = format!("has a URL `{}` that cannot be used: {error}", self.url);
            CallError::new(&self.name, CallErrorKind::Spawn, detail)
        })?;
        let body = serde_json::to_vec(inputs).expect("a JSON map always serialises");
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let json = HeaderValue::from_static("application/json");
        request.headers_mut().insert(CONTENT_TYPE, json);

        let answered = tokio::time::timeout(self.timeout, self.exchange(request)).await;
        let Ok(answer) = answered else {
            let detail = format!(
                "got no answer from `{}` within {:?}",
                self.url, self.timeout
            );
            return Err(CallError::new(&self.name, CallErrorKind::Timeout, detail));
        };
        let (status, body) = answer?;
        if !status.is_success() {
            let detail = format!("answered with HTTP status {status}");
            let mut error =
                CallError::new(&self.name, CallErrorKind::Status, detail).with_body(tail(&body));
            error.status = Some(i32::from(status.as_u16()));
            return Err(error);
        }
        outputs_of(&self.outputs, &body, "a body").map_err(|detail| {
            CallError::new(&self.name, CallErrorKind::BadOutput, detail).with_body(tail(&body))
        })
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let response = self.connections.0.request(request).await.map_err(|error| {
            let what = if error.is_connect() {
                "could not connect to"
            } else {
                "lost the connection to"
            };
            let detail = format!("{what} `{}`: {}", self.url, causes(&error));
            CallError::new(&self.name, CallErrorKind::Connect, detail)
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER);
        let body = body.collect().await.map_err(|error| {
            if error.is::<LengthLimitError>() {
                let detail = format!("answered with more than {} MiB", MAX_ANSWER >> 20);
                return CallError::new(&self.name, CallErrorKind::BadOutput, detail);
            }
            let detail = format!(
                "lost the connection to `{}` while reading the answer: {}",
                self.url,
                causes(&*error)
            );
            CallError::new(&self.name, CallErrorKind::Connect, detail)
        })?;
        Ok((status, body.to_bytes()))
    }
}

/// The innermost causes of `error`, which say more than hyper's outer
/// wrappers (`client error (Connect)`).
fn causes(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
