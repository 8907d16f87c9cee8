//! Starting components on a bus and serving until a signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ayanami_bus::{Bus, BusError, Sink, Subscription};
use ayanami_composition::Composition;
use ayanami_flow::Plan;
use serde_json::Value;

/// One deployable part of a composition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Component {
    /// The HTTP gateway.
    Gateway,
    /// One flow, by name.
    Flow(String),
    /// One service, by name.
    Service(String),
    /// Every schedule trigger. Each replica fires every schedule, so this
    /// one runs once.
    Schedules,
    /// Every NATS subject trigger; replicas share the messages.
    Subjects,
}

impl Component {
    /// Every component of `composition`: services and flows first, so that
    /// they listen before a trigger starts them.
    pub(crate) fn all(composition: &Composition) -> Vec<Self> {
        let services = composition
            .services
            .iter()
            .map(|s| Self::Service(s.name.clone()));
        let flows = composition.flows.iter().map(|f| Self::Flow(f.name.clone()));
        let triggers = &composition.triggers;
        let subjects = (!triggers.subjects.is_empty()).then_some(Self::Subjects);
        let schedules = (!triggers.schedules.is_empty()).then_some(Self::Schedules);
        let gateway = composition.gateway.as_ref().map(|_| Self::Gateway);
        services
            .chain(flows)
            .chain(subjects)
            .chain(schedules)
            .chain(gateway)
            .collect()
    }

    /// Whether the component starts flows by itself, rather than being
    /// called by them.
    pub(crate) fn is_trigger(&self) -> bool {
        matches!(self, Self::Gateway | Self::Schedules | Self::Subjects)
    }

    /// `gateway`, `flow banner`, `service cmd`: the arguments of `ayanami serve`.
    pub(crate) fn args(&self) -> Vec<&str> {
        match self {
            Self::Gateway => vec!["gateway"],
            Self::Flow(name) => vec!["flow", name],
            Self::Service(name) => vec!["service", name],
            Self::Schedules => vec!["schedules"],
            Self::Subjects => vec!["subjects"],
        }
    }

    /// A short label for logs: `gateway`, `flow.banner`, `service.cmd`.
    pub(crate) fn label(&self) -> String {
        self.args().join(".")
    }

    /// Checks that the component exists in `composition`.
    pub(crate) fn check(&self, composition: &Composition) -> anyhow::Result<()> {
        let names = |items: Vec<&str>| {
            items
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Gateway if composition.gateway.is_none() => {
                bail!("the composition has no `gateway`")
            }
            Self::Schedules if composition.triggers.schedules.is_empty() => {
                bail!("the composition has no `triggers.schedule`")
            }
            Self::Subjects if composition.triggers.subjects.is_empty() => {
                bail!("the composition has no `triggers.subject`")
            }
            Self::Flow(name) if composition.flow(name).is_none() => {
                let known = names(composition.flows.iter().map(|f| f.name.as_str()).collect());
                bail!("unknown flow `{name}`; the composition's flows are {known}")
            }
            Self::Service(name) if composition.service(name).is_none() => {
                let known = names(
                    composition
                        .services
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect(),
                );
                bail!("unknown service `{name}`; the composition's services are {known}")
            }
            _ => Ok(()),
        }
    }
}

/// Limits given on the command line or in the environment, which win over
/// the composition's.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Limits {
    /// How many requests the gateway answers at once; beyond, 503 with
    /// `Retry-After` [default: the composition's `max_in_flight`, else 4096]
    #[arg(long, env = "AYANAMI_MAX_IN_FLIGHT", value_name = "N", value_parser = count)]
    max_in_flight: Option<usize>,

    /// How long work in flight may take to finish after SIGTERM or Ctrl-C,
    /// such as `30s` [default: 10s]
    #[arg(long, env = "AYANAMI_GRACE", value_name = "DURATION", value_parser = duration)]
    grace: Option<Duration>,
}

fn duration(text: &str) -> Result<Duration, String> {
    ayanami_composition::parse_duration(text).ok_or_else(|| {
        format!(
            "`{text}` is not a duration above zero and at most 8760h, such as `500ms`, `30s` or `2m`"
        )
    })
}

fn count(text: &str) -> Result<usize, String> {
    let max = ayanami_composition::defaults::MAX_COUNT;
    text.parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("`{text}` is not a whole number from 1 to {max}"))
}

