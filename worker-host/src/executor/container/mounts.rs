//! Host mounts: the attempt's `io/` directory at `/wharf`, and what the spec
//! asks for if it lies under a path this host allows.

use std::path::{Path, PathBuf};

use wharf_core::model::{ContainerSpec, Mount};

use super::ContainerHost;
use crate::executor::Run;

impl ContainerHost {
    /// `/wharf` plus the mounts the spec asks for, each of which must lie
    /// under a path this host allows.
    pub(super) fn binds(&self, spec: &ContainerSpec, run: &Run) -> Result<Vec<String>, String> {
        let mut binds = vec![format!("{}:/wharf", run.io_dir().display())];
        for mount in &spec.mounts {
            if !mount_allowed(&self.allowed_mounts, mount) {
                return Err(format!(
                    "mount of {} is not allowed on this host (allowed: {})",
                    mount.source,
                    self.allowed_mounts
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let mode = if mount.read_only { "ro" } else { "rw" };
            binds.push(format!("{}:{}:{mode}", mount.source, mount.target));
        }
        Ok(binds)
    }
}

fn mount_allowed(allowed: &[PathBuf], mount: &Mount) -> bool {
    let source = Path::new(&mount.source);
    source.is_absolute()
        && !source
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        && allowed.iter().any(|root| source.starts_with(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_host_paths_may_be_mounted() {
        let allowed = vec![PathBuf::from("/srv/data")];
        let mount = |source: &str| Mount {
            source: source.to_owned(),
            target: "/data".to_owned(),
            read_only: true,
        };
        assert!(mount_allowed(&allowed, &mount("/srv/data")));
        assert!(mount_allowed(&allowed, &mount("/srv/data/set1")));
        assert!(!mount_allowed(&allowed, &mount("/srv/database")));
        assert!(!mount_allowed(&allowed, &mount("/srv/data/../../etc")));
        assert!(!mount_allowed(&allowed, &mount("relative")));
        assert!(!mount_allowed(&[], &mount("/srv/data")));
    }
}
