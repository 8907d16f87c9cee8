//! `ayanami build [DIR]`: deployables for images, Kubernetes and compose.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ayanami_build::Options;
use ayanami_composition::FILE_NAME;

/// Writes one folder per component with its Dockerfile, Kubernetes
/// manifests under `k8s/`, `compose.yaml` and a `Makefile`.
#[derive(Debug, clap::Args)]
pub(crate) struct BuildCommand {
    /// The project folder, or the composition file itself
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// The output folder [default: `deployable` in the project folder]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// The image registry, such as `ghcr.io/acme` [default: the composition's `deploy.registry`]
    #[arg(long, value_name = "REGISTRY")]
    registry: Option<String>,

    /// The image tag [default: the composition's `deploy.tag`, else `latest`]
    #[arg(long)]
    tag: Option<String>,

    /// Run the deployable's NATS as a cluster of this many nodes (a
    /// StatefulSet with routes between them) [default: the composition's
    /// `deploy.nats_nodes`, else 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(ayanami_composition::defaults::MAX_NATS_NODES)))]
    nats_nodes: Option<u32>,

    /// Write nothing; check that the output is what a build writes and valid
    #[arg(long)]
    check: bool,
}

impl BuildCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let composition = ayanami_composition::load(&self.dir)?;
        let file = if self.dir.is_dir() {
            self.dir.join(FILE_NAME)
        } else {
            self.dir.clone()
        };
        let out = self
            .out
            .unwrap_or_else(|| composition.dir.join("deployable"));
        let options = Options {
            file,
            registry: self.registry,
            tag: self.tag,
            nats_nodes: self.nats_nodes,
        };
        let deployable = ayanami_build::render(&composition, &options)?;
        if self.check {
            return check(&deployable, &out);
        }
        deployable
            .write(&out, &composition.dir)
            .with_context(|| format!("cannot build into `{}`", out.display()))?;
        let shown = out.display();
        println!(
            "wrote {} files into `{shown}`; next: `make -C {shown} push`, then `kubectl apply -k {shown}/k8s`",
            deployable.files().len()
        );
        Ok(ExitCode::SUCCESS)
    }
}

fn check(deployable: &ayanami_build::Deployable, out: &Path) -> anyhow::Result<ExitCode> {
    let problems = deployable.check(out)?;
    if problems.is_empty() {
        println!("ok: `{}` is up to date and valid", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("{}: {problem}", out.display());
    }
    Ok(ExitCode::FAILURE)
}
