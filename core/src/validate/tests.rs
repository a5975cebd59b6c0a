use super::*;
use serde_json::json;

fn queues() -> Vec<String> {
    vec!["default".to_owned(), "high".to_owned()]
}

fn parse(body: Value) -> Result<ValidTask, Rejection> {
    parse_task_request(body.to_string().as_bytes(), &queues())
}

fn fields(body: Value) -> Vec<String> {
    match parse(body) {
        Err(Rejection::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn a_minimal_process_task_gets_defaults() {
    let task = parse(json!({"spec": {"process": {"command": ["true"]}}})).unwrap();
    assert_eq!(task.queue, "default");
    assert_eq!(task.timeout_seconds, 3600);
    assert_eq!(task.max_attempts, 3);
    assert_eq!(task.delay_seconds, 0);
    assert_eq!(task.payload_json, "{}");
}

#[test]
fn unknown_fields_are_named() {
    assert_eq!(
        fields(json!({"spec": {"process": {"command": ["true"], "cmd": 1}}})),
        ["spec.process.cmd"]
    );
    assert_eq!(
        fields(json!({"spec": {"process": {"command": ["true"]}}, "colour": "red"})),
        ["colour"]
    );
}

#[test]
fn command_must_be_a_non_empty_array_of_strings() {
    assert_eq!(
        fields(json!({"spec": {"process": {"command": []}}})),
        ["spec.process.command"]
    );
    assert_eq!(
        fields(json!({"spec": {"process": {"command": "echo hi"}}})),
        ["spec.process.command"]
    );
    assert_eq!(
        fields(json!({"spec": {"process": {"command": ["sh", 3]}}})),
        ["spec.process.command[1]"]
    );
}

#[test]
fn exactly_one_kind_of_spec() {
    assert_eq!(fields(json!({"spec": {}})), ["spec"]);
    assert_eq!(
        fields(json!({"spec": {
            "process": {"command": ["true"]},
            "container": {"image": "busybox"}
        }})),
        ["spec"]
    );
}

#[test]
fn ranges_are_enforced() {
    let spec = json!({"process": {"command": ["true"]}});
    assert_eq!(
        fields(json!({"spec": spec, "timeoutSeconds": 0})),
        ["timeoutSeconds"]
    );
    assert_eq!(
        fields(json!({"spec": spec, "timeoutSeconds": 43201})),
        ["timeoutSeconds"]
    );
    assert_eq!(
        fields(json!({"spec": spec, "maxAttempts": 11})),
        ["maxAttempts"]
    );
    assert_eq!(
        fields(json!({"spec": spec, "delaySeconds": 50000})),
        ["delaySeconds"]
    );
    assert_eq!(
        fields(json!({"spec": spec, "timeoutSeconds": -1})),
        ["timeoutSeconds"]
    );
}

#[test]
fn queue_must_be_configured() {
    let spec = json!({"process": {"command": ["true"]}});
    assert_eq!(fields(json!({"spec": spec, "queue": "gpu"})), ["queue"]);
    assert_eq!(
        parse(json!({"spec": spec, "queue": "high"})).unwrap().queue,
        "high"
    );
}

#[test]
fn payload_must_be_an_object_of_at_most_one_mebibyte() {
    let spec = json!({"process": {"command": ["true"]}});
    assert_eq!(
        fields(json!({"spec": spec, "payload": [1, 2]})),
        ["payload"]
    );
    let big = "x".repeat(MAX_PAYLOAD_BYTES);
    assert!(matches!(
        parse(json!({"spec": spec, "payload": {"big": big}})),
        Err(Rejection::TooLarge { .. })
    ));
}

#[test]
fn script_rules() {
    let script = |url: &str, name: &str| json!({"spec": {"script": {"url": url, "name": name}}});
    assert!(parse(script("https://example.com/jobs/run.py", "run.py")).is_ok());
    assert_eq!(
        fields(script("http://example.com/run.py", "run.py")),
        ["spec.script.url"]
    );
    assert_eq!(
        fields(script("https://example.com/run.py", "other.py")),
        ["spec.script.name"]
    );
    assert_eq!(
        fields(json!({"spec": {"script": {
            "url": "https://example.com/run.py", "name": "run.py", "sha256": "abc"
        }}})),
        ["spec.script.sha256"]
    );
}

#[test]
fn container_rules() {
    assert_eq!(
        fields(json!({"spec": {"container": {"image": "busybox", "network": "host"}}})),
        ["spec.container.network"]
    );
    assert_eq!(
        fields(json!({"spec": {"container": {"image": "busybox", "pidMode": "host"}}})),
        ["spec.container.pidMode"]
    );
    assert_eq!(
        fields(json!({"spec": {"container": {"image": "busybox", "pullPolicy": "Sometimes"}}})),
        ["spec.container.pullPolicy"]
    );
}

#[test]
fn mounts_are_absolute_without_dot_dot_and_keep_clear_of_wharf() {
    let mounts = |mounts: Value| {
        fields(json!({"spec": {"container": {"image": "busybox", "mounts": mounts}}}))
    };
    assert_eq!(
        mounts(json!([{"source": "/srv/data/../../etc", "target": "/data"}])),
        ["spec.container.mounts[0].source"]
    );
    assert_eq!(
        mounts(json!([{"source": "relative", "target": "/data"}])),
        ["spec.container.mounts[0].source"]
    );
    assert_eq!(
        mounts(json!([{"source": "/srv/data", "target": "/wharf/output"}])),
        ["spec.container.mounts[0].target"]
    );
    let fine = json!([{"source": "/srv/data", "target": "/data"}]);
    assert!(parse(json!({"spec": {"container": {"image": "busybox", "mounts": fine}}})).is_ok());
}

#[test]
fn resources_are_bounded() {
    let resources = |resources: Value| {
        fields(json!({"spec": {"container": {"image": "busybox", "resources": resources}}}))
    };
    for (bad, field) in [
        (json!({"memoryMb": 0}), "memoryMb"),
        (json!({"memoryMb": 17_592_186_044_416u64}), "memoryMb"),
        (json!({"cpus": 0}), "cpus"),
        (json!({"cpus": 4096}), "cpus"),
        (json!({"pids": 0}), "pids"),
        (json!({"pids": 10_000_000}), "pids"),
    ] {
        assert_eq!(
            resources(bad.clone()),
            [format!("spec.container.resources.{field}")],
            "{bad}"
        );
    }
    let most = json!({"memoryMb": 1_048_576, "cpus": 1024, "pids": 1_000_000});
    assert!(parse(json!({"spec": {"container": {"image": "busybox", "resources": most}}})).is_ok());
}

#[test]
fn reserved_environment_names_are_refused() {
    assert_eq!(
        fields(json!({"spec": {"process": {"command": ["true"], "env": {"WHARF_TASK_ID": "x"}}}})),
        ["spec.process.env.WHARF_TASK_ID"]
    );
}

#[test]
fn names_are_short_and_plain() {
    assert!(is_resource_name("fakejob"));
    assert!(is_resource_name("report-v2.1_x"));
    for not in ["", "a/b", "a b", "name#x", &"x".repeat(129)] {
        assert!(!is_resource_name(not), "{not}");
    }
}
