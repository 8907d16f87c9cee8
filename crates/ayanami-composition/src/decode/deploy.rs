//! The `deploy:` section: registry, tag, NATS, Ingress and scale for `ayanami build`.

use crate::defaults::MAX_NATS_NODES;
use crate::model::{Autoscale, ComponentName, Composition, Deploy, Scale};
use crate::yaml::Node;

use super::{Decoder, backticked};

/// The most replicas a composition may ask for, a guard against typos.
const MAX_REPLICAS: u32 = 1000;

impl Decoder {
    pub(super) fn deploy(&mut self, node: &Node, composition: &Composition) -> Deploy {
        let mut deploy = Deploy::default();
        let allowed = [
            "registry",
            "tag",
            "nats",
            "nats_nodes",
            "ingress",
            "components",
        ];
        let Some(fields) = self.fields(node, "`deploy`", &allowed) else {
            return deploy;
        };
        let text = |d: &mut Self, key: &str| {
            let node = fields.get(key)?;
            let text = d.string(node, &format!("`deploy.{key}`"))?;
            if text.is_empty() || text.chars().any(char::is_whitespace) {
                d.error(
                    node.span,
                    format!("`deploy.{key}` must be one word, not `{text}`"),
                );
                return None;
            }
            Some(text)
        };
        deploy.registry = text(self, "registry");
        deploy.tag = text(self, "tag");
        deploy.nats = text(self, "nats");
        deploy.ingress = text(self, "ingress");
        if let Some(nats) = fields.get("nats").filter(|_| deploy.nats.is_some()) {
            let urls = deploy.nats.as_deref().unwrap_or_default();
            let bad = urls
                .split(',')
                .find(|url| !url.starts_with("nats://") && !url.starts_with("tls://"));
            if let Some(url) = bad {
                self.error(
                    nats.span,
                    format!("`deploy.nats` must be a URL such as `nats://nats.example:4222`, or several separated by commas, not `{url}`"),
                );
            }
        }
        if let Some(node) = fields.get("nats_nodes") {
            deploy.nats_nodes = self.nats_nodes(node, deploy.nats.is_some());
        }
        if let Some(host) = fields.get("ingress").filter(|_| deploy.ingress.is_some()) {
            let name = deploy.ingress.as_deref().unwrap_or_default();
            if !is_host(name) {
                self.error(
                    host.span,
                    format!("`deploy.ingress` must be a host name such as `app.example.com`, not `{name}`"),
                );
            }
        }
        if let Some(node) = fields.get("components") {
            deploy.components = self.components(node, composition);
        }
        deploy
    }

