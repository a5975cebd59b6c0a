//! One source of truth: what `wharf admin provision` creates, what the
//! LocalStack init hook creates (run here with the AWS CLI against moto) and
//! what `infra/template.yaml` declares must agree on every table key, index
//! and TTL, every queue's visibility, retention and redrive count, and the
//! bucket's encryption, public access block and lifecycle.

use std::path::PathBuf;

use aws_config::SdkConfig;
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use wharf_core::aws::s3_client;
use wharf_core::config::ResourceNames;
use wharf_core::provision::provision;
use wharf_testkit::{unique_prefix, workspace_root, Moto};

#[tokio::test]
async fn provisioner_localstack_hook_and_sam_template_agree() {
    let moto = Moto::start().await;
    let aws = moto.sdk_config();

    let provisioned = ResourceNames::with_prefix(&unique_prefix());
    provision(&aws, &provisioned).await.unwrap();
    let hooked = ResourceNames::with_prefix(&unique_prefix());
    run_hook(&moto, &hooked).await;

    let from_provisioner = describe(&aws, &provisioned).await;
    let from_hook = describe(&aws, &hooked).await;
    let from_template = from_template();
    assert_eq!(
        from_provisioner, from_hook,
        "wharf admin provision and localstack/init/ready.d/10-wharf.sh disagree"
    );
    assert_eq!(
        from_provisioner, from_template,
        "wharf admin provision and infra/template.yaml disagree"
    );
}

/// The AWS CLI from the tools venv (`make tools`), or `WHARF_AWS_CLI`.
fn aws_cli() -> PathBuf {
    let cli = std::env::var_os("WHARF_AWS_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv-tools/bin/aws"));
    assert!(
        cli.exists(),
        "{} not found: run `make tools`",
        cli.display()
    );
    cli
}

