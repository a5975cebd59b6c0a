//! Images: pulled as the spec's pull policy says, with this host's registry
//! credentials when it has some for the image's registry.

use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use wharf_core::model::PullPolicy;

use super::ContainerHost;

/// Why a container task's image cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {0} is not present on this host and pullPolicy is Never")]
    NotPresent(String),
    #[error("cannot pull image {image}: {err}")]
    Pull { image: String, err: DockerError },
}

impl ContainerHost {
    /// Pulls the image as its pull policy says.
    pub(super) async fn ensure_image(
        &self,
        image: &str,
        policy: Option<PullPolicy>,
    ) -> Result<(), ImageError> {
        let policy = policy.unwrap_or(PullPolicy::IfNotPresent);
        let present = self.docker.inspect_image(image).await.is_ok();
        match policy {
            PullPolicy::Never if !present => Err(ImageError::NotPresent(image.to_owned())),
            PullPolicy::Never | PullPolicy::IfNotPresent if present => Ok(()),
            _ => self.pull(image).await,
        }
    }

    async fn pull(&self, image: &str) -> Result<(), ImageError> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let credentials = self.credentials_for(image);
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        while let Some(step) = progress.next().await {
            step.map_err(|err| ImageError::Pull {
                image: image.to_owned(),
                err,
            })?;
        }
        Ok(())
    }

    fn credentials_for(&self, image: &str) -> Option<DockerCredentials> {
        let registry = registry_of(image);
        self.rules
            .registry_auth
            .iter()
            .find(|auth| auth.server == registry)
            .map(|auth| DockerCredentials {
                username: Some(auth.username.clone()),
                password: Some(auth.password.clone()),
                serveraddress: Some(auth.server.clone()),
                ..Default::default()
            })
    }
}

/// The reference with `:latest` when it names neither a tag nor a digest
/// (Docker would otherwise pull every tag of the repository).
pub(super) fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// The registry an image reference names (`docker.io` when none).
fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_owned()
        }
        _ => "docker.io".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_without_tag_or_digest_means_latest() {
        assert_eq!(with_tag("ubuntu"), "ubuntu:latest");
        assert_eq!(
            with_tag("localhost:5000/tool"),
            "localhost:5000/tool:latest"
        );
        assert_eq!(with_tag("ghcr.io/org/tool:1"), "ghcr.io/org/tool:1");
        assert_eq!(with_tag("busybox@sha256:abc"), "busybox@sha256:abc");
    }

    #[test]
    fn registries_are_read_from_image_references() {
        assert_eq!(registry_of("busybox:latest"), "docker.io");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("ghcr.io/org/tool:1"), "ghcr.io");
        assert_eq!(registry_of("localhost:5000/tool"), "localhost:5000");
    }
}