    fn components(
        &mut self,
        node: &Node,
        composition: &Composition,
    ) -> Vec<(ComponentName, Scale)> {
        let Some(entries) = self.entries(node, "`deploy.components`") else {
            return Vec::new();
        };
        let mut components: Vec<(ComponentName, Scale)> = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.component_name(key, composition) else {
                continue;
            };
            if components.iter().any(|(seen, _)| *seen == name) {
                let text = key.as_str().unwrap_or_default();
                self.error(
                    key.span,
                    format!("`{text}` appears twice in `deploy.components`"),
                );
                continue;
            }
            let Some(scale) = self.scale(value) else {
                continue;
            };
            if name == ComponentName::Schedules && (scale.replicas > 1 || scale.autoscale.is_some())
            {
                self.error(
                    value.span,
                    "`schedules` fires every schedule once in each replica; keep it at `replicas: 1` (or 0 to pause the schedules), without `autoscale`",
                );
                continue;
            }
            components.push((name, scale));
        }
        components
    }

    fn component_name(&mut self, key: &Node, composition: &Composition) -> Option<ComponentName> {
        let text = self.string(key, "a component in `deploy.components`")?;
        let name = match text.split_once('.') {
            None if text == "gateway" && composition.gateway.is_some() => ComponentName::Gateway,
            None if text == "schedules" && !composition.triggers.schedules.is_empty() => {
                ComponentName::Schedules
            }
            None if text == "subjects" && !composition.triggers.subjects.is_empty() => {
                ComponentName::Subjects
            }
            Some(("flow", flow)) if composition.flow(flow).is_some() => {
                ComponentName::Flow(flow.to_owned())
            }
            Some(("service", service)) if composition.service(service).is_some() => {
                ComponentName::Service(service.to_owned())
            }
            _ => {
                let mut known = Vec::new();
                if composition.gateway.is_some() {
                    known.push("gateway".to_owned());
                }
                if !composition.triggers.schedules.is_empty() {
                    known.push("schedules".to_owned());
                }
                if !composition.triggers.subjects.is_empty() {
                    known.push("subjects".to_owned());
                }
                known.extend(composition.flows.iter().map(|f| format!("flow.{}", f.name)));
                known.extend(
                    composition
                        .services
                        .iter()
                        .map(|s| format!("service.{}", s.name)),
                );
                self.error(
                    key.span,
                    format!(
                        "unknown component `{text}` in `deploy.components`; expected one of {}",
                        backticked(&known)
                    ),
                );
                return None;
            }
        };
        Some(name)
    }

    fn scale(&mut self, node: &Node) -> Option<Scale> {
        let fields = self.fields(node, "a component's scale", &["replicas", "autoscale"])?;
        let replicas = match fields.get("replicas") {
            Some(node) => self.count(node, "`replicas`", 0)?,
            None => 1,
        };
        let autoscale = match fields.get("autoscale") {
            Some(node) => Some(self.autoscale(node, replicas)?),
            None => None,
        };
        Some(Scale {
            replicas,
            autoscale,
        })
    }

    fn autoscale(&mut self, node: &Node, replicas: u32) -> Option<Autoscale> {
        let fields = self.fields(node, "`autoscale`", &["min", "max", "cpu"])?;
        let get = |d: &mut Self, key: &str, least: u32, default: Option<u32>| match (
            fields.get(key),
            default,
        ) {
            (Some(node), _) => d.count(node, &format!("`autoscale.{key}`"), least),
            (None, Some(default)) => Some(default),
            (None, None) => {
                d.error(node.span, format!("`autoscale` needs `{key}`"));
                None
            }
        };
        let min = get(self, "min", 1, Some(replicas.max(1)));
        let max = get(self, "max", 1, None);
        let cpu = get(self, "cpu", 1, Some(80));
        let (min, max, cpu) = (min?, max?, cpu?);
        if max < min {
            self.error(
                node.span,
                format!("`autoscale.max` ({max}) must be at least `autoscale.min` ({min})"),
            );
            return None;
        }
        Some(Autoscale { min, max, cpu })
    }

    fn nats_nodes(&mut self, node: &Node, external: bool) -> Option<u32> {
        let parsed = node.as_str().and_then(|t| t.parse::<u32>().ok());
        let nodes = parsed.filter(|n| (1..=MAX_NATS_NODES).contains(n));
        if nodes.is_none() {
            self.error(
                node.span,
                format!("`deploy.nats_nodes` must be a whole number from 1 to {MAX_NATS_NODES}, such as 3 for a cluster"),
            );
        } else if external {
            self.error(
                node.span,
                "`deploy.nats_nodes` sizes the NATS the deployable runs, but `deploy.nats` names one run elsewhere; drop one of them".to_owned(),
            );
            return None;
        }
        nodes
    }

    fn count(&mut self, node: &Node, what: &str, least: u32) -> Option<u32> {
        let parsed = node.as_str().and_then(|t| t.parse::<u32>().ok());
        let valid = parsed.filter(|n| (least..=MAX_REPLICAS).contains(n));
        if valid.is_none() {
            self.error(
                node.span,
                format!("{what} must be a whole number from {least} to {MAX_REPLICAS}"),
            );
        }
        valid
    }
}