async fn run_hook(moto: &Moto, names: &ResourceNames) {
    let cli_dir = aws_cli().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        cli_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = tokio::process::Command::new("bash")
        .arg(workspace_root().join("localstack/init/ready.d/10-wharf.sh"))
        .env_clear()
        .env("PATH", path)
        .env("HOME", std::env::temp_dir())
        .envs(moto.aws_env())
        .envs(wharf_testkit::names_env(names))
        .env("WHARF_QUEUES", names.queues.join(","))
        .env("WHARF_RETENTION_DAYS", names.retention_days.to_string())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the hook failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The settings of the resources behind `names`, as AWS reports them.
async fn describe(aws: &SdkConfig, names: &ResourceNames) -> Value {
    let dynamo = aws_sdk_dynamodb::Client::new(aws);
    let mut tables = serde_json::Map::new();
    for (role, table) in [
        ("tasks", &names.tasks_table),
        ("workers", &names.workers_table),
        ("functions", &names.functions_table),
    ] {
        let description = dynamo
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap();
        let description = description.table.unwrap();
        let types: std::collections::HashMap<_, _> = description
            .attribute_definitions()
            .iter()
            .map(|d| {
                (
                    d.attribute_name().to_owned(),
                    d.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        let key_of = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<Value> {
            let named = |k: &aws_sdk_dynamodb::types::KeySchemaElement| {
                let name = k.attribute_name();
                json!([name, types[name], k.key_type().as_str()])
            };
            schema.iter().map(named).collect()
        };
        let key = key_of(description.key_schema());
        let mut indexes: Vec<Value> = description
            .global_secondary_indexes()
            .iter()
            .map(|i| {
                let key = key_of(i.key_schema());
                let projection = i.projection().and_then(|p| p.projection_type());
                json!([i.index_name(), key, projection.map(|p| p.as_str())])
            })
            .collect();
        let ttl = dynamo
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .unwrap();
        let ttl = ttl
            .time_to_live_description()
            .filter(|d| {
                d.time_to_live_status()
                    .is_some_and(|s| s.as_str() == "ENABLED")
            })
            .and_then(|d| d.attribute_name().map(str::to_owned));
        // DescribeTable lists indexes in no particular order.
        indexes.sort_by_key(Value::to_string);
        tables.insert(
            role.into(),
            json!({"key": key, "indexes": indexes, "ttl": ttl}),
        );
    }

    let sqs = aws_sdk_sqs::Client::new(aws);
    let queue = |name: String| {
        let sqs = sqs.clone();
        async move {
            let url = sqs
                .get_queue_url()
                .queue_name(&name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap_or_default();
            let get = |name: &str| {
                attributes
                    .iter()
                    .find(|(k, _)| k.as_str() == name)
                    .map(|(_, v)| v.clone())
            };
            let redrive: Option<Value> =
                get("RedrivePolicy").map(|r| serde_json::from_str(&r).unwrap());
            json!({
                "visibility": get("VisibilityTimeout").unwrap().parse::<u64>().unwrap(),
                "retention": get("MessageRetentionPeriod").unwrap().parse::<u64>().unwrap(),
                "maxReceiveCount": redrive.map(|r| number(&r["maxReceiveCount"])),
            })
        }
    };
    let mut queues = serde_json::Map::new();
    for name in names.provisioned_queues() {
        let main = format!("{}{name}", names.queue_prefix);
        queues.insert(
            name.to_owned(),
            json!({"queue": queue(main.clone()).await, "dlq": queue(format!("{main}-dlq")).await}),
        );
    }

    let s3 = s3_client(aws);
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&names.bucket)
        .send()
        .await
        .unwrap();
    let sse: Vec<String> = encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()
        .iter()
        .filter_map(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_owned())
        .collect();
    let block = s3
        .get_public_access_block()
        .bucket(&names.bucket)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&names.bucket)
        .send()
        .await
        .unwrap();
    let rules: Vec<Value> = lifecycle
        .rules()
        .iter()
        .map(|rule| {
            let prefix = rule.filter().and_then(|f| f.prefix()).unwrap_or_default();
            json!({
                "id": rule.id(),
                "enabled": rule.status().as_str() == "Enabled",
                "prefix": prefix,
                "expirationDays": rule.expiration().and_then(|e| e.days()),
                "abortMultipartDays": rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()),
            })
        })
        .collect();
    json!({
        "tables": tables,
        "queues": queues,
        "bucket": {
            "sse": sse,
            "publicAccessBlock": [
                block.block_public_acls(), block.ignore_public_acls(),
                block.block_public_policy(), block.restrict_public_buckets(),
            ],
            "lifecycle": rules,
        },
    })
}

/// The same settings, as `infra/template.yaml` declares them.
fn from_template() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("infra/template.yaml")).unwrap();
    let template: Yaml = serde_yaml::from_str(&text).unwrap();
    let parameters = &template["Parameters"];
    // `!Ref Parameter` is its default; anything else is taken as written.
    let resolve = |value: &Yaml| -> Yaml {
        match value {
            Yaml::Tagged(tagged) if tagged.tag == "!Ref" => {
                let name = tagged.value.as_str().unwrap();
                parameters[name]["Default"].clone()
            }
            other => other.clone(),
        }
    };
    let props = |logical: &str| template["Resources"][logical]["Properties"].clone();
    let as_json = |value: &Yaml| -> Value { serde_json::to_value(resolve(value)).unwrap() };

    let mut tables = serde_json::Map::new();
    for (role, logical) in [
        ("tasks", "TasksTable"),
        ("workers", "WorkersTable"),
        ("functions", "FunctionsTable"),
    ] {
        let table = props(logical);
        let types: std::collections::HashMap<String, String> = table["AttributeDefinitions"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["AttributeName"].as_str().unwrap().to_owned(),
                    d["AttributeType"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let key_of = |schema: &Yaml| -> Vec<Value> {
            let named = |k: &Yaml| {
                let name = k["AttributeName"].as_str().unwrap();
                json!([name, types[name], k["KeyType"].as_str().unwrap()])
            };
            schema.as_sequence().unwrap().iter().map(named).collect()
        };
        let key = key_of(&table["KeySchema"]);
        let mut indexes: Vec<Value> = table["GlobalSecondaryIndexes"]
            .as_sequence()
            .map(|indexes| {
                indexes
                    .iter()
                    .map(|i| {
                        let key = key_of(&i["KeySchema"]);
                        let projection = i["Projection"]["ProjectionType"].as_str();
                        json!([i["IndexName"].as_str(), key, projection])
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ttl = &table["TimeToLiveSpecification"];
        let ttl = (ttl["Enabled"].as_bool() == Some(true))
            .then(|| ttl["AttributeName"].as_str().unwrap().to_owned());
        // DescribeTable lists indexes in no particular order.
        indexes.sort_by_key(Value::to_string);
        tables.insert(
            role.into(),
            json!({"key": key, "indexes": indexes, "ttl": ttl}),
        );
    }

    let queue = |logical: &str| {
        let queue = props(logical);
        json!({
            "visibility": number(&as_json(&queue["VisibilityTimeout"])),
            "retention": number(&as_json(&queue["MessageRetentionPeriod"])),
            "maxReceiveCount": queue["RedrivePolicy"]
                .as_mapping()
                .map(|_| number(&as_json(&queue["RedrivePolicy"]["maxReceiveCount"]))),
        })
    };
    let bucket = props("ArtifactsBucket");
    let sse: Vec<String> = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| {
            r["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let block = &bucket["PublicAccessBlockConfiguration"];
    let rules: Vec<Value> = bucket["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|rule| {
            json!({
                "id": rule["Id"].as_str(),
                "enabled": rule["Status"].as_str() == Some("Enabled"),
                "prefix": rule["Prefix"].as_str().unwrap_or_default(),
                "expirationDays": number(&as_json(&rule["ExpirationInDays"])),
                "abortMultipartDays": number(&as_json(&rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])),
            })
        })
        .collect();
    json!({
        "tables": tables,
        "queues": {
            "default": {"queue": queue("DefaultQueue"), "dlq": queue("DefaultDeadLetterQueue")},
            "control": {"queue": queue("ControlQueue"), "dlq": queue("ControlDeadLetterQueue")},
        },
        "bucket": {
            "sse": sse,
            "publicAccessBlock": [
                block["BlockPublicAcls"].as_bool(), block["IgnorePublicAcls"].as_bool(),
                block["BlockPublicPolicy"].as_bool(), block["RestrictPublicBuckets"].as_bool(),
            ],
            "lifecycle": rules,
        },
    })
}

/// A number that may be written as a string (SQS attributes, redrive JSON).
fn number(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other}"),
    }
}
