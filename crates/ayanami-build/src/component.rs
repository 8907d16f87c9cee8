//! The components of a composition as deployables: names, images and what each image holds.

use std::collections::BTreeSet;
use std::path::{Component as PathPart, Path};

use ayanami_composition::{ComponentName, Composition, FunctionKind, Piece, Service};
use serde::Serialize;

use crate::BuildError;

/// The base image when no function needs a language runtime.
const DEBIAN: &str = "debian:bookworm-slim";
/// The base image when a function runs Python.
const PYTHON: &str = "python:3.12-slim-bookworm";
/// The base image when a function runs Node.js.
const NODE: &str = "node:22-bookworm-slim";

/// Programs every base image already has, so no package installs them.
const IN_BASE: &[&str] = &[
    "awk",
    "base64",
    "basename",
    "bash",
    "cat",
    "cut",
    "date",
    "dirname",
    "echo",
    "env",
    "expr",
    "false",
    "grep",
    "head",
    "ls",
    "md5sum",
    "mkdir",
    "printf",
    "rev",
    "sed",
    "seq",
    "sh",
    "sha256sum",
    "sleep",
    "sort",
    "tail",
    "tee",
    "tr",
    "true",
    "uniq",
    "wc",
    "xargs",
    "yes",
];

/// Which part of the application a component runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ComponentKind {
    /// The HTTP gateway.
    Gateway,
    /// One flow.
    Flow,
    /// One service.
    Service,
    /// Every schedule trigger.
    Schedules,
    /// Every NATS subject trigger.
    Subjects,
}

/// One component, with everything the templates say about it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Component {
    /// What it runs.
    pub(crate) kind: ComponentKind,
    /// The flow's or service's name; empty for the gateway.
    pub(crate) name: String,
    /// `gateway`, `flow.banner`, `service.cmd`: how `deploy.components` names it.
    pub(crate) label: String,
    /// Its folder in the output, and the end of its Kubernetes name: `service-cmd`.
    pub(crate) folder: String,
    /// Its Kubernetes name: `megazord-service-cmd`.
    pub(crate) resource: String,
    /// Its image, with registry and tag.
    pub(crate) image: String,
    /// The image's base.
    pub(crate) base: &'static str,
    /// Debian packages the image installs for the programs its functions run.
    pub(crate) packages: Vec<String>,
    /// Project files its functions run, relative to the project folder.
    pub(crate) sources: Vec<String>,
    /// The image's entry point: `ayanami serve KIND [NAME]`.
    pub(crate) entrypoint: Vec<String>,
    /// The public port, for the gateway.
    pub(crate) port: Option<u16>,
    /// How many replicas run.
    pub(crate) replicas: u32,
    /// Autoscaling bounds, if any.
    pub(crate) autoscale: Option<AutoscaleView>,
    /// Its app.kubernetes.io labels, in order.
    pub(crate) labels: Vec<(String, String)>,
}

/// The HorizontalPodAutoscaler's numbers.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct AutoscaleView {
    /// The fewest replicas.
    pub(crate) min: u32,
    /// The most replicas.
    pub(crate) max: u32,
    /// The target CPU use, in percent.
    pub(crate) cpu: u32,
}

/// Where images go and what they are tagged.
pub(crate) struct Naming<'a> {
    pub(crate) project: &'a str,
    pub(crate) registry: Option<&'a str>,
    pub(crate) tag: &'a str,
}

impl Naming<'_> {
    fn image(&self, resource: &str) -> String {
        match self.registry {
            Some(registry) => format!("{}/{resource}:{}", registry.trim_end_matches('/'), self.tag),
            None => format!("{resource}:{}", self.tag),
        }
    }
}

/// The Kubernetes form of a composition name: lowercase, `_` as `-`.
pub(crate) fn resource_name(what: &str, name: &str) -> Result<String, BuildError> {
    let resource = name.to_ascii_lowercase().replace('_', "-");
    let valid = resource.len() <= 63
        && resource.starts_with(|c: char| c.is_ascii_lowercase())
        && !resource.ends_with('-')
        && resource
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        return Ok(resource);
    }
    Err(BuildError::Name {
        what: what.to_owned(),
        name: name.to_owned(),
        resource,
    })
}

