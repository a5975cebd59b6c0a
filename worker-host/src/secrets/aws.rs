//! [`SecretSource`] over SSM Parameter Store (SecureStrings decrypted) and
//! Secrets Manager (a `:jsonKey` picks one key of a JSON secret).

use async_trait::async_trait;
use aws_config::SdkConfig;
use wharf_core::secrets::Reference;
use wharf_core::Error;
use zeroize::Zeroizing;

use super::{Fetched, SecretSource};

pub struct AwsSecrets {
    ssm: aws_sdk_ssm::Client,
    secrets_manager: aws_sdk_secretsmanager::Client,
}

impl AwsSecrets {
    pub fn new(aws: &SdkConfig) -> AwsSecrets {
        AwsSecrets {
            ssm: aws_sdk_ssm::Client::new(aws),
            secrets_manager: aws_sdk_secretsmanager::Client::new(aws),
        }
    }

    async fn parameter(&self, id: &str) -> wharf_core::Result<Option<Fetched>> {
        let answer = self
            .ssm
            .get_parameter()
            .name(id)
            .with_decryption(true)
            .send()
            .await;
        let parameter = match answer {
            Ok(answer) => answer.parameter,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                return Ok(None)
            }
            Err(err) => return Err(Error::aws("GetParameter", err)),
        };
        Ok(parameter.and_then(|p| {
            Some(Fetched {
                name: p.name?,
                value: Zeroizing::new(p.value?.into_bytes()),
            })
        }))
    }

    async fn secret(
        &self,
        id: &str,
        json_key: Option<&str>,
    ) -> wharf_core::Result<Option<Fetched>> {
        let answer = self
            .secrets_manager
            .get_secret_value()
            .secret_id(id)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(err) => return Err(Error::aws("GetSecretValue", err)),
        };
        let Some(name) = answer.name.clone() else {
            return Ok(None);
        };
        let whole = match (&answer.secret_string, &answer.secret_binary) {
            (Some(text), _) => Zeroizing::new(text.clone().into_bytes()),
            (None, Some(binary)) => Zeroizing::new(binary.as_ref().to_vec()),
            (None, None) => return Ok(None),
        };
        let value = match json_key {
            None => Some(whole),
            Some(key) => json_value(&whole, key),
        };
        Ok(value.map(|value| Fetched { name, value }))
    }
}

/// One key of a JSON object secret: a string as it is, anything else as
/// its JSON text; `None` when the secret is not an object or lacks the key.
fn json_value(secret: &[u8], key: &str) -> Option<Zeroizing<Vec<u8>>> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(secret).ok()?;
    let value = match object.get(key)? {
        serde_json::Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    Some(Zeroizing::new(value))
}

#[async_trait]
impl SecretSource for AwsSecrets {
    async fn fetch(&self, reference: &Reference) -> wharf_core::Result<Option<Fetched>> {
        match reference {
            Reference::Parameter { id, .. } => self.parameter(id).await,
            Reference::Secret { id, json_key, .. } => self.secret(id, json_key.as_deref()).await,
        }
    }
}
