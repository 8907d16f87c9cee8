//! Why a deployable could not be written or checked.

use std::path::PathBuf;

/// What went wrong while building or checking a deployable.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A project file could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The output could not be written or cleared.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A template failed to render; a bug in Ayanami.
    #[error("template `{name}` failed to render; this is a bug in Ayanami, please report it")]
    Template {
        /// The template.
        name: &'static str,
        /// Why.
        source: minijinja::Error,
    },
    /// A name of the composition cannot name a Kubernetes object or an image.
    #[error(
        "{what} `{name}` gives the Kubernetes name `{resource}`, which is not valid: use at most 63 lowercase letters, digits and `-`, starting with a letter"
    )]
    Name {
        /// What the name names, such as "the service".
        what: String,
        /// The name as written.
        name: String,
        /// The name it turns into.
        resource: String,
    },
    /// A size for the deployable's own NATS, when the composition uses one
    /// run elsewhere.
    #[error(
        "`--nats-nodes` sizes the NATS the deployable runs, but the composition's `deploy.nats` uses `{url}`; drop one of them"
    )]
    NatsNodes {
        /// The composition's `deploy.nats`.
        url: String,
    },
    /// An image registry or tag that Docker would refuse.
    #[error("{what} `{value}` is not valid: {rule}")]
    Image {
        /// `the registry` or `the tag`, and where it comes from.
        what: &'static str,
        /// The value given.
        value: String,
        /// What a valid one looks like.
        rule: &'static str,
    },
    /// A function runs a project file whose name the component's folder
    /// needs for a generated file.
    #[error(
        "a function of `{component}` runs `{source_file}`, which would take the place of the generated `{source_file}`; move or rename it"
    )]
    Source {
        /// The component's label.
        component: String,
        /// The file.
        source_file: String,
    },
    /// Two components would get the same folder and Kubernetes name.
    #[error("{first} and {second} both become `{resource}`; rename one of them")]
    Clash {
        /// One component's label.
        first: String,
        /// The other's.
        second: String,
        /// The name both turn into.
        resource: String,
    },
    /// The output folder holds files that `ayanami build` did not write.
    #[error(
        "`{}` exists and was not written by `ayanami build` (it has no `{}`); choose another `--out` or remove it",
        path.display(), crate::MARKER
    )]
    Foreign {
        /// The folder.
        path: PathBuf,
    },
    /// The output folder would hold the project itself.
    #[error(
        "the output `{}` holds the project folder; choose an `--out` inside or beside it",
        path.display()
    )]
    OverProject {
        /// The folder.
        path: PathBuf,
    },
}
