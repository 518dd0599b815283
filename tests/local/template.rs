//! `infra/template.yaml` against the definitions the code and the end-to-end tests use: the
//! table equals `faktura_aws::schema::TABLE`, the rules, queues and workers follow
//! `faktura_aws::stack::ROUTES`, every function is a workspace binary built by cargo-lambda
//! for arm64 and gets the environment `faktura_lambda::config` reads. (cfn-lint and
//! `sam validate --lint` run in `scripts/lint-infra`.)

use std::collections::BTreeSet;

use faktura_aws::schema::{Projection, TABLE};
use faktura_aws::stack::{
    API_FUNCTION, MAX_RECEIVES, ROUTES, SCHEDULER_FUNCTION, WEBHOOK_FUNCTION,
};
use faktura_tests::lambda::repo_root;
use serde_json::{Value, json};

fn template() -> Value {
    faktura_tests::iam::template_json()
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    t["Resources"]
        .get(id)
        .unwrap_or_else(|| panic!("the template has no resource {id}"))
}

fn get_att(id: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [id, attribute]})
}

fn functions(t: &Value) -> Vec<(&String, &Value)> {
    t["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect()
}

fn function_with_binary<'a>(t: &'a Value, binary: &str) -> &'a Value {
    functions(t)
        .into_iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == binary)
        .unwrap_or_else(|| panic!("no function builds {binary}"))
        .1
}

