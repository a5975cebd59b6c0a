//! Host mounts: the attempt's `io/` directory at `/wharf`, and what the spec
//! asks for when it lies under a root this host allows
//! (`--allowed-mounts PATH[:ro],…`).
//!
//! Paths are compared as the host resolves them, never as text: each root
//! is resolved once at start-up, each requested source when the task
//! starts, and a source that resolves anywhere else than where it says (a
//! symlink on the way) is refused — so a task cannot plant a link under an
//! allowed root for the next one to mount. A read-only root is mounted
//! read-only whatever the task asks.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use wharf_core::model::{ContainerSpec, Mount};

use super::{ContainerHost, SECRETS_DIR};
use crate::executor::Run;

/// Why a requested mount may not be mounted.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount source {0} must be an absolute path without \"..\"")]
    NotAbsolute(String),
    #[error("mount source {source_path} cannot be resolved on this host: {err}")]
    Unresolvable {
        source_path: String,
        err: std::io::Error,
    },
    #[error("mount source {source_path} resolves to {} through a symlink; symlinks are refused", resolved.display())]
    Symlink {
        source_path: String,
        resolved: PathBuf,
    },
    #[error("mount of {source_path} is not allowed on this host (allowed: {allowed})")]
    NotAllowed {
        source_path: String,
        allowed: String,
    },
}

/// A host path container tasks may mount, and what lies below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedMount {
    pub root: PathBuf,
    /// `:ro`: mounted read-only, whatever the task asks.
    pub read_only: bool,
}

impl FromStr for AllowedMount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (path, read_only) = match s.strip_suffix(":ro") {
            Some(path) => (path, true),
            None => (s, false),
        };
        if !Path::new(path).is_absolute() {
            return Err(format!("{s:?}: an allowed mount must be an absolute path"));
        }
        Ok(AllowedMount {
            root: PathBuf::from(path),
            read_only,
        })
    }
}

impl AllowedMount {
    /// The root as the host resolves it (it must exist).
    pub fn resolved(self) -> std::io::Result<AllowedMount> {
        Ok(AllowedMount {
            root: self.root.canonicalize()?,
            ..self
        })
    }
}

impl ContainerHost {
    /// `/wharf` plus the mounts the spec asks for, each resolved on this
    /// host and under a root it allows.
    pub(super) fn binds(&self, spec: &ContainerSpec, run: &Run) -> Result<Vec<String>, MountError> {
        let mut binds = vec![format!("{}:/wharf", run.io_dir().display())];
        if !run.secrets.files.is_empty() {
            binds.push(format!("{}:{SECRETS_DIR}:ro", run.secrets_dir().display()));
        }
        for mount in &spec.mounts {
            let (source, read_only) = resolve(&self.rules.allowed_mounts, mount)?;
            let mode = if read_only { "ro" } else { "rw" };
            binds.push(format!("{}:{}:{mode}", source.display(), mount.target));
        }
        Ok(binds)
    }
}

/// Where a requested mount comes from on this host, and whether it is
/// read-only; or why it may not be mounted.
fn resolve(allowed: &[AllowedMount], mount: &Mount) -> Result<(PathBuf, bool), MountError> {
    let source = Path::new(&mount.source);
    if !source.is_absolute() || source.components().any(|c| c == Component::ParentDir) {
        return Err(MountError::NotAbsolute(mount.source.clone()));
    }
    let resolved = source
        .canonicalize()
        .map_err(|err| MountError::Unresolvable {
            source_path: mount.source.clone(),
            err,
        })?;
    // `components()` drops `.`, repeated and trailing slashes: what is left
    // differs from the resolved path only through a symlink.
    if resolved != source.components().collect::<PathBuf>() {
        return Err(MountError::Symlink {
            source_path: mount.source.clone(),
            resolved,
        });
    }
    let mut roots = allowed
        .iter()
        .filter(|root| resolved.starts_with(&root.root));
    if roots.clone().next().is_none() {
        let roots: Vec<String> = allowed
            .iter()
            .map(|r| r.root.display().to_string())
            .collect();
        return Err(MountError::NotAllowed {
            source_path: mount.source.clone(),
            allowed: roots.join(", "),
        });
    }
    // Under nested roots, a read-only one wins.
    let read_only = roots.any(|root| root.read_only);
    Ok((resolved, mount.read_only || read_only))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(source: &Path, read_only: bool) -> Mount {
        Mount {
            source: source.display().to_string(),
            target: "/data".to_owned(),
            read_only,
        }
    }

    #[test]
    fn mounts_are_checked_as_the_host_resolves_them() {
        let base = std::env::temp_dir().join(format!("wharf-mounts-{}", std::process::id()));
        std::fs::create_dir_all(base.join("data/set1")).unwrap();
        std::fs::create_dir_all(base.join("database")).unwrap();
        let base = base.canonicalize().unwrap();
        let (data, other) = (base.join("data"), base.join("database"));
        std::os::unix::fs::symlink("/", data.join("r")).unwrap();
        let allow = |s: String| [AllowedMount::from_str(&s).unwrap().resolved().unwrap()];
        let rw = allow(data.display().to_string());
        let ro = allow(format!("{}:ro", data.display()));

        assert_eq!(
            resolve(&rw, &mount(&data, false)).unwrap(),
            (data.clone(), false)
        );
        assert_eq!(
            resolve(&rw, &mount(&data.join("set1"), true)).unwrap(),
            (data.join("set1"), true)
        );
        assert_eq!(
            resolve(&ro, &mount(&data.join("set1"), false)).unwrap(),
            (data.join("set1"), true)
        );
        let refused = |m: Mount, roots: &[AllowedMount], why: &str| {
            let err = resolve(roots, &m).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        };
        refused(mount(&data.join("r"), true), &rw, "symlink");
        refused(mount(&data.join("r/etc"), true), &rw, "symlink");
        refused(mount(&other, true), &rw, "not allowed");
        refused(
            mount(&data.join("set1/../../database"), true),
            &rw,
            "\"..\"",
        );
        refused(
            mount(&data.join("missing"), true),
            &rw,
            "cannot be resolved",
        );
        refused(mount(&data, true), &[], "not allowed");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn allowed_mounts_are_parsed_with_their_mode() {
        let ro: AllowedMount = "/srv/data:ro".parse().unwrap();
        assert_eq!((ro.root, ro.read_only), (PathBuf::from("/srv/data"), true));
        let rw: AllowedMount = "/srv/data".parse().unwrap();
        assert!(!rw.read_only);
        assert!("srv/data".parse::<AllowedMount>().is_err());
    }
}