/// Every component of `composition`, services first, as `ayanami up` starts them.
pub(crate) fn components(
    composition: &Composition,
    naming: &Naming<'_>,
) -> Result<Vec<Component>, BuildError> {
    let mut components = Vec::new();
    for service in &composition.services {
        let mut component = named(
            composition,
            naming,
            ComponentName::Service(service.name.clone()),
        )?;
        fill_service(&mut component, composition, service);
        components.push(component);
    }
    for flow in &composition.flows {
        components.push(named(
            composition,
            naming,
            ComponentName::Flow(flow.name.clone()),
        )?);
    }
    if !composition.triggers.subjects.is_empty() {
        components.push(named(composition, naming, ComponentName::Subjects)?);
    }
    if !composition.triggers.schedules.is_empty() {
        components.push(named(composition, naming, ComponentName::Schedules)?);
    }
    if let Some(gateway) = &composition.gateway {
        let mut component = named(composition, naming, ComponentName::Gateway)?;
        component.port = Some(gateway.port);
        components.push(component);
    }
    for (i, first) in components.iter().enumerate() {
        if let Some(second) = components[i + 1..]
            .iter()
            .find(|c| c.folder == first.folder)
        {
            return Err(BuildError::Clash {
                first: format!("`{}`", first.label),
                second: format!("`{}`", second.label),
                resource: first.resource.clone(),
            });
        }
    }
    Ok(components)
}

fn named(
    composition: &Composition,
    naming: &Naming<'_>,
    name: ComponentName,
) -> Result<Component, BuildError> {
    let (kind, plain) = match &name {
        ComponentName::Gateway => (ComponentKind::Gateway, String::new()),
        ComponentName::Flow(flow) => (ComponentKind::Flow, flow.clone()),
        ComponentName::Service(service) => (ComponentKind::Service, service.clone()),
        ComponentName::Schedules => (ComponentKind::Schedules, String::new()),
        ComponentName::Subjects => (ComponentKind::Subjects, String::new()),
    };
    let (label, folder, entrypoint) = match kind {
        ComponentKind::Gateway | ComponentKind::Schedules | ComponentKind::Subjects => {
            let kind = kind.as_str();
            (kind.to_owned(), kind.to_owned(), vec![kind])
        }
        ComponentKind::Flow => (
            format!("flow.{plain}"),
            format!("flow-{plain}"),
            vec!["flow", &plain],
        ),
        ComponentKind::Service => (
            format!("service.{plain}"),
            format!("service-{plain}"),
            vec!["service", &plain],
        ),
    };
    let folder = resource_name(&format!("the component `{label}`"), &folder)?;
    let resource = resource_name(
        &format!("the component `{label}`"),
        &format!("{}-{folder}", naming.project),
    )?;
    let scale = composition.deploy.scale(&name);
    let autoscale = scale.autoscale.map(|a| AutoscaleView {
        min: a.min,
        max: a.max,
        cpu: a.cpu,
    });
    let entrypoint = ["/usr/local/bin/ayanami", "serve"]
        .into_iter()
        .chain(entrypoint)
        .map(str::to_owned)
        .collect();
    let labels = [
        ("app.kubernetes.io/name", resource.as_str()),
        ("app.kubernetes.io/instance", naming.project),
        ("app.kubernetes.io/component", kind.as_str()),
        ("app.kubernetes.io/part-of", naming.project),
        ("app.kubernetes.io/managed-by", "ayanami"),
    ];
    Ok(Component {
        kind,
        name: plain,
        label,
        image: naming.image(&resource),
        folder,
        resource: resource.clone(),
        base: DEBIAN,
        packages: Vec::new(),
        sources: Vec::new(),
        entrypoint,
        port: None,
        replicas: scale.replicas,
        autoscale,
        labels: labels
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    })
}

impl ComponentKind {
    /// `gateway`, `flow` or `service`, as `ayanami serve` takes it.
    #[must_use]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Flow => "flow",
            Self::Service => "service",
            Self::Schedules => "schedules",
            Self::Subjects => "subjects",
        }
    }
}

