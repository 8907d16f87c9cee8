//! `ayanami new function SERVICE NAME --lang LANG`: a function skeleton
//! from templates built into the binary, added to the composition.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ayanami_composition::AddError;
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Writes something new into a project.
#[derive(Debug, clap::Args)]
pub(crate) struct NewCommand {
    #[command(subcommand)]
    what: New,
}

#[derive(Debug, clap::Subcommand)]
enum New {
    /// Write a function skeleton in a language and add it to ayanami.yaml
    Function(NewFunction),
}

impl NewCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self.what {
            New::Function(command) => command.run(),
        }
    }
}

#[derive(Debug, clap::Args)]
struct NewFunction {
    /// The service the function joins; added when it is new
    service: String,

    /// The function's name
    name: String,

    /// The language of the skeleton
    #[arg(long, value_enum)]
    lang: Lang,

    /// How Ayanami runs it [default: `worker` for python and node, `exec`
    /// for rust and go, `cmd` for bash]
    #[arg(long, value_enum)]
    kind: Option<Kind>,

    /// The project folder, or the composition file itself
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Lang {
    Python,
    Node,
    Bash,
    Rust,
    Go,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    Cmd,
    Exec,
    Worker,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Cmd => "cmd",
            Self::Exec => "exec",
            Self::Worker => "worker",
        }
    }
}

/// The input and output every skeleton has.
const INPUT: &str = "input";
const OUTPUT: &str = "output";

/// The templates, by language and kind (or file), built into the binary.
const TEMPLATES: [(&str, &str); 11] = [
    (
        "python_exec",
        include_str!("../../templates/function/python_exec.py"),
    ),
    (
        "python_worker",
        include_str!("../../templates/function/python_worker.py"),
    ),
    (
        "node_exec",
        include_str!("../../templates/function/node_exec.js"),
    ),
    (
        "node_worker",
        include_str!("../../templates/function/node_worker.js"),
    ),
    (
        "bash_cmd",
        include_str!("../../templates/function/bash_cmd.sh"),
    ),
    (
        "rust_Cargo.toml",
        include_str!("../../templates/function/rust_Cargo.toml"),
    ),
    (
        "rust_exec",
        include_str!("../../templates/function/rust_exec.rs"),
    ),
    (
        "rust_worker",
        include_str!("../../templates/function/rust_worker.rs"),
    ),
    (
        "go_go.mod",
        include_str!("../../templates/function/go_go.mod"),
    ),
    (
        "go_exec",
        include_str!("../../templates/function/go_exec.go"),
    ),
    (
        "go_worker",
        include_str!("../../templates/function/go_worker.go"),
    ),
];

impl Lang {
    fn as_str(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Node => "node",
            Self::Bash => "bash",
            Self::Rust => "rust",
            Self::Go => "go",
        }
    }

    /// The kinds a skeleton exists for, the default first.
    fn kinds(self) -> &'static [Kind] {
        match self {
            Self::Python | Self::Node => &[Kind::Worker, Kind::Exec],
            Self::Rust | Self::Go => &[Kind::Exec, Kind::Worker],
            Self::Bash => &[Kind::Cmd],
        }
    }
}

/// What `new function` writes: files, and the function's lines in the composition.
struct Skeleton {
    /// Paths inside the project, with their templates.
    files: Vec<(String, &'static str)>,
    run: String,
    /// The step that turns the sources into what `run` starts, if any.
    build: Option<String>,
}

fn skeleton(lang: Lang, kind: Kind, service: &str, name: &str) -> Skeleton {
    let template = format!("{}_{}", lang.as_str(), kind.as_str());
    let find = |key: &str| {
        TEMPLATES
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, text)| *text)
            .expect("every language and kind it offers has a template")
    };
    let folder = format!("{service}/{name}");
    match lang {
        Lang::Python => Skeleton {
            files: vec![(format!("{folder}.py"), find(&template))],
            run: format!("python3 {folder}.py"),
            build: None,
        },
        Lang::Node => Skeleton {
            files: vec![(format!("{folder}.js"), find(&template))],
            run: format!("node {folder}.js"),
            build: None,
        },
        Lang::Bash => Skeleton {
            files: vec![(format!("{folder}.sh"), find(&template))],
            run: format!("bash {folder}.sh ${INPUT}"),
            build: None,
        },
        Lang::Rust => Skeleton {
            files: vec![
                (format!("{folder}/Cargo.toml"), find("rust_Cargo.toml")),
                (format!("{folder}/src/main.rs"), find(&template)),
            ],
            run: format!("{folder}/target/release/{name}"),
            build: Some(format!(
                "cargo build --release --manifest-path {folder}/Cargo.toml"
            )),
        },
        Lang::Go => Skeleton {
            files: vec![
                (format!("{folder}/go.mod"), find("go_go.mod")),
                (format!("{folder}/main.go"), find(&template)),
            ],
            run: format!("{folder}/{name}"),
            build: Some(format!("go build -C {folder} -o {name} .")),
        },
    }
}