#[test]
fn the_table_is_the_one_the_adapter_uses() {
    let t = template();
    let table = resource(&t, "Table");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(table["DeletionPolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["KeySchema"],
        json!([
            {"AttributeName": TABLE.partition_key, "KeyType": "HASH"},
            {"AttributeName": TABLE.sort_key, "KeyType": "RANGE"},
        ])
    );
    let declared: BTreeSet<(String, String)> = p["AttributeDefinitions"]
        .as_array()
        .expect("attribute definitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().to_string(),
                a["AttributeType"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = TABLE
        .key_attributes()
        .into_iter()
        .map(|a| (a.to_string(), "S".to_string()))
        .collect();
    assert_eq!(
        declared, expected,
        "exactly the key attributes, all strings"
    );
    let indexes = p["GlobalSecondaryIndexes"].as_array().expect("GSIs");
    assert_eq!(indexes.len(), TABLE.indexes.len());
    for index in TABLE.indexes {
        let declared = indexes
            .iter()
            .find(|i| i["IndexName"] == index.name)
            .unwrap_or_else(|| panic!("index {} is declared", index.name));
        assert_eq!(
            declared["KeySchema"],
            json!([
                {"AttributeName": index.partition_key, "KeyType": "HASH"},
                {"AttributeName": index.sort_key, "KeyType": "RANGE"},
            ]),
            "{}",
            index.name
        );
        let projection = match index.projection {
            Projection::All => "ALL",
            Projection::KeysOnly => "KEYS_ONLY",
        };
        assert_eq!(declared["Projection"]["ProjectionType"], projection);
    }
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": TABLE.ttl_attribute, "Enabled": true})
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["DeletionProtectionEnabled"], true);
}

#[test]
fn rules_queues_and_workers_follow_the_routes() {
    let t = template();
    for route in ROUTES {
        let name = route.name;
        let rule = resource(&t, &format!("{name}Rule"));
        assert_eq!(
            rule["Properties"]["EventPattern"],
            route.event_pattern(),
            "{name}"
        );
        assert_eq!(
            rule["Properties"]["EventBusName"],
            json!({"Ref": "EventBus"})
        );
        let targets = rule["Properties"]["Targets"].as_array().expect("targets");
        assert_eq!(targets.len(), 1, "{name}Rule has one target");
        assert_eq!(targets[0]["Arn"], get_att(&format!("{name}Queue"), "Arn"));

        let queue = &resource(&t, &format!("{name}Queue"))["Properties"];
        assert_eq!(
            queue["RedrivePolicy"]["deadLetterTargetArn"],
            get_att(&format!("{name}DeadLetterQueue"), "Arn")
        );
        assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"], MAX_RECEIVES);

        let worker = function_with_binary(&t, route.worker);
        let timeout = worker["Properties"]["Timeout"]
            .as_u64()
            .or_else(|| t["Globals"]["Function"]["Timeout"].as_u64())
            .expect("timeout");
        // AWS's advice: at least six times the function timeout, so a slow message is not
        // handed to a second worker while the first still works on it.
        assert!(
            queue["VisibilityTimeout"]
                .as_u64()
                .expect("visibility timeout")
                >= 6 * timeout,
            "{name}Queue visibility timeout"
        );
        let events: Vec<&Value> = worker["Properties"]["Events"]
            .as_object()
            .expect("events")
            .values()
            .collect();
        assert_eq!(events.len(), 1, "{} has one trigger", route.worker);
        assert_eq!(events[0]["Type"], "SQS");
        assert_eq!(
            events[0]["Properties"]["Queue"],
            get_att(&format!("{name}Queue"), "Arn")
        );
        assert_eq!(
            events[0]["Properties"]["FunctionResponseTypes"],
            json!(["ReportBatchItemFailures"]),
            "partial batch failures"
        );
    }
}

/// The inbox: the bucket notifies the inbox queue (with its dead-letter queue) of objects
/// under `inbox/`, S3 may send to it, and the inbox worker reads it, with the rights it needs
/// on the inbox and the reports only.
#[test]
fn the_bucket_notifies_the_inbox_worker() {
    use faktura_aws::stack::{INBOX_FUNCTION, INBOX_PREFIX, INBOX_QUEUE};
    let t = template();
    let bucket = resource(&t, "DocumentsBucket");
    let queue_id = format!("{INBOX_QUEUE}Queue");
    let notifications = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
        .as_array()
        .expect("queue notifications");
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0]["Queue"], get_att(&queue_id, "Arn"));
    assert_eq!(notifications[0]["Event"], "s3:ObjectCreated:*");
    assert_eq!(
        notifications[0]["Filter"]["S3Key"]["Rules"],
        json!([{ "Name": "prefix", "Value": INBOX_PREFIX }])
    );
    assert_eq!(bucket["DependsOn"], format!("{INBOX_QUEUE}QueuePolicy"));
    let queue = &resource(&t, &queue_id)["Properties"];
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        get_att(&format!("{INBOX_QUEUE}DeadLetterQueue"), "Arn")
    );
    let policy = &resource(&t, &format!("{INBOX_QUEUE}QueuePolicy"))["Properties"];
    let statement = &policy["PolicyDocument"]["Statement"][0];
    assert_eq!(statement["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(statement["Action"], "sqs:SendMessage");
    let worker = function_with_binary(&t, INBOX_FUNCTION);
    let timeout = worker["Properties"]["Timeout"].as_u64().expect("timeout");
    assert!(queue["VisibilityTimeout"].as_u64().expect("visibility") >= 6 * timeout);
    let events: Vec<&Value> = worker["Properties"]["Events"]
        .as_object()
        .expect("events")
        .values()
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Type"], "SQS");
    assert_eq!(events[0]["Properties"]["Queue"], get_att(&queue_id, "Arn"));
    assert_eq!(
        events[0]["Properties"]["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
}

#[test]
fn every_function_is_a_workspace_binary_built_for_arm64() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    let mut binaries = BTreeSet::new();
    for (id, f) in functions(&t) {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        assert_eq!(
            f["Properties"]["CodeUri"], "..",
            "{id}: one workspace, one target dir"
        );
        let runtime = f["Properties"]
            .get("Runtime")
            .unwrap_or(&globals["Runtime"]);
        assert_eq!(runtime, "provided.al2023", "{id}");
        let arch = f["Properties"]
            .get("Architectures")
            .unwrap_or(&globals["Architectures"]);
        assert_eq!(arch, &json!(["arm64"]), "{id}");
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("binary")
            .to_string();
        let manifest = repo_root()
            .join("functions")
            .join(binary.trim_start_matches("faktura-"))
            .join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|_| panic!("{id} builds {binary}: {} exists", manifest.display()));
        assert!(
            text.contains(&format!("name = \"{binary}\"")),
            "{id}: {binary}"
        );
        binaries.insert(binary);
    }
    let mut expected: BTreeSet<String> = [WEBHOOK_FUNCTION, API_FUNCTION, SCHEDULER_FUNCTION]
        .into_iter()
        .map(str::to_string)
        .collect();
    expected.extend(ROUTES.iter().map(|r| r.worker.to_string()));
    expected.insert(faktura_aws::stack::INBOX_FUNCTION.to_string());
    assert_eq!(binaries, expected);

    let env = &globals["Environment"]["Variables"];
    for var in faktura_lambda::config::REQUIRED_VARS {
        assert!(env.get(var).is_some(), "Globals set {var}");
    }
    assert_eq!(
        env[faktura_lambda::config::TABLE_VAR],
        json!({"Ref": "Table"})
    );

    let webhook = function_with_binary(&t, WEBHOOK_FUNCTION);
    let route = webhook["Properties"]["Events"]
        .as_object()
        .expect("events")
        .values()
        .next()
        .expect("an HTTP event");
    assert_eq!(route["Type"], "HttpApi");
    assert_eq!(route["Properties"]["Method"], "POST");
    assert_eq!(
        route["Properties"]["Path"],
        "/v1/webhooks/{tenant_id}/bookings"
    );
}

#[test]
fn no_secret_is_a_template_parameter_and_the_bucket_is_closed() {
    let t = template();
    for (name, p) in t["Parameters"].as_object().expect("parameters") {
        let lower = name.to_ascii_lowercase();
        assert!(
            !["secret", "password", "apikey", "token"]
                .iter()
                .any(|s| lower.contains(s)),
            "parameter {name}: tenant secrets live in the table (faktura-admin), not in parameters"
        );
        assert!(p.get("NoEcho").is_none(), "{name}");
    }
    let bucket = &resource(&t, "DocumentsBucket")["Properties"];
    assert_eq!(
        bucket["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true})
    );
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    let policy = resource(&t, "DocumentsBucketPolicy").to_string();
    assert!(policy.contains("aws:SecureTransport"), "TLS-only policy");
}

fn statements(function: &Value) -> Vec<&Value> {
    function["Properties"]["Policies"]
        .as_array()
        .expect("inline policies")
        .iter()
        .flat_map(|p| p["Statement"].as_array().expect("statements").iter())
        .collect()
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        other => panic!("unexpected Action {other}"),
    }
}

#[test]
fn permissions_are_narrow_and_complete() {
    let t = template();
    for (id, f) in functions(&t) {
        let all: Vec<(String, String)> = statements(f)
            .into_iter()
            .flat_map(|s| {
                let resource = s["Resource"].to_string();
                actions(s).into_iter().map(move |a| (a, resource.clone()))
            })
            .collect();
        for (action, resource) in &all {
            assert!(!action.contains('*'), "{id}: wildcard action {action}");
            assert!(
                !resource.contains("index/*"),
                "{id}: name the index it queries, not index/*"
            );
        }
        // S3 answers a missing object with 403 unless the caller may list the bucket; the
        // adapter needs the 404 to tell "not written yet" from an outage.
        if all.iter().any(|(a, _)| a == "s3:GetObject") {
            assert!(
                all.iter().any(|(a, r)| a == "s3:ListBucket"
                    && r == &get_att("DocumentsBucket", "Arn").to_string()),
                "{id} reads documents, so it needs s3:ListBucket on the bucket"
            );
        }
    }
}

#[test]
fn release_builds_unwind_so_a_panic_becomes_a_json_500() {
    // cargo-lambda builds with panic = "abort" unless the profile says otherwise; then a
    // panic in a request would kill the function instead of reaching faktura_http::guard.
    let manifest: toml::Value = std::fs::read_to_string(repo_root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        manifest["profile"]["release"]["panic"].as_str(),
        Some("unwind"),
        "[profile.release] panic must be \"unwind\""
    );
}
