//! Images: pulled as the spec's pull policy says, with this host's registry
//! credentials when it has some for the image's registry.

use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use wharf_core::model::{ContainerSpec, PullPolicy};

use super::ContainerHost;

impl ContainerHost {
    /// Pulls the image as its pull policy says.
    pub(super) async fn ensure_image(&self, spec: &ContainerSpec) -> Result<(), String> {
        let policy = spec.pull_policy.unwrap_or(PullPolicy::IfNotPresent);
        let present = self.docker.inspect_image(&spec.image).await.is_ok();
        match policy {
            PullPolicy::Never if !present => Err(format!(
                "image {} is not present on this host and pullPolicy is Never",
                spec.image
            )),
            PullPolicy::Never | PullPolicy::IfNotPresent if present => Ok(()),
            _ => self.pull(&spec.image).await,
        }
    }

    async fn pull(&self, image: &str) -> Result<(), String> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let credentials = self.credentials_for(image);
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        while let Some(step) = progress.next().await {
            step.map_err(|err| format!("cannot pull image {image}: {err}"))?;
        }
        Ok(())
    }

    fn credentials_for(&self, image: &str) -> Option<DockerCredentials> {
        let registry = registry_of(image);
        self.registry_auth
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
    fn registries_are_read_from_image_references() {
        assert_eq!(registry_of("busybox:latest"), "docker.io");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("ghcr.io/org/tool:1"), "ghcr.io");
        assert_eq!(registry_of("localhost:5000/tool"), "localhost:5000");
    }
}
