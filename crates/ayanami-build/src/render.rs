//! Rendering the templates into the files of a deployable.

use std::path::{Path, PathBuf};

use ayanami_composition::{Composition, Deploy};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::BuildError;
use crate::component::{self, Component, ComponentKind, Naming};
use crate::output::{Content, Deployable};

/// The port every component serves `/healthz` and `/readyz` on in its container.
pub const ADMIN_PORT: u16 = 9090;

/// The NATS image when the deployable runs its own server.
const NATS_IMAGE: &str = "nats:2.10-alpine";

/// The templates, by the name they render under.
const TEMPLATES: &[(&str, &str)] = &[
    ("Dockerfile", include_str!("../templates/Dockerfile.j2")),
    ("Makefile", include_str!("../templates/Makefile.j2")),
    ("compose.yaml", include_str!("../templates/compose.yaml.j2")),
    (
        "configmap.yaml",
        include_str!("../templates/configmap.yaml.j2"),
    ),
    (
        "deployment.yaml",
        include_str!("../templates/deployment.yaml.j2"),
    ),
    ("hpa.yaml", include_str!("../templates/hpa.yaml.j2")),
    ("ingress.yaml", include_str!("../templates/ingress.yaml.j2")),
    (
        "kustomization.yaml",
        include_str!("../templates/kustomization.yaml.j2"),
    ),
    ("nats.yaml", include_str!("../templates/nats.yaml.j2")),
    ("service.yaml", include_str!("../templates/service.yaml.j2")),
];

/// What `ayanami build` takes besides the composition.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The composition file, copied into every component's folder.
    pub file: PathBuf,
    /// The image registry; overrides `deploy.registry`.
    pub registry: Option<String>,
    /// The image tag; overrides `deploy.tag`, else `latest`.
    pub tag: Option<String>,
    /// How many nodes the deployable's NATS has; overrides `deploy.nats_nodes`,
    /// else one.
    pub nats_nodes: Option<u32>,
}

/// Everything a template may read.
#[derive(Serialize)]
struct Context<'a> {
    project: &'a str,
    components: &'a [Component],
    component: Option<&'a Component>,
    composition: &'a str,
    registry: &'a str,
    tag: &'a str,
    nats_url: &'a str,
    compose_nats_url: &'a str,
    external_nats: bool,
    nats_nodes: u32,
    nats_routes: String,
    nats_image: &'a str,
    nats_labels: Vec<(String, String)>,
    ingress: Option<&'a str>,
    admin_port: u16,
    resources: Vec<String>,
}

/// Renders the deployable of `composition` in memory.
///
/// # Errors
///
/// [`BuildError::Read`] when the composition file or a source cannot be read,
/// [`BuildError::Name`] and [`BuildError::Clash`] when names cannot become
/// Kubernetes names.
pub fn render(composition: &Composition, options: &Options) -> Result<Deployable, BuildError> {
    let text = std::fs::read_to_string(&options.file).map_err(|source| BuildError::Read {
        path: options.file.clone(),
        source,
    })?;
    let project = component::resource_name("the project name", &composition.name)?;
    let deploy = &composition.deploy;
    let registry = options.registry.as_deref().or(deploy.registry.as_deref());
    let tag = options.tag.as_deref().or(deploy.tag.as_deref());
    let tag = tag.unwrap_or("latest");
    check_image_parts(registry, tag)?;
    let naming = Naming {
        project: &project,
        registry,
        tag,
    };
    let components = component::components(composition, &naming)?;

    let nats_nodes = nats_nodes(deploy, options)?;
    let own_nats = own_nats_urls(&project, nats_nodes);
    let mut context = Context {
        project: &project,
        components: &components,
        component: None,
        composition: &text,
        registry: registry.unwrap_or_default(),
        tag,
        nats_url: deploy.nats.as_deref().unwrap_or(&own_nats),
        compose_nats_url: deploy.nats.as_deref().unwrap_or("nats://nats:4222"),
        external_nats: deploy.nats.is_some(),
        nats_nodes,
        nats_routes: node_urls(&project, nats_nodes, 6222),
        nats_image: NATS_IMAGE,
        nats_labels: nats_labels(&project),
        ingress: deploy.ingress.as_deref(),
        admin_port: ADMIN_PORT,
        resources: Vec::new(),
    };
    let mut output = Output {
        templates: Templates::new(),
        deployable: Deployable::default(),
        resources: Vec::new(),
    };
    for component in &components {
        context.component = Some(component);
        output.component(&context, component, &composition.dir)?;
    }
    context.component = None;
    output.shared(context)
}

