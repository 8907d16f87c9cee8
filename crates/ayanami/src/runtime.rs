//! Starting components on a bus and serving until a signal.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use ayanami_bus::Bus;
use ayanami_composition::Composition;
use ayanami_flow::Plan;

/// Runs every service, flow and the gateway of `composition` on `bus`
/// until Ctrl-C or SIGTERM, letting requests in flight finish.
pub(crate) async fn run_all<B: Bus>(
    bus: B,
    composition: Composition,
    host: IpAddr,
    port: Option<u16>,
) -> anyhow::Result<()> {
    let composition = Arc::new(composition);
    let mut services = Vec::new();
    for service in &composition.services {
        services
            .push(ayanami_function::serve(bus.clone(), composition.clone(), &service.name).await?);
    }
    let mut flows = Vec::new();
    for flow in &composition.flows {
        flows.push(ayanami_flow::serve(bus.clone(), Plan::new(&composition, flow)).await?);
    }
    let (router, _gateway) = ayanami_gateway::router(bus, &composition).await?;

    let port = port.unwrap_or_else(|| {
        composition
            .gateway
            .as_ref()
            .map_or(ayanami_composition::defaults::PORT, |g| g.port)
    });
    let addr = SocketAddr::new(host, port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}; is another program using the port? Pick one with --port")
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(
        project = %composition.name,
        %addr,
        services = services.len(),
        flows = flows.len(),
        "gateway listening"
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the gateway stopped")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can always be installed at start");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}