/// Whether `name` is a DNS name an Ingress accepts, such as `app.example.com`
/// or `*.example.com`.
fn is_host(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    name.len() <= 253 && name.split('.').all(label)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::{ComponentName, CompositionError, parse};

    const BASE: &str = "name: app
gateway:
  routes: [{path: /}]
services:
  s:
    functions:
      f: {kind: exec, run: ./f}
flows:
  fl:
    wirings:
      - {from: trig.request.get.out, var: request}
      - {var: content, value: hi, to: trig.response.get.in.content}
";

    fn errors(deploy: &str) -> Vec<String> {
        let text = format!("{BASE}{deploy}");
        match parse(&text, Path::new("ayanami.yaml"), PathBuf::from(".")) {
            Ok(_) => Vec::new(),
            Err(CompositionError::Invalid { diagnostics, .. }) => {
                diagnostics.into_iter().map(|d| d.message).collect()
            }
            Err(other) => vec![other.to_string()],
        }
    }

    #[test]
    fn a_deploy_section_sets_registry_nats_and_scale() {
        let text = format!(
            "{BASE}deploy:\n  registry: r.example/acme\n  tag: v1\n  nats: nats://n:4222\n  components:\n    gateway: {{replicas: 2}}\n    service.s: {{autoscale: {{max: 5, cpu: 60}}}}\n"
        );
        let composition = parse(&text, Path::new("ayanami.yaml"), PathBuf::from(".")).unwrap();
        let deploy = &composition.deploy;
        assert_eq!(deploy.registry.as_deref(), Some("r.example/acme"));
        assert_eq!(deploy.nats.as_deref(), Some("nats://n:4222"));
        assert!(super::is_host("app.example.com") && super::is_host("*.example.com"));
        assert_eq!(deploy.scale(&ComponentName::Gateway).replicas, 2);
        let service = deploy.scale(&ComponentName::Service("s".into()));
        let autoscale = service.autoscale.unwrap();
        assert_eq!((autoscale.min, autoscale.max, autoscale.cpu), (1, 5, 60));
        assert_eq!(deploy.scale(&ComponentName::Flow("fl".into())).replicas, 1);
        assert_eq!(deploy.nats_nodes, None);
    }

    #[test]
    fn a_deploy_section_sizes_the_nats_cluster() {
        let text = format!("{BASE}deploy:\n  nats_nodes: 3\n");
        let composition = parse(&text, Path::new("ayanami.yaml"), PathBuf::from(".")).unwrap();
        assert_eq!(composition.deploy.nats_nodes, Some(3));
    }

    #[test]
    fn deploy_mistakes_say_what_to_change() {
        let cases = [
            (
                "deploy:\n  components:\n    service.nope: {replicas: 2}\n",
                "unknown component `service.nope` in `deploy.components`; expected one of `gateway`, `flow.fl`, `service.s`",
            ),
            (
                "deploy:\n  components:\n    gateway: {replicas: -1}\n",
                "`replicas` must be a whole number from 0 to 1000",
            ),
            (
                "deploy:\n  components:\n    gateway: {autoscale: {min: 3, max: 2}}\n",
                "`autoscale.max` (2) must be at least `autoscale.min` (3)",
            ),
            (
                "deploy:\n  components:\n    gateway: {autoscale: {min: 1}}\n",
                "`autoscale` needs `max`",
            ),
            (
                "deploy:\n  nats: localhost:4222\n",
                "`deploy.nats` must be a URL such as `nats://nats.example:4222`, or several separated by commas, not `localhost:4222`",
            ),
            (
                "deploy:\n  nats: nats://a:4222,b:4222\n",
                "`deploy.nats` must be a URL such as `nats://nats.example:4222`, or several separated by commas, not `b:4222`",
            ),
            (
                "deploy:\n  nats_nodes: 0\n",
                "`deploy.nats_nodes` must be a whole number from 1 to 9, such as 3 for a cluster",
            ),
            (
                "deploy:\n  nats: nats://n:4222\n  nats_nodes: 3\n",
                "`deploy.nats_nodes` sizes the NATS the deployable runs, but `deploy.nats` names one run elsewhere; drop one of them",
            ),
            (
                "deploy:\n  tag: a b\n",
                "`deploy.tag` must be one word, not `a b`",
            ),
            (
                "deploy:\n  ingress: Bad_Host\n",
                "`deploy.ingress` must be a host name such as `app.example.com`, not `Bad_Host`",
            ),
        ];
        for (deploy, expected) in cases {
            assert_eq!(errors(deploy), [expected], "{deploy}");
        }
    }
}