impl Limits {
    /// Writes the limits given into `composition`.
    pub(crate) fn apply(&self, composition: &mut Composition) {
        if let (Some(max), Some(gateway)) = (self.max_in_flight, composition.gateway.as_mut()) {
            gateway.max_in_flight = max;
        }
    }

    /// The grace period after a stop signal.
    pub(crate) fn grace(&self) -> Duration {
        self.grace.unwrap_or(GRACE)
    }

    /// The same limits as arguments of `ayanami serve`.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(max) = self.max_in_flight {
            args.extend(["--max-in-flight".to_owned(), max.to_string()]);
        }
        if let Some(grace) = self.grace {
            // In seconds with every digit, so that no grace rounds to zero.
            args.extend(["--grace".to_owned(), format!("{}s", grace.as_secs_f64())]);
        }
        args
    }
}

/// Where the gateway (if any) listens, the admin address, and how long
/// work may take to finish at a stop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addresses {
    pub(crate) gateway: SocketAddr,
    pub(crate) admin: Option<SocketAddr>,
    pub(crate) grace: Duration,
}

/// Components started on a bus; dropping it stops them.
pub(crate) struct Running {
    services: Vec<ayanami_function::ServiceHandle>,
    flows: Vec<ayanami_flow::FlowHandle>,
    triggers: Vec<ayanami_trigger::TriggerHandle>,
    gateway: Option<(axum::Router, ayanami_gateway::GatewayHandle)>,
}

impl Running {
    /// Stops the triggers taking work, lets flows, then services, finish
    /// what they took, then the triggers answer what they took, until
    /// `deadline`.
    async fn drain(&mut self, deadline: tokio::time::Instant) {
        for trigger in &mut self.triggers {
            trigger.stop_taking(deadline).await;
        }
        let mut instances = 0;
        for flow in &mut self.flows {
            instances += flow.drain(deadline).await;
        }
        let mut calls = 0;
        for service in &mut self.services {
            calls += service.drain(deadline).await;
        }
        let mut requests = 0;
        for trigger in &mut self.triggers {
            requests += trigger.drain(deadline).await;
        }
        if instances + calls + requests > 0 {
            tracing::warn!(
                instances,
                calls,
                requests,
                "grace period over; stopping what is left"
            );
        }
    }
}

/// Starts `components` of `composition` on `bus` and waits until the bus
/// has their subscriptions.
pub(crate) async fn start<B: Bus>(
    bus: &B,
    composition: &Composition,
    components: &[Component],
) -> anyhow::Result<Running> {
    let shared = Arc::new(composition.clone());
    let mut running = Running {
        services: Vec::new(),
        flows: Vec::new(),
        triggers: Vec::new(),
        gateway: None,
    };
    for component in components {
        match component {
            Component::Service(name) => {
                let service = ayanami_function::serve(bus.clone(), shared.clone(), name).await?;
                running.services.push(service);
            }
            Component::Flow(name) => {
                let flow = composition
                    .flow(name)
                    .context("the component was checked")?;
                let plan = Plan::new(composition, flow);
                running
                    .flows
                    .push(ayanami_flow::serve(bus.clone(), plan).await?);
            }
            Component::Gateway => {
                running.gateway = Some(ayanami_gateway::router(bus.clone(), composition).await?);
            }
            Component::Subjects => {
                let subjects = ayanami_trigger::subject::serve(bus.clone(), composition).await?;
                running.triggers.push(subjects);
            }
            Component::Schedules => {
                // Fired only once the bus has every other subscription.
            }
        }
    }
    bus.flush()
        .await
        .context("the bus did not confirm the subscriptions")?;
    if components.contains(&Component::Schedules) {
        let schedules = ayanami_trigger::schedule::serve(bus.clone(), composition);
        running.triggers.push(schedules);
    }
    Ok(running)
}