/// Sets a service's sources, base image and packages from its functions.
fn fill_service(component: &mut Component, composition: &Composition, service: &Service) {
    let dir = &composition.dir;
    let mut sources = BTreeSet::new();
    let mut programs = BTreeSet::new();
    for function in &service.functions {
        let words: Vec<String> = match &function.kind {
            FunctionKind::Cmd { argv } => argv.iter().filter_map(literal).collect(),
            FunctionKind::Exec { argv } | FunctionKind::Worker { argv } => argv.clone(),
            FunctionKind::Http { .. } | FunctionKind::Outside => continue,
        };
        for word in &words {
            if let Some(source) = source_in(dir, word) {
                sources.insert(source);
            }
        }
        let Some(program) = words.first() else {
            continue;
        };
        match source_in(dir, program) {
            Some(source) => programs.extend(interpreter(&dir.join(source))),
            None => {
                programs.insert(program.clone());
            }
        }
    }
    let runs = |names: &[&str]| programs.iter().any(|p| names.contains(&p.as_str()));
    let (base, runtime): (&'static str, &[&str]) = if runs(&["python", "python3"]) {
        (PYTHON, &["python", "python3", "pip", "pip3"])
    } else if runs(&["node", "nodejs", "npm", "npx"]) {
        (NODE, &["node", "nodejs", "npm", "npx"])
    } else {
        (DEBIAN, &[])
    };
    component.base = base;
    component.packages = programs
        .iter()
        .filter(|p| !runtime.contains(&p.as_str()) && !IN_BASE.contains(&p.as_str()))
        .filter_map(|p| package_of(p))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    component.sources = sources.into_iter().collect();
}

/// The text of a `cmd` word that holds no input.
fn literal(word: &ayanami_composition::Word) -> Option<String> {
    match word.0.as_slice() {
        [Piece::Text(text)] => Some(text.clone()),
        _ => None,
    }
}

/// `word` as a file inside the project, relative and without `./`, if it is one.
fn source_in(dir: &Path, word: &str) -> Option<String> {
    let path = Path::new(word);
    let mut parts = Vec::new();
    for part in path.components() {
        match part {
            PathPart::Normal(part) => parts.push(part.to_str()?),
            PathPart::CurDir => {}
            _ => return None,
        }
    }
    let relative = parts.join("/");
    (!relative.is_empty() && dir.join(&relative).is_file()).then_some(relative)
}

/// The program a script's `#!` line names, such as `python3` for
/// `#!/usr/bin/env python3`.
fn interpreter(script: &Path) -> Option<String> {
    let text = std::fs::read(script).ok()?;
    let line = text.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.strip_prefix("#!")?;
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let program = match first.rsplit('/').next() {
        Some("env") => words.find(|w| !w.starts_with('-'))?,
        _ => first.rsplit('/').next()?,
    };
    Some(program.to_owned())
}

/// Programs whose Debian package has another name.
const PACKAGES: &[(&str, &str)] = &[
    ("node", "nodejs"),
    ("python", "python3"),
    ("pip3", "python3-pip"),
];

/// The Debian package that brings `program`, for the names that look like one.
fn package_of(program: &str) -> Option<String> {
    if let Some((_, package)) = PACKAGES.iter().find(|(p, _)| *p == program) {
        return Some((*package).to_owned());
    }
    let valid = program.len() > 1
        && program.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && program
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    valid.then(|| program.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_kubernetes_names_or_say_why_not() {
        assert_eq!(resource_name("x", "My_Service").unwrap(), "my-service");
        let error = resource_name("the service", "9lives").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the service `9lives` gives the Kubernetes name `9lives`, which is not valid: use at most 63 lowercase letters, digits and `-`, starting with a letter"
        );
    }

    #[test]
    fn only_relative_files_inside_the_project_are_sources() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            source_in(dir, "./Cargo.toml").as_deref(),
            Some("Cargo.toml")
        );
        assert_eq!(source_in(dir, "src/lib.rs").as_deref(), Some("src/lib.rs"));
        assert_eq!(source_in(dir, "src"), None);
        assert_eq!(source_in(dir, "../ayanami-build/Cargo.toml"), None);
        assert_eq!(source_in(dir, "/etc/hostname"), None);
        assert_eq!(source_in(dir, "figlet"), None);
    }

    #[test]
    fn a_script_names_its_interpreter_on_its_first_line() {
        let dir =
            std::env::temp_dir().join(format!("ayanami-build-shebang-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("#!/usr/bin/env python3\nprint(1)\n", Some("python3")),
            ("#!/usr/bin/env -S node --flag\n", Some("node")),
            ("#!/bin/bash -e\n", Some("bash")),
            ("print(1)\n", None),
        ];
        for (i, (text, expected)) in cases.into_iter().enumerate() {
            let script = dir.join(format!("script{i}"));
            std::fs::write(&script, text).unwrap();
            assert_eq!(interpreter(&script).as_deref(), expected, "{text}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_plain_program_names_become_packages() {
        assert_eq!(package_of("node").as_deref(), Some("nodejs"));
        assert_eq!(package_of("figlet").as_deref(), Some("figlet"));
        assert_eq!(package_of("g++").as_deref(), Some("g++"));
        assert_eq!(package_of("/opt/tool"), None);
        assert_eq!(package_of("Tool"), None);
    }
}
