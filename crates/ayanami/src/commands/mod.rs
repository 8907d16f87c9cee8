//! The subcommands, one file each.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod build;
mod check;
mod dev;
mod graph;
mod init;
mod invoke;
mod new;
mod routes;
mod run;
mod serve;
mod up;
mod watch;

/// Ayanami: a FaaS framework for your own infrastructure.
#[derive(Debug, Parser)]
#[command(name = "ayanami", version, about)]
pub(crate) struct Cli {
    /// Log filter, such as `info` or `debug,ayanami_flow=trace` [env: AYANAMI_LOG]
    #[arg(long, global = true, value_name = "FILTER")]
    pub(crate) log: Option<String>,

    /// How log lines are written
    #[arg(
        long,
        global = true,
        value_enum,
        env = "AYANAMI_LOG_FORMAT",
        default_value = "text"
    )]
    pub(crate) log_format: crate::logging::LogFormat,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run every component of a project in this one process (in-memory bus, or --nats)
    Run(run::RunCommand),
    /// Write a new project with a working example composition and functions
    Init(init::InitCommand),
    /// Write a new function skeleton and add it to the composition
    New(new::NewCommand),
    /// Check a project's composition and report every mistake with its line
    Check(check::CheckCommand),
    /// List the gateway's routes with the event names of each route and method
    Routes(routes::RoutesCommand),
    /// Run one component (the gateway, a flow, a service, the schedules or the subject triggers) against NATS
    Serve(serve::ServeCommand),
    /// Run every component as its own process, plus a nats-server
    Up(up::UpCommand),
    /// Start one flow from the command line and print its outputs as JSON
    Invoke(invoke::InvokeCommand),
    /// Write deployables: an image per component, Kubernetes manifests, compose
    Build(build::BuildCommand),
    /// Draw the composition's flows as a Mermaid or DOT graph
    Graph(graph::GraphCommand),
    /// Print the events passing over NATS, of one ID or a subject pattern
    Watch(watch::WatchCommand),
    /// Run the project like `run`, and run it anew when one of its files changes
    Dev(dev::DevCommand),
}

impl Command {
    /// Whether the command may start function processes in this process,
    /// which the guard must then watch.
    pub(crate) fn starts_functions(&self) -> bool {
        matches!(self, Self::Run(_) | Self::Serve(_) | Self::Invoke(_))
    }

    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Run(command) => command.run(),
            Self::Init(command) => command.run(),
            Self::New(command) => command.run(),
            Self::Check(command) => command.run(),
            Self::Routes(command) => command.run(),
            Self::Serve(command) => command.run(),
            Self::Up(command) => command.run(),
            Self::Invoke(command) => command.run(),
            Self::Build(command) => command.run(),
            Self::Graph(command) => command.run(),
            Self::Watch(command) => command.run(),
            Self::Dev(command) => command.run(),
        }
    }
}
