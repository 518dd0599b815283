//! Least privilege, checked against what the functions really do: every AWS call a function
//! made during an end-to-end test (moto logs each call with the access key that signed it;
//! each function signs with a key named after its binary) must be allowed by that function's
//! policy in `infra/template.yaml`. A call the policy lacks would be an `AccessDenied` in AWS
//! that moto (which does not enforce IAM) would never show.
//!
//! Actions and resources are compared symbolically: `table`, `index/GSI1`, `objects` (the
//! bucket's keys), `bucket`, `bus`, `ses`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use crate::lambda::repo_root;
use crate::stack::TestStack;

/// An IAM action on a symbolic resource.
pub type Permission = (String, String);

/// The template as JSON, read with cfn-lint's own YAML loader (it knows the `!Ref` tags).
pub fn template_json() -> Value {
    let python = repo_root().join(".venv/bin/python");
    let output = Command::new(&python)
        .arg("-c")
        .arg(
            "import json, sys\n\
             from cfnlint.decode import decode\n\
             t, errors = decode(sys.argv[1])\n\
             assert not errors, errors\n\
             print(json.dumps(t, default=str))",
        )
        .arg(repo_root().join("infra/template.yaml"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/install-test-tools)", python.display()));
    assert!(
        output.status.success(),
        "reading the template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("template JSON")
}

fn symbol(resource: &Value) -> Vec<String> {
    match resource {
        Value::Array(list) => list.iter().flat_map(symbol).collect(),
        Value::Object(o) => {
            if let Some(att) = o.get("Fn::GetAtt").and_then(Value::as_array) {
                let id = att.first().and_then(Value::as_str).unwrap_or_default();
                return vec![
                    match id {
                        "Table" => "table",
                        "DocumentsBucket" => "bucket",
                        "EventBus" => "bus",
                        other => other,
                    }
                    .to_string(),
                ];
            }
            if let Some(sub) = o.get("Fn::Sub").and_then(Value::as_str) {
                if let Some(index) = sub.strip_prefix("${Table.Arn}/index/") {
                    return vec![format!("index/{index}")];
                }
                if sub == "${DocumentsBucket.Arn}/*" {
                    return vec!["objects".into()];
                }
                // Keys under a prefix only: `objects/inbox/`.
                if let Some(prefix) = sub
                    .strip_prefix("${DocumentsBucket.Arn}/")
                    .and_then(|p| p.strip_suffix('*'))
                {
                    return vec![format!("objects/{prefix}")];
                }
                if sub.contains(":ses:") {
                    return vec!["ses".into()];
                }
                return vec![sub.to_string()];
            }
            vec![resource.to_string()]
        }
        other => vec![other.to_string()],
    }
}

/// What the template allows the function built from `binary`.
pub fn allowed(template: &Value, binary: &str) -> BTreeSet<Permission> {
    let function = template["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"] == binary)
        .unwrap_or_else(|| panic!("no function builds {binary}"));
    let mut out = BTreeSet::new();
    for policy in function["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            if statement["Effect"] != "Allow" {
                continue;
            }
            let actions: Vec<String> = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(l) => l
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            for resource in symbol(&statement["Resource"]) {
                for action in &actions {
                    out.insert((action.clone(), resource.clone()));
                }
            }
        }
    }
    out
}

fn dynamodb_action(op: &str) -> String {
    match op {
        "Put" => "dynamodb:PutItem".into(),
        "Update" => "dynamodb:UpdateItem".into(),
        "Delete" => "dynamodb:DeleteItem".into(),
        "ConditionCheck" => "dynamodb:ConditionCheckItem".into(),
        other => format!("dynamodb:{other}"),
    }
}

/// The permissions the calls signed with `key` against `stack`'s resources needed.
pub fn needed(calls: &[Value], key: &str, stack: &TestStack) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for call in calls.iter().filter(|c| c["key"] == key) {
        let target = s(&call["target"]);
        let path = s(&call["path"]);
        if let Some(op) = target.strip_prefix("DynamoDB_20120810.") {
            if op == "TransactWriteItems" {
                for item in call["ops"].as_array().into_iter().flatten() {
                    if item[1] == stack.table.as_str() {
                        out.insert((dynamodb_action(&s(&item[0])), "table".into()));
                    }
                }
            } else if call["table"] == stack.table.as_str() {
                let index = s(&call["index"]);
                let resource = if index.is_empty() {
                    "table".to_string()
                } else {
                    format!("index/{index}")
                };
                out.insert((format!("dynamodb:{op}"), resource));
            }
        } else if let Some(op) = target.strip_prefix("AWSEvents.") {
            out.insert((format!("events:{op}"), "bus".into()));
        } else if path.starts_with("/v2/email/outbound-emails") {
            out.insert(("ses:SendEmail".into(), "ses".into()));
        } else if let Some(rest) = path.strip_prefix(&format!("/{}", stack.bucket)) {
            let method = s(&call["method"]);
            let object = rest.len() > 1;
            let action = match (method.as_str(), object) {
                ("GET" | "HEAD", true) => "s3:GetObject",
                ("PUT", true) => "s3:PutObject",
                ("DELETE", true) => "s3:DeleteObject",
                ("GET", false) => "s3:ListBucket",
                _ => "s3:Unknown",
            };
            // Objects by key (`objects/<key>`), so policies scoped to a prefix are checked.
            out.insert((
                action.to_string(),
                if object {
                    format!("objects/{}", rest.trim_start_matches('/'))
                } else {
                    "bucket".to_string()
                },
            ));
        }
    }
    out
}

/// Whether `allowed` permits `needed`: the same action on the same resource, or on objects
/// whose key the allowed prefix (`objects` = any key) covers.
fn covers(allowed: &Permission, needed: &Permission) -> bool {
    if allowed.0 != needed.0 {
        return false;
    }
    match (
        allowed.1.strip_prefix("objects"),
        needed.1.strip_prefix("objects/"),
    ) {
        (Some(""), Some(_)) => true,
        (Some(prefix), Some(key)) => prefix.strip_prefix('/').is_some_and(|p| key.starts_with(p)),
        _ => allowed.1 == needed.1,
    }
}

/// Every call each of `binaries` made against `stack` is allowed by its policy. Returns, per
/// function, what the policy allows that this test did not use (for the notes).
pub fn assert_calls_allowed(
    calls: &[Value],
    stack: &TestStack,
    binaries: &[&str],
) -> BTreeMap<String, BTreeSet<Permission>> {
    let template = template_json();
    let mut unused = BTreeMap::new();
    for binary in binaries {
        let allowed = allowed(&template, binary);
        let needed = needed(calls, binary, stack);
        let missing: Vec<&Permission> = needed
            .iter()
            .filter(|n| !allowed.iter().any(|a| covers(a, n)))
            .collect();
        assert!(
            missing.is_empty(),
            "{binary} made calls its IAM policy does not allow: {missing:?} (allowed: {allowed:?})"
        );
        unused.insert(
            binary.to_string(),
            allowed
                .iter()
                .filter(|a| !needed.iter().any(|n| covers(a, n)))
                .cloned()
                .collect(),
        );
    }
    unused
}
