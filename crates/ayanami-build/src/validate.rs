//! Offline checks of a rendered deployable: the YAML parses, each manifest
//! names its kind, each kustomization resource exists, and each Dockerfile
//! uses known instructions and copies only files the deployable holds.

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::output::{Content, Deployable};

/// The Dockerfile instructions; anything else is a mistake.
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Every mistake found in `deployable`, one sentence each.
pub(crate) fn problems(deployable: &Deployable) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, content) in deployable.files() {
        let Content::Text(text) = content else {
            continue;
        };
        let name = path.to_string_lossy();
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        if file == "Dockerfile" {
            problems.extend(dockerfile(deployable, path, text));
        } else if file.ends_with(".yaml") && path.starts_with("k8s") || name == "compose.yaml" {
            match YamlLoader::load_from_str(text) {
                Ok(docs) => problems.extend(yaml(deployable, path, &docs)),
                Err(error) => problems.push(format!("`{name}` is not valid YAML: {error}")),
            }
        }
    }
    problems
}

fn yaml(deployable: &Deployable, path: &Path, docs: &[Yaml]) -> Vec<String> {
    let name = path.to_string_lossy();
    let mut problems = Vec::new();
    let in_k8s = path.starts_with("k8s");
    for doc in docs {
        let kind = doc["kind"].as_str();
        if name == "compose.yaml" {
            let services = doc["services"]
                .as_hash()
                .map(|s| s.iter().collect::<Vec<_>>());
            for (service, spec) in services.unwrap_or_default() {
                if spec["image"].as_str().is_none() {
                    let service = service.as_str().unwrap_or_default();
                    problems.push(format!("`{name}`: service `{service}` has no `image`"));
                }
            }
        } else if in_k8s && kind == Some("Kustomization") {
            let resources = doc["resources"].as_vec().cloned().unwrap_or_default();
            for resource in resources {
                let resource = resource.as_str().unwrap_or_default();
                if deployable.text(&format!("k8s/{resource}")).is_none() {
                    problems.push(format!("`{name}` lists `{resource}`, which is not written"));
                }
            }
        } else if in_k8s {
            let named = doc["apiVersion"].as_str().is_some()
                && kind.is_some()
                && doc["metadata"]["name"].as_str().is_some();
            if !named {
                problems.push(format!(
                    "`{name}` has a document without `apiVersion`, `kind` and `metadata.name`"
                ));
            }
        }
    }
    problems
}

fn dockerfile(deployable: &Deployable, path: &Path, text: &str) -> Vec<String> {
    let name = path.to_string_lossy();
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    let mut seen_from = false;
    let mut entrypoint = false;
    for line in logical_lines(text) {
        let (instruction, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let upper = instruction.to_ascii_uppercase();
        if !INSTRUCTIONS.contains(&upper.as_str()) {
            problems.push(format!("`{name}`: unknown instruction `{instruction}`"));
            continue;
        }
        if !seen_from && upper != "FROM" && upper != "ARG" {
            problems.push(format!("`{name}`: `{instruction}` comes before `FROM`"));
        }
        seen_from |= upper == "FROM";
        match upper.as_str() {
            "COPY" if !rest.starts_with("--from=") => {
                for source in copy_sources(rest) {
                    if !deployable.files().contains_key(&folder.join(&source)) {
                        problems.push(format!("`{name}` copies `{source}`, which is not written"));
                    }
                }
            }
            "ENTRYPOINT" => {
                entrypoint = true;
                let argv: Option<Vec<String>> = serde_json::from_str(rest).ok();
                let serves = argv.is_some_and(|a| a.get(1).is_some_and(|w| w == "serve"));
                if !serves {
                    problems.push(format!(
                        "`{name}`: `ENTRYPOINT` must be `[\"…/ayanami\", \"serve\", …]` in exec form"
                    ));
                }
            }
            _ => {}
        }
    }
    if !entrypoint {
        problems.push(format!("`{name}` has no `ENTRYPOINT`"));
    }
    problems
}

/// The instructions of a Dockerfile, continuation lines joined, comments dropped.
pub(crate) fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// The sources of a `COPY`, in shell or exec form: every argument but the last.
fn copy_sources(rest: &str) -> Vec<String> {
    let mut argv: Vec<String> = serde_json::from_str(rest)
        .unwrap_or_else(|_| rest.split_whitespace().map(str::to_owned).collect());
    argv.pop();
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_join_and_comments_go() {
        let text = "# c\nFROM x\nRUN a \\\n    && b\n\nUSER 1\n";
        assert_eq!(logical_lines(text), ["FROM x", "RUN a && b", "USER 1"]);
    }

    #[test]
    fn copy_sources_come_in_both_forms() {
        assert_eq!(copy_sources("a b /dst"), ["a", "b"]);
        assert_eq!(copy_sources("[\"a b\", \"dst\"]"), ["a b"]);
    }
}
