//! `ayanami init NAME`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

/// The example project, built into the binary so that `init` needs nothing else.
const FILES: [(&str, &str); 3] = [
    (
        "ayanami.yaml",
        include_str!("../../../../examples/megazord/ayanami.yaml"),
    ),
    (
        "html/pre.py",
        include_str!("../../../../examples/megazord/html/pre.py"),
    ),
    (
        "greeting/hello.py",
        include_str!("../../../../examples/megazord/greeting/hello.py"),
    ),
];

/// Writes a new project folder with the example composition and its functions.
#[derive(Debug, clap::Args)]
pub(crate) struct InitCommand {
    /// The folder to create; its last part names the project
    name: PathBuf,
}

impl InitCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let dir = &self.name;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !ayanami_event::is_name(name) {
            bail!("project name `{name}` may hold only ASCII letters, digits, `_` and `-`");
        }
        if dir.exists() {
            bail!(
                "`{}` already exists; choose a new folder name",
                dir.display()
            );
        }
        for (path, text) in FILES {
            let text = if path == "ayanami.yaml" {
                text.replacen("name: megazord", &format!("name: {name}"), 1)
            } else {
                text.to_owned()
            };
            write(&dir.join(path), &text)?;
        }
        println!("wrote project `{name}` in {}", dir.display());
        println!("run it with:  cd {} && ayanami run", dir.display());
        Ok(ExitCode::SUCCESS)
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
}
