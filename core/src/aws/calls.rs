//! Every AWS call a service makes, counted by service and operation: each
//! attempt that goes on the wire (a retried call counts twice). The counts
//! are exported as `wharf_aws_calls_total{service, operation}` and kept in
//! an [`AwsCalls`] tally that tests and benchmarks read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// The calls made through the clients it built, by `(service, operation)`.
#[derive(Debug, Clone, Default)]
pub struct AwsCalls {
    counts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

impl AwsCalls {
    /// The calls so far, by `(service, operation)`.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.counts.lock().expect("never poisoned").clone()
    }

    /// The calls so far to one service.
    pub fn to_service(&self, service: &str) -> u64 {
        self.counts()
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn dynamo(&self, aws: &SdkConfig) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(aws).interceptor(self.clone());
        aws_sdk_dynamodb::Client::from_conf(config.build())
    }

    pub fn sqs(&self, aws: &SdkConfig) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(aws).interceptor(self.clone());
        aws_sdk_sqs::Client::from_conf(config.build())
    }

    pub fn s3(&self, aws: &SdkConfig) -> aws_sdk_s3::Client {
        let config = super::s3_config(aws).interceptor(self.clone());
        aws_sdk_s3::Client::from_conf(config.build())
    }
}

impl Intercept for AwsCalls {
    fn name(&self) -> &'static str {
        "WharfCallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(call) = config.load::<Metadata>() {
            let (service, operation) = (call.service().to_owned(), call.name().to_owned());
            metrics::counter!("wharf_aws_calls_total", "service" => service.clone(), "operation" => operation.clone())
                .increment(1);
            *self
                .counts
                .lock()
                .expect("never poisoned")
                .entry((service, operation))
                .or_default() += 1;
        }
        Ok(())
    }
}