impl NewFunction {
    fn run(self) -> anyhow::Result<ExitCode> {
        let (service, name) = (&self.service, &self.name);
        for (what, value) in [("service", service), ("function", name)] {
            if !ayanami_event::is_name(value) {
                bail!("{what} name `{value}` may hold only ASCII letters, digits, `_` and `-`");
            }
        }
        let kinds = self.lang.kinds();
        let kind = self.kind.unwrap_or(kinds[0]);
        if !kinds.contains(&kind) {
            let offered: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            bail!(
                "a {} function cannot be of kind `{}`; use --kind {}",
                self.lang.as_str(),
                kind.as_str(),
                offered.join(" or ")
            );
        }
        if self.lang == Lang::Rust && !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            bail!(
                "a Rust function's name names its crate, so it must start with a letter, not `{name}`"
            );
        }

        let (file, project) = locate(&self.dir);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read `{}`", file.display()))?;
        let skeleton = skeleton(self.lang, kind, service, name);
        let body = vec![
            format!("kind: {}", kind.as_str()),
            format!("run: {}", skeleton.run),
            format!("inputs: [{INPUT}]"),
            format!("outputs: [{OUTPUT}]"),
        ];
        let edited = match ayanami_composition::add_function(&text, service, name, &body) {
            Ok(edited) => edited,
            Err(AddError::Exists) => {
                bail!(
                    "function `{service}.{name}` is already in `{}`; nothing was written",
                    file.display()
                )
            }
            Err(AddError::Invalid(problems)) => bail!(
                "`{}` has mistakes; fix them first (`ayanami check`), nothing was written:\n{problems}",
                file.display()
            ),
            Err(AddError::Unsafe(why)) => {
                let lines: Vec<String> = body.iter().map(|line| format!("  {line}")).collect();
                bail!(
                    "{why} in `{}`; nothing was written. Add the function by hand to the `functions` of service `{service}`:\n{name}:\n{}",
                    file.display(),
                    lines.join("\n")
                )
            }
        };

        let files = render(&skeleton, service, name)?;
        for (path, _) in &files {
            let path = project.join(path);
            if path.exists() {
                bail!("`{}` already exists; nothing was written", path.display());
            }
        }
        let written = write_all(&project, &files)?;
        if let Err(error) = replace(&file, &edited) {
            remove(&written);
            return Err(error);
        }

        for (path, _) in &files {
            println!("wrote {}", project.join(path).display());
        }
        println!(
            "added function `{service}.{name}` ({} {}) to {}",
            self.lang.as_str(),
            kind.as_str(),
            file.display()
        );
        if let Some(build) = &skeleton.build {
            println!("build it from the project folder with:  {build}");
        }
        println!(
            "call it from a flow with `to: srvc.{service}.{name}.in.{INPUT}` and take `from: srvc.{service}.{name}.out.{OUTPUT}`"
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// The composition file and the project folder from `--dir`.
fn locate(dir: &Path) -> (PathBuf, PathBuf) {
    if dir.is_file() {
        let project = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned);
        (dir.to_owned(), project)
    } else {
        (dir.join(ayanami_composition::FILE_NAME), dir.to_owned())
    }
}

fn render(skeleton: &Skeleton, service: &str, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let syntax = SyntaxConfig::builder().keep_trailing_newline(true).build();
    env.set_syntax(syntax.context("the template syntax is valid")?);
    let context = minijinja::context! { service, name, input => INPUT, output => OUTPUT };
    skeleton
        .files
        .iter()
        .map(|(path, template)| {
            let text = env
                .render_str(template, &context)
                .with_context(|| format!("cannot render the template of `{path}`"))?;
            Ok((path.clone(), text))
        })
        .collect()
}

/// Writes each file, refusing any that appeared meanwhile; on a failure,
/// removes those it wrote.
fn write_all(project: &Path, files: &[(String, String)]) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (path, text) in files {
        let path = project.join(path);
        if let Err(error) = write_new(&path, text) {
            remove(&written);
            return Err(error);
        }
        written.push(path);
    }
    Ok(written)
}

fn remove(files: &[PathBuf]) {
    for file in files {
        let _ = std::fs::remove_file(file);
    }
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// Replaces the contents of `file` with `text` at once, so an interrupted
/// write never leaves half a composition: a new file beside it (never one
/// that exists) takes its permissions and then its place; a symbolic link
/// keeps pointing where it did, and the file it points to is replaced.
fn replace(file: &Path, text: &str) -> anyhow::Result<()> {
    let target =
        std::fs::canonicalize(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let permissions = std::fs::metadata(&target)
        .with_context(|| format!("cannot read `{}`", target.display()))?
        .permissions();
    let mut temporary = target.as_os_str().to_owned();
    temporary.push(format!(".ayanami-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    write_new(&temporary, text)?;
    let placed = std::fs::set_permissions(&temporary, permissions)
        .with_context(|| format!("cannot set the mode of `{}`", temporary.display()))
        .and_then(|()| {
            std::fs::rename(&temporary, &target)
                .with_context(|| format!("cannot replace `{}`", target.display()))
        });
    if placed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    placed
}
