//! `ayanami invoke FLOW`: start one flow instance from the command line and
//! print its outputs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use ayanami_bus::{Bus, Delivery, MemoryBus, Sink};
use ayanami_bus_nats::NatsBus;
use ayanami_composition::Composition;
use ayanami_event::{Direction, EventName, Id};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::runtime::{CONNECT_WAIT, Component, start};

/// Starts a flow with the given inputs, prints its outputs as JSON, and
/// exits non-zero with the flow's error when it fails.
#[derive(Debug, clap::Args)]
pub(crate) struct InvokeCommand {
    /// The flow to start
    flow: String,

    /// An input as NAME=VALUE; VALUE is read as JSON when it is JSON, else as text
    #[arg(long = "in", value_name = "NAME=VALUE")]
    inputs: Vec<String>,

    /// All inputs as one JSON object
    #[arg(long, value_name = "OBJECT")]
    json: Option<String>,

    /// The project folder, or the composition file itself
    #[arg(long, default_value = ".")]
    dir: PathBuf,

    /// Start the flow on this NATS server, where the composition already
    /// runs, instead of running it here on the in-memory bus
    #[arg(long, env = "AYANAMI_NATS_URL", value_name = "URL")]
    nats: Option<String>,
}

impl InvokeCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let composition = ayanami_composition::load(&self.dir)?;
        Component::Flow(self.flow.clone()).check(&composition)?;
        let inputs = self.inputs(&composition)?;
        let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let outcome = tokio.block_on(async {
            match &self.nats {
                Some(url) => {
                    let bus = NatsBus::connect(url, "ayanami invoke", CONNECT_WAIT)
                        .await
                        .with_context(|| format!("cannot connect to NATS at {url}"))?;
                    invoke(&bus, &composition, &self.flow, inputs).await
                }
                None => {
                    let bus = MemoryBus::new();
                    let components = Component::all(&composition);
                    let components: Vec<_> =
                        components.into_iter().filter(|c| !c.is_trigger()).collect();
                    let _running = start(&bus, &composition, &components).await?;
                    invoke(&bus, &composition, &self.flow, inputs).await
                }
            }
        })?;
        match outcome {
            Ok(outputs) => {
                println!("{}", serde_json::to_string_pretty(&outputs)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                let message = error["message"]
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned);
                eprintln!("error: {message}");
                Ok(ExitCode::FAILURE)
            }
        }
    }

    /// The inputs from `--json` and `--in`, checked against the flow's.
    fn inputs(&self, composition: &Composition) -> anyhow::Result<Map<String, Value>> {
        let mut inputs = match &self.json {
            Some(text) => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => bail!("`--json` must be a JSON object such as '{{\"name\": \"rei\"}}'"),
                Err(error) => bail!("`--json` is not valid JSON: {error}"),
            },
            None => Map::new(),
        };
        for pair in &self.inputs {
            let Some((name, text)) = pair.split_once('=') else {
                bail!("`--in {pair}` needs the form NAME=VALUE");
            };
            let value =
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
            inputs.insert(name.to_owned(), value);
        }
        let flow = composition
            .flow(&self.flow)
            .context("the flow was checked")?;
        if let Some(unknown) = inputs.keys().find(|k| !flow.inputs.contains(k)) {
            bail!(
                "flow `{}` has no input `{unknown}`; its inputs are {}",
                flow.name,
                list(&flow.inputs)
            );
        }
        if let Some(missing) = flow.inputs.iter().find(|i| !inputs.contains_key(*i)) {
            bail!(
                "flow `{}` needs input `{missing}`; pass it as `--in {missing}=VALUE`",
                flow.name
            );
        }
        Ok(inputs)
    }
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Publishes the inputs of a new instance and waits for its outputs or error.
async fn invoke<B: Bus>(
    bus: &B,
    composition: &Composition,
    name: &str,
    inputs: Map<String, Value>,
) -> anyhow::Result<Result<Map<String, Value>, Value>> {
    let flow = composition.flow(name).context("the flow was checked")?;
    let id = Id::new();
    let (tx, mut rx) = mpsc::channel(64);
    let outputs = EventName::flow(name, Direction::Out, None).subject(id);
    let error = EventName::flow(name, Direction::Err, None).subject(id);
    let _outputs = bus
        .subscribe(&format!("{outputs}.>"), None, Sink::new(tx.clone(), 0))
        .await?;
    let _error = bus.subscribe(&error, None, Sink::new(tx, 1)).await?;
    bus.flush().await?;
    for (input, value) in inputs {
        let subject = EventName::flow(name, Direction::In, Some(&input)).subject(id);
        bus.publish(subject, Arc::new(value)).await?;
    }

    let wait = flow.timeout + Duration::from_secs(5);
    let mut got = Map::new();
    while got.len() < flow.outputs.len() {
        let Ok(Some(Delivery { tag, message })) = tokio::time::timeout(wait, rx.recv()).await
        else {
            bail!("flow `{name}` neither answered nor failed within {wait:?}; is it running?");
        };
        if tag == 1 {
            return Ok(Err((*message.value).clone()));
        }
        let output = message
            .subject
            .strip_prefix(&format!("{outputs}."))
            .unwrap_or_default();
        got.insert(output.to_owned(), (*message.value).clone());
    }
    Ok(Ok(got))
}
