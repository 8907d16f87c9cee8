//! A rendered deployable, written into a folder `ayanami build` owns, or compared with one.

use std::collections::BTreeMap;
use std::path::{Component as PathPart, Path, PathBuf};

use crate::BuildError;

/// The file that lists what `ayanami build` wrote, so that the next build
/// removes exactly those files and nothing of the user's.
pub const MARKER: &str = ".ayanami-build";

/// What one file of a deployable holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Rendered text.
    Text(String),
    /// A copy of a project file.
    Copy(PathBuf),
}

/// Every file of a deployable, by its path inside the output folder.
#[derive(Debug, Clone, Default)]
pub struct Deployable {
    files: BTreeMap<PathBuf, Content>,
}

impl Deployable {
    pub(crate) fn add(&mut self, path: PathBuf, content: Content) {
        self.files.insert(path, content);
    }

    /// The files, by path inside the output folder.
    #[must_use]
    pub fn files(&self) -> &BTreeMap<PathBuf, Content> {
        &self.files
    }

    /// The text of a rendered file.
    #[must_use]
    pub fn text(&self, path: &str) -> Option<&str> {
        match self.files.get(Path::new(path))? {
            Content::Text(text) => Some(text),
            Content::Copy(_) => None,
        }
    }

    /// Writes the deployable into `out`, first removing what an earlier
    /// build wrote there.
    ///
    /// # Errors
    ///
    /// [`BuildError::OverProject`] when `out` holds `project`,
    /// [`BuildError::Foreign`] when `out` has files but no [`MARKER`],
    /// [`BuildError::Read`] and [`BuildError::Write`] on I/O failures.
    pub fn write(&self, out: &Path, project: &Path) -> Result<(), BuildError> {
        guard(out, project)?;
        for path in previous(out)? {
            remove(out, &path)?;
        }
        for (path, content) in &self.files {
            let to = out.join(path);
            let write_error = |source| BuildError::Write {
                path: to.clone(),
                source,
            };
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(write_error)?;
            }
            match content {
                Content::Text(text) => std::fs::write(&to, text).map_err(write_error)?,
                Content::Copy(from) => {
                    std::fs::copy(from, &to).map_err(|source| BuildError::Read {
                        path: from.clone(),
                        source,
                    })?;
                }
            }
        }
        let list: String = self
            .files
            .keys()
            .map(|path| format!("{}\n", slashed(path)))
            .collect();
        let marker = out.join(MARKER);
        std::fs::write(&marker, list).map_err(|source| BuildError::Write {
            path: marker,
            source,
        })
    }

    /// What is wrong with `out` as this deployable: missing, changed and
    /// stale files, then mistakes in the rendered files themselves.
    ///
    /// # Errors
    ///
    /// [`BuildError::Read`] when a project file cannot be read.
    pub fn check(&self, out: &Path) -> Result<Vec<String>, BuildError> {
        let mut problems = Vec::new();
        for (path, content) in &self.files {
            let expected = match content {
                Content::Text(text) => text.clone().into_bytes(),
                Content::Copy(from) => read(from)?,
            };
            let name = slashed(path);
            match std::fs::read(out.join(path)) {
                Ok(found) if found == expected => {}
                Ok(_) => problems.push(format!(
                    "`{name}` differs from what `ayanami build` writes; build again"
                )),
                Err(_) => problems.push(format!("`{name}` is missing; build again")),
            }
        }
        for path in previous(out)? {
            if !self.files.contains_key(&path) && out.join(&path).exists() {
                let name = slashed(&path);
                problems.push(format!("`{name}` is stale; build again to remove it"));
            }
        }
        if !out.join(MARKER).is_file() {
            problems.push(format!("`{MARKER}` is missing; build again"));
        }
        problems.extend(crate::validate::problems(self));
        Ok(problems)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, BuildError> {
    std::fs::read(path).map_err(|source| BuildError::Read {
        path: path.to_owned(),
        source,
    })
}

fn slashed(path: &Path) -> String {
    let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
    parts.join("/")
}

/// Refuses an output that is the project or holds it, or that has files
/// `ayanami build` did not write.
fn guard(out: &Path, project: &Path) -> Result<(), BuildError> {
    let project = std::fs::canonicalize(project).map_err(|source| BuildError::Read {
        path: project.to_owned(),
        source,
    })?;
    let absolute = |path: &Path| std::fs::canonicalize(path).ok();
    if absolute(out).is_some_and(|out| project.starts_with(out)) {
        return Err(BuildError::OverProject {
            path: out.to_owned(),
        });
    }
    let Ok(mut entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    if entries.next().is_some() && !out.join(MARKER).is_file() {
        return Err(BuildError::Foreign {
            path: out.to_owned(),
        });
    }
    Ok(())
}

/// The files an earlier build listed in `out`'s marker, keeping only plain
/// relative paths so that an edited marker cannot reach outside `out`.
fn previous(out: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let marker = out.join(MARKER);
    let text = match std::fs::read_to_string(&marker) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(BuildError::Read {
                path: marker,
                source,
            });
        }
    };
    let plain = |path: &Path| path.components().all(|p| matches!(p, PathPart::Normal(_)));
    Ok(text
        .lines()
        .map(PathBuf::from)
        .filter(|path| !path.as_os_str().is_empty() && plain(path))
        .collect())
}

/// Removes one earlier file and the folders it leaves empty.
fn remove(out: &Path, path: &Path) -> Result<(), BuildError> {
    let file = out.join(path);
    match std::fs::remove_file(&file) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(BuildError::Write { path: file, source }),
    }
    let mut folder = path.parent();
    while let Some(dir) = folder.filter(|d| !d.as_os_str().is_empty()) {
        if std::fs::remove_dir(out.join(dir)).is_err() {
            break;
        }
        folder = dir.parent();
    }
    Ok(())
}
