use serde_json::json;

use super::*;
use crate::model::ProcessSpec;

fn queues() -> Vec<String> {
    vec!["default".to_owned(), "high".to_owned()]
}

fn fakejob() -> Function {
    let definition: FunctionRequest = serde_json::from_value(json!({
        "spec": {"process": {"command": ["sh", "-c", "sleep 1"]}},
        "paramsSchema": {
            "type": "object",
            "properties": {"delay_seconds": {"type": "integer", "minimum": 1, "maximum": 60}},
            "required": ["delay_seconds"],
            "additionalProperties": false
        },
        "defaults": {"queue": "high", "timeoutSeconds": 120, "maxAttempts": 1, "labels": {"kind": "fake"}}
    }))
    .unwrap();
    Function::new("fakejob".to_owned(), definition, Utc::now())
}

fn fields(rejection: Rejection) -> Vec<String> {
    match rejection {
        Rejection::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_definition_needs_a_valid_schema_and_task() {
    let definition = |f: Function| FunctionRequest {
        description: f.description,
        spec: f.spec,
        params_schema: f.params_schema,
        defaults: f.defaults,
        secrets: f.secrets,
    };
    assert!(check_definition(&definition(fakejob()), &queues()).is_ok());
    let mut bad = definition(fakejob());
    bad.params_schema = Some(json!({"type": "no-such-type"}));
    bad.defaults.queue = Some("nope".to_owned());
    bad.defaults.max_attempts = Some(99);
    bad.spec = TaskSpec::Process(ProcessSpec::default());
    let fields = fields(check_definition(&bad, &queues()).unwrap_err());
    for expected in [
        "paramsSchema",
        "defaults.queue",
        "defaults.maxAttempts",
        "spec.process.command",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} in {fields:?}"
        );
    }
}

#[test]
fn params_must_pass_the_schema_and_errors_name_where() {
    let function = fakejob();
    let call = Invocation {
        params: Some(json!({"delay_seconds": 0, "extra": 1})),
        ..Invocation::default()
    };
    let rejection = resolve(&function, call, "params", &queues()).unwrap_err();
    let named = fields(rejection);
    assert!(
        named.contains(&"params.delay_seconds".to_owned()),
        "{named:?}"
    );
    assert!(named.contains(&"params".to_owned()), "{named:?}");
    let missing = resolve(&function, Invocation::default(), "payload", &queues()).unwrap_err();
    assert_eq!(fields(missing), ["payload"]);
}

#[test]
fn an_invocation_takes_the_functions_defaults_unless_it_says_otherwise() {
    let function = fakejob();
    let call = Invocation {
        params: Some(json!({"delay_seconds": 3})),
        ..Invocation::default()
    };
    let valid = resolve(&function, call, "params", &queues()).unwrap();
    assert_eq!(valid.queue, "high");
    assert_eq!(valid.timeout_seconds, 120);
    assert_eq!(valid.max_attempts, 1);
    assert_eq!(valid.request.labels["kind"], "fake");
    assert_eq!(valid.payload_json, r#"{"delay_seconds":3}"#);
    assert_eq!(valid.function.as_deref(), Some("fakejob"));

    let call = Invocation {
        name: Some("one-fake".to_owned()),
        queue: Some("default".to_owned()),
        max_attempts: Some(2),
        labels: [("kind".to_owned(), "mine".to_owned())].into(),
        params: Some(json!({"delay_seconds": 3})),
        ..Invocation::default()
    };
    let valid = resolve(&function, call, "params", &queues()).unwrap();
    assert_eq!(valid.queue, "default");
    assert_eq!(valid.max_attempts, 2);
    assert_eq!(valid.timeout_seconds, 120);
    assert_eq!(valid.request.labels["kind"], "mine");
    assert_eq!(valid.request.name.as_deref(), Some("one-fake"));
}
