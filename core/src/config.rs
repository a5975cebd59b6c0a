//! Configuration shared by every binary (SPEC §2): the names of Wharf's AWS
//! resources. AWS access itself is configured by `aws-config`'s standard
//! chain (see [`crate::aws`]).

/// Names of the AWS resources Wharf uses. Flattened into each binary's CLI.
#[derive(Debug, Clone, clap::Args)]
pub struct ResourceNames {
    /// DynamoDB table of tasks.
    #[arg(long, env = "WHARF_TASKS_TABLE", default_value = "wharf-tasks")]
    pub tasks_table: String,
    /// DynamoDB table of worker hosts.
    #[arg(long, env = "WHARF_WORKERS_TABLE", default_value = "wharf-workers")]
    pub workers_table: String,
    /// DynamoDB table of registered functions.
    #[arg(long, env = "WHARF_FUNCTIONS_TABLE", default_value = "wharf-functions")]
    pub functions_table: String,
    /// S3 bucket for outputs, logs and large payloads.
    #[arg(long, env = "WHARF_BUCKET", default_value = "wharf-artifacts")]
    pub bucket: String,
    /// Prefix of SQS queue names: queue `default` is `<prefix>default`.
    #[arg(long, env = "WHARF_QUEUE_PREFIX", default_value = "wharf-")]
    pub queue_prefix: String,
    /// Queues, highest priority first.
    #[arg(
        long,
        env = "WHARF_QUEUES",
        default_value = "default",
        value_delimiter = ','
    )]
    pub queues: Vec<String>,
    /// Finished tasks' records (DynamoDB TTL) and artifacts (S3 lifecycle)
    /// expire after this many days.
    #[arg(long, env = "WHARF_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
}

impl ResourceNames {
    /// Every queue to create: the task queues, then the control plane's
    /// own ([`crate::flow::CONTROL_QUEUE`]), each with its dead-letter queue.
    pub fn provisioned_queues(&self) -> impl Iterator<Item = &str> {
        self.queues
            .iter()
            .map(String::as_str)
            .chain([crate::flow::CONTROL_QUEUE])
    }

    /// The names used locally when nothing is configured, with a prefix
    /// applied to every resource (tests use it to keep runs apart).
    pub fn with_prefix(prefix: &str) -> Self {
        ResourceNames {
            tasks_table: format!("{prefix}tasks"),
            workers_table: format!("{prefix}workers"),
            functions_table: format!("{prefix}functions"),
            bucket: format!("{prefix}artifacts"),
            queue_prefix: prefix.to_owned(),
            queues: vec!["default".to_owned()],
            retention_days: 30,
        }
    }
}
