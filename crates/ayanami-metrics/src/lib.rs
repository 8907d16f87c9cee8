//! Ayanami's Prometheus metrics, one set per process.
//!
//! The gateway counts requests, the services count function calls, the
//! flow engine counts flow instances, all three count the events they
//! receive, and the binary counts the events it publishes,
//! all into the registry [`metrics`] returns; the admin server writes it
//! out with [`Metrics::encode`] in the OpenMetrics text format. The names
//! are listed in `docs/observability.md`.
//!
//! Counting is atomic: a label set is looked up under the exposition
//! library's read lock, and [`FlowMetrics`] holds a flow's series resolved
//! once so that the engine's hot path touches atomics only. This crate
//! knows nothing of HTTP or the bus; serving `/metrics` is the binary's.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// This process's metrics.
#[must_use]
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    function: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FunctionLabels {
    function: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FlowOutcomeLabels {
    flow: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FlowLabels {
    flow: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// From half a millisecond to about 16 seconds, doubling.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every series Ayanami keeps, in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Histograms<RouteLabels>,
    calls: Family<CallLabels, Counter>,
    call_duration: Histograms<FunctionLabels>,
    flows: Family<FlowOutcomeLabels, Counter>,
    flow_duration: Histograms<FlowLabels>,
    flows_in_flight: Family<FlowLabels, Gauge>,
    published: Counter,
    received: Counter,
    dropped: Counter,
}

impl Metrics {
    fn new() -> Self {
        let metrics = Self {
            registry: Registry::with_prefix("ayanami"),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(seconds),
            calls: Family::default(),
            call_duration: Family::new_with_constructor(seconds),
            flows: Family::default(),
            flow_duration: Family::new_with_constructor(seconds),
            flows_in_flight: Family::default(),
            published: Counter::default(),
            received: Counter::default(),
            dropped: Counter::default(),
        };
        metrics.register()
    }

    fn register(mut self) -> Self {
        let r = &mut self.registry;
        let help = "HTTP requests the gateway answered, by method, route and status";
        r.register("http_requests", help, self.requests.clone());
        let help = "How long the gateway took to answer, by method and route";
        let metric = self.request_duration.clone();
        r.register_with_unit("http_request_duration", help, Unit::Seconds, metric);
        let help = "Function calls by function and outcome (ok or the error's kind)";
        r.register("function_calls", help, self.calls.clone());
        let help = "How long function calls took, by function";
        let metric = self.call_duration.clone();
        r.register_with_unit("function_call_duration", help, Unit::Seconds, metric);
        let help = "Flow instances ended, by flow and outcome (ok, error, timeout, overloaded)";
        r.register("flow_instances", help, self.flows.clone());
        let help = "How long flow instances lived, by flow";
        let metric = self.flow_duration.clone();
        r.register_with_unit("flow_instance_duration", help, Unit::Seconds, metric);
        let help = "Flow instances started and not yet ended, by flow";
        r.register(
            "flow_instances_in_flight",
            help,
            self.flows_in_flight.clone(),
        );
        let help = "Events this process published on the bus";
        r.register("bus_published", help, self.published.clone());
        let help = "Events this process's components received from the bus";
        r.register("bus_received", help, self.received.clone());
        let help = "Events dropped because their subscriber had fallen a whole buffer behind";
        r.register("bus_dropped", help, self.dropped.clone());
        self
    }

    /// Counts a request the gateway answered with `status` after `elapsed`.
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let route = RouteLabels {
            method: method.to_owned(),
            route: route.to_owned(),
        };
        let seconds = elapsed.as_secs_f64();
        self.request_duration.get_or_create(&route).observe(seconds);
        let RouteLabels { method, route } = route;
        let labels = RequestLabels {
            method,
            route,
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts a call of `function` (`service.function`) that ended with
    /// `outcome`: `ok`, or the kind of its error.
    pub fn call(&self, function: &str, outcome: &'static str, elapsed: Duration) {
        let labels = FunctionLabels {
            function: function.to_owned(),
        };
        let seconds = elapsed.as_secs_f64();
        self.call_duration.get_or_create(&labels).observe(seconds);
        let labels = CallLabels {
            function: labels.function,
            outcome,
        };
        self.calls.get_or_create(&labels).inc();
    }

    /// Counts a call of `function` refused before it ran, with the kind of
    /// its error as the outcome; refused calls have no duration.
    pub fn refused(&self, function: &str, outcome: &'static str) {
        let labels = CallLabels {
            function: function.to_owned(),
            outcome,
        };
        self.calls.get_or_create(&labels).inc();
    }

    /// The series of the flow called `flow`, resolved once.
    #[must_use]
    pub fn flow(&self, flow: &str) -> FlowMetrics {
        let outcome = |outcome| {
            let labels = FlowOutcomeLabels {
                flow: flow.to_owned(),
                outcome,
            };
            self.flows.get_or_create(&labels).clone()
        };
        let labels = FlowLabels {
            flow: flow.to_owned(),
        };
        FlowMetrics {
            ok: outcome("ok"),
            error: outcome("error"),
            timeout: outcome("timeout"),
            overloaded: outcome("overloaded"),
            duration: self.flow_duration.get_or_create(&labels).clone(),
            in_flight: self.flows_in_flight.get_or_create(&labels).clone(),
        }
    }

    /// Counts an event published on the bus.
    pub fn published(&self) {
        self.published.inc();
    }

    /// Counts an event the bus delivered to a subscriber.
    pub fn received(&self) {
        self.received.inc();
    }

    /// Counts an event dropped for a slow consumer.
    pub fn dropped(&self) {
        self.dropped.inc();
    }

    /// Every series in the OpenMetrics text format.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// How a flow instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowOutcome {
    /// All its outputs were set.
    Ok,
    /// A function failed with no wiring for its error.
    Error,
    /// Its deadline passed.
    Timeout,
}

/// One flow's series, resolved once; counting touches atomics only.
#[derive(Debug, Clone)]
pub struct FlowMetrics {
    ok: Counter,
    error: Counter,
    timeout: Counter,
    overloaded: Counter,
    duration: Histogram,
    in_flight: Gauge,
}

impl FlowMetrics {
    /// Counts an instance started.
    pub fn started(&self) {
        self.in_flight.inc();
    }

    /// Counts an instance refused because the flow had as many as it takes.
    pub fn refused(&self) {
        self.overloaded.inc();
    }

    /// Counts an instance that ended with `outcome` after `elapsed`.
    pub fn ended(&self, outcome: FlowOutcome, elapsed: Duration) {
        self.in_flight.dec();
        self.duration.observe(elapsed.as_secs_f64());
        let counter = match outcome {
            FlowOutcome::Ok => &self.ok,
            FlowOutcome::Error => &self.error,
            FlowOutcome::Timeout => &self.timeout,
        };
        counter.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_in_the_exposition_with_their_labels() {
        let metrics = Metrics::new();
        let millis = Duration::from_millis(3);
        metrics.request("GET", "/hello/{name}", 200, millis);
        metrics.call("cmd.figlet", "exit", millis);
        let flow = metrics.flow("banner");
        flow.started();
        flow.started();
        flow.ended(FlowOutcome::Ok, millis);
        metrics.published();
        metrics.dropped();
        flow.refused();

        let text = metrics.encode();
        let expected = [
            r#"ayanami_http_requests_total{method="GET",route="/hello/{name}",status="200"} 1"#,
            r#"ayanami_function_calls_total{function="cmd.figlet",outcome="exit"} 1"#,
            r#"ayanami_flow_instances_total{flow="banner",outcome="ok"} 1"#,
            r#"ayanami_flow_instances_total{flow="banner",outcome="timeout"} 0"#,
            r#"ayanami_flow_instances_in_flight{flow="banner"} 1"#,
            r#"ayanami_flow_instance_duration_seconds_count{flow="banner"} 1"#,
            "ayanami_bus_published_total 1",
            "ayanami_bus_received_total 0",
            "ayanami_bus_dropped_total 1",
            r#"ayanami_flow_instances_total{flow="banner",outcome="overloaded"} 1"#,
            "# EOF",
        ];
        for line in expected {
            assert!(
                text.lines().any(|l| l == line),
                "`{line}` is not in:\n{text}"
            );
        }
    }
}