/// The size of the NATS the deployable runs, from the flag or the composition.
fn nats_nodes(deploy: &Deploy, options: &Options) -> Result<u32, BuildError> {
    let Some(nodes) = options.nats_nodes else {
        return Ok(deploy.nats_nodes.unwrap_or(1));
    };
    if let Some(url) = &deploy.nats {
        return Err(BuildError::NatsNodes { url: url.clone() });
    }
    Ok(nodes)
}

/// Where components find the deployable's own NATS: its Service, which
/// spreads their connections over the nodes of a cluster, then every node by
/// its stable name, the ones a component fails over to when its node dies.
fn own_nats_urls(project: &str, nodes: u32) -> String {
    let service = format!("nats://{project}-nats:4222");
    if nodes == 1 {
        return service;
    }
    format!("{service},{}", node_urls(project, nodes, 4222))
}

/// The URL of every node of the NATS StatefulSet on `port`, comma-separated.
fn node_urls(project: &str, nodes: u32, port: u16) -> String {
    let urls: Vec<String> = (0..nodes)
        .map(|n| format!("nats://{project}-nats-{n}.{project}-nats-headless:{port}"))
        .collect();
    urls.join(",")
}

fn nats_labels(project: &str) -> Vec<(String, String)> {
    let labels = [
        ("app.kubernetes.io/name", format!("{project}-nats")),
        ("app.kubernetes.io/instance", project.to_owned()),
        ("app.kubernetes.io/component", "nats".to_owned()),
        ("app.kubernetes.io/part-of", project.to_owned()),
        ("app.kubernetes.io/managed-by", "ayanami".to_owned()),
    ];
    labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The deployable as it fills, with the manifests the kustomization will list.
struct Output {
    templates: Templates,
    deployable: Deployable,
    resources: Vec<String>,
}

impl Output {
    /// A component's folder and its manifests.
    fn component(
        &mut self,
        context: &Context<'_>,
        component: &Component,
        project: &Path,
    ) -> Result<(), BuildError> {
        let folder = PathBuf::from(&component.folder);
        let dockerfile = self.templates.text("Dockerfile", context)?;
        self.deployable.add(folder.join("Dockerfile"), dockerfile);
        let composition = Content::Text(context.composition.to_owned());
        self.deployable
            .add(folder.join("ayanami.yaml"), composition);
        for source in &component.sources {
            if source == "Dockerfile" || source == "ayanami.yaml" {
                return Err(BuildError::Source {
                    component: component.label.clone(),
                    source_file: source.clone(),
                });
            }
            let from = project.join(source);
            self.deployable
                .add(folder.join(source), Content::Copy(from));
        }

        self.manifest(context, "deployment.yaml")?;
        if component.kind == ComponentKind::Gateway {
            self.manifest(context, "service.yaml")?;
            if context.ingress.is_some() {
                self.manifest(context, "ingress.yaml")?;
            }
        }
        if component.autoscale.is_some() {
            self.manifest(context, "hpa.yaml")?;
        }
        Ok(())
    }

    /// One manifest of the component in `context`, as `k8s/<folder>-<template>`.
    fn manifest(
        &mut self,
        context: &Context<'_>,
        template: &'static str,
    ) -> Result<(), BuildError> {
        let folder = context.component.map_or("", |c| c.folder.as_str());
        let file = format!("{folder}-{template}");
        let text = self.templates.text(template, context)?;
        self.deployable.add(Path::new("k8s").join(&file), text);
        self.resources.push(file);
        Ok(())
    }

    /// What the whole project shares: the ConfigMap, NATS, the
    /// kustomization, the compose file and the Makefile.
    fn shared(mut self, mut context: Context<'_>) -> Result<Deployable, BuildError> {
        let mut shared = vec!["configmap.yaml"];
        if !context.external_nats {
            shared.push("nats.yaml");
        }
        let k8s = Path::new("k8s");
        for name in &shared {
            let text = self.templates.text(name, &context)?;
            self.deployable.add(k8s.join(name), text);
        }
        context.resources = shared.iter().map(|&name| name.to_owned()).collect();
        context.resources.append(&mut self.resources);

        let kustomization = self.templates.text("kustomization.yaml", &context)?;
        self.deployable
            .add(k8s.join("kustomization.yaml"), kustomization);
        let compose = self.templates.text("compose.yaml", &context)?;
        self.deployable.add("compose.yaml".into(), compose);
        let makefile = self.templates.text("Makefile", &context)?;
        self.deployable.add("Makefile".into(), makefile);
        Ok(self.deployable)
    }
}

/// Refuses a registry or tag that Docker would refuse, before either
/// reaches the Makefile, where another character could change a command.
fn check_image_parts(registry: Option<&str>, tag: &str) -> Result<(), BuildError> {
    let tag_valid = tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !tag_valid {
        return Err(BuildError::Image {
            what: "the tag",
            value: tag.to_owned(),
            rule: "use up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        });
    }
    let Some(registry) = registry else {
        return Ok(());
    };
    let registry_valid = registry
        .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && registry
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c));
    if registry_valid {
        return Ok(());
    }
    Err(BuildError::Image {
        what: "the registry",
        value: registry.to_owned(),
        rule: "use a host and path such as `ghcr.io/acme` in lowercase letters, digits, `.`, `_`, `-`, `/` and `:`",
    })
}

/// The template environment: no escaping, undefined values refused, and a
/// `json` filter that quotes any value for YAML, JSON and Dockerfile exec form.
struct Templates(Environment<'static>);

impl Templates {
    fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let syntax = SyntaxConfig::builder().keep_trailing_newline(true).build();
        env.set_syntax(syntax.unwrap_or_default());
        env.add_filter("json", |value: minijinja::Value| {
            serde_json::to_string(&value).map_err(|error| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, error.to_string())
            })
        });
        // The templates are compiled into the binary, and `every_template_parses`
        // pins them, so a parse error here is a bug caught before release.
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|error| panic!("template `{name}` does not parse: {error}"));
        }
        Self(env)
    }

    fn text(&self, name: &'static str, context: &Context<'_>) -> Result<Content, BuildError> {
        let template = self
            .0
            .get_template(name)
            .map_err(|source| BuildError::Template { name, source })?;
        let text = template
            .render(Serde(context))
            .map_err(|source| BuildError::Template { name, source })?;
        Ok(Content::Text(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let _ = Templates::new();
    }

    #[test]
    fn registries_and_tags_docker_would_refuse_are_refused() {
        assert!(check_image_parts(Some("ghcr.io/acme"), "v1.2.3").is_ok());
        assert!(check_image_parts(Some("localhost:5000/a_b"), "latest").is_ok());
        assert!(check_image_parts(None, "latest").is_ok());
        let tag = check_image_parts(None, "v1;rm").unwrap_err();
        assert_eq!(
            tag.to_string(),
            "the tag `v1;rm` is not valid: use up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
        );
        let registry = check_image_parts(Some("Acme$(x)"), "latest").unwrap_err();
        assert!(
            registry
                .to_string()
                .starts_with("the registry `Acme$(x)` is not valid")
        );
    }
}
