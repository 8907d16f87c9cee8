//! `ayanami graph [FLOW]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ayanami_graph::Graph;

/// The text formats `graph` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A Mermaid flowchart
    Mermaid,
    /// A Graphviz digraph
    Dot,
    /// An SVG picture, laid out and drawn by the `layout-rs` library
    Svg,
}

/// Draws the composition: routes, flows, variables, functions and the events between them.
#[derive(Debug, clap::Args)]
pub(crate) struct GraphCommand {
    /// Draw only this flow, with the routes and functions it touches
    flow: Option<String>,

    /// The project folder, or the composition file itself
    #[arg(long, default_value = ".")]
    dir: PathBuf,

    /// What to write
    #[arg(long, value_enum, default_value = "mermaid")]
    format: Format,
}

impl GraphCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let composition = ayanami_composition::load(&self.dir)
            .context("the composition has mistakes; `ayanami check` lists them")?;
        let graph = Graph::new(&composition, self.flow.as_deref())?;
        let text = match self.format {
            Format::Mermaid => graph.mermaid(),
            Format::Dot => graph.dot(),
            Format::Svg => graph.svg()?,
        };
        print!("{text}");
        Ok(ExitCode::SUCCESS)
    }
}