/// Runs `components` of `composition` on `bus` until Ctrl-C or SIGTERM,
/// letting requests in flight finish.
pub(crate) async fn serve<B: Bus>(
    bus: B,
    composition: Composition,
    components: &[Component],
    addresses: Addresses,
) -> anyhow::Result<()> {
    let bus = CountingBus(bus);
    let mut running = start(&bus, &composition, components).await?;
    let gateway = running.gateway.take();

    if let Some(admin) = addresses.admin {
        let listener = bind(admin, "--admin").await?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "admin listening");
        println!("admin: http://{addr} (/healthz, /readyz, /metrics)");
        tokio::spawn(serve_admin(listener, bus.clone()));
    }
    let labels = components
        .iter()
        .map(Component::label)
        .collect::<Vec<_>>()
        .join(",");
    let grace = addresses.grace;
    let Some((router, _listener_task)) = gateway else {
        tracing::info!(project = %composition.name, components = %labels, "subscribed");
        announce_ready(&labels);
        shutdown_signal().await;
        running.drain(tokio::time::Instant::now() + grace).await;
        tracing::info!("stopped");
        return Ok(());
    };
    let listener = bind(addresses.gateway, "--port").await?;
    let addr = listener.local_addr()?;
    tracing::info!(project = %composition.name, %addr, components = %labels, "gateway listening");
    announce_ready(&format!("{labels} on http://{addr}"));

    // The listener closes first; requests in flight, then the flows and
    // services behind them, share one grace period from the signal on. A
    // client that never finishes its request must not keep the process alive.
    let (deadline_tx, deadline_rx) = tokio::sync::oneshot::channel();
    let stop = async move {
        shutdown_signal().await;
        let _ = deadline_tx.send(tokio::time::Instant::now() + grace);
    };
    crate::listen::serve(listener, router, stop, grace).await;
    let deadline = deadline_rx
        .await
        .unwrap_or_else(|_| tokio::time::Instant::now());
    running.drain(deadline).await;
    tracing::info!("stopped");
    Ok(())
}

/// How long work in flight may take to finish after a stop signal, unless
/// `--grace` says otherwise.
pub(crate) const GRACE: Duration = Duration::from_secs(10);

/// Tells whoever started this process (such as `ayanami up`) that the
/// component is subscribed and serving, whatever the log level.
fn announce_ready(what: &str) {
    println!("component ready: {what}");
}

async fn bind(addr: SocketAddr, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}; is another program using it? Pick another with {flag}")
    })
}

/// `/healthz` (the process is alive), `/readyz` (the bus is connected) and
/// `/metrics` (Prometheus).
async fn serve_admin<B: Bus>(listener: tokio::net::TcpListener, bus: B) {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/readyz",
            get(move || async move {
                if bus.is_connected() {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "bus not connected")
                }
            }),
        );
    if let Err(error) = axum::serve(listener, router).await {
        tracing::error!(%error, "admin server stopped");
    }
}

async fn metrics() -> impl IntoResponse {
    let content_type = [(header::CONTENT_TYPE, ayanami_metrics::CONTENT_TYPE)];
    (content_type, ayanami_metrics::metrics().encode())
}

/// A bus that counts the events this process publishes; the components
/// count what they receive, so that a subscription keeps its own sink.
#[derive(Clone)]
struct CountingBus<B>(B);

impl<B: Bus> Bus for CountingBus<B> {
    fn publish(
        &self,
        subject: String,
        value: Arc<Value>,
    ) -> impl Future<Output = Result<(), BusError>> + Send {
        ayanami_metrics::metrics().published();
        self.0.publish(subject, value)
    }

    fn publish_request(
        &self,
        subject: String,
        reply: String,
        value: Arc<Value>,
    ) -> impl Future<Output = Result<(), BusError>> + Send {
        ayanami_metrics::metrics().published();
        self.0.publish_request(subject, reply, value)
    }

    fn subscribe(
        &self,
        pattern: &str,
        queue: Option<&str>,
        sink: Sink,
    ) -> impl Future<Output = Result<Subscription, BusError>> + Send {
        self.0.subscribe(pattern, queue, sink)
    }

    fn is_connected(&self) -> bool {
        self.0.is_connected()
    }

    fn flush(&self) -> impl Future<Output = Result<(), BusError>> + Send {
        self.0.flush()
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can always be installed at start");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

/// How long a component waits for NATS at start before giving up.
pub(crate) const CONNECT_WAIT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_hands_serve_the_grace_it_was_given_however_short() {
        let limits = Limits {
            max_in_flight: None,
            grace: Some(Duration::from_micros(500)),
        };
        let args = limits.args();
        assert_eq!(args, ["--grace", "0.0005s"]);
        assert_eq!(duration(&args[1]), Ok(Duration::from_micros(500)));
    }

    #[test]
    fn limits_past_what_a_clock_or_counter_holds_are_refused() {
        assert!(duration("8761h").unwrap_err().contains("at most 8760h"));
        assert_eq!(count("1000000"), Ok(1_000_000));
        assert!(count("18446744073709551615").is_err());
        assert!(count("0").is_err());
    }
}
