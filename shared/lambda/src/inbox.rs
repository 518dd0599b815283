//! The stack's inbox: a file put into the documents bucket under `inbox/{tenant}/…` is a bank
//! statement of that tenant (CAMT.053 or MT940). S3 tells the inbox queue (an event
//! notification); the inbox worker reads the file, imports it (each transaction once, so a
//! redelivered notification or the same file put again records nothing twice) and writes what
//! it did to `inbox-reports/{tenant}/…json` (outside the inbox, so the report is not taken
//! for a statement).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use faktura_domain::audit::Cause;
use faktura_domain::error::ErrorKind;
use faktura_domain::ports::FileStore;
use faktura_domain::service::banking::Banking;
use faktura_domain::values::Id;
use serde::Deserialize;
use std::sync::Arc;

/// Where statements are put, and where the reports go.
pub const INBOX_PREFIX: &str = "inbox/";
pub const REPORT_PREFIX: &str = "inbox-reports/";

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventSource", default)]
    event_source: String,
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: BucketEntity,
    object: ObjectEntity,
}

#[derive(Deserialize)]
struct BucketEntity {
    name: String,
}

#[derive(Deserialize)]
struct ObjectEntity {
    key: String,
}

/// An object S3 says was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub bucket: String,
    pub key: String,
}

/// The objects an S3 event notification (an SQS message body) announces. S3's test event
/// (sent when the notification is set up) announces none. Keys arrive URL-encoded, spaces
/// as `+`.
pub fn created_objects(body: &str) -> Result<Vec<Created>, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not an S3 notification: {e}"))?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let n: Notification =
        serde_json::from_value(value).map_err(|e| format!("not an S3 notification: {e}"))?;
    n.records
        .into_iter()
        .filter(|r| r.event_source == "aws:s3" && r.event_name.starts_with("ObjectCreated:"))
        .map(|r| {
            let plus = r.s3.object.key.replace('+', " ");
            let key = percent_encoding::percent_decode_str(&plus)
                .decode_utf8()
                .map_err(|_| "an object key that is not UTF-8".to_string())?
                .into_owned();
            Ok(Created {
                bucket: r.s3.bucket.name,
                key,
            })
        })
        .collect()
}

/// The tenant an inbox key belongs to: `inbox/{tenant}/{file}`.
pub fn tenant_of(key: &str) -> Option<Id> {
    let rest = key.strip_prefix(INBOX_PREFIX)?;
    let (tenant, file) = rest.split_once('/')?;
    if file.is_empty() {
        return None;
    }
    tenant.parse().ok()
}

pub struct Inbox {
    pub files: Arc<dyn FileStore>,
    pub banking: Banking,
    /// The stack's bucket: objects of any other are not ours.
    pub bucket: String,
}

impl Inbox {
    /// Imports one file; `Err` only when it should be tried again (the store was not
    /// reachable). A file that is no statement gets a report saying why, and is done.
    pub async fn take(&self, object: &Created) -> Result<(), String> {
        if object.bucket != self.bucket || !object.key.starts_with(INBOX_PREFIX) {
            tracing::warn!(key = %object.key, "not an inbox object of this stack: ignored");
            return Ok(());
        }
        // S3 takes keys our file store refuses (`inbox/demo//x`, `..` segments): such a file
        // cannot be read through it, and retrying would not change that.
        if faktura_domain::ports::check_file_key(&object.key).is_err() {
            tracing::warn!("an inbox key the file store refuses: ignored");
            return Ok(());
        }
        let report_key = format!(
            "{REPORT_PREFIX}{}.json",
            object.key.strip_prefix(INBOX_PREFIX).unwrap_or(&object.key)
        );
        let Some(tenant) = tenant_of(&object.key) else {
            return self
                .report(
                    &report_key,
                    error_report("the key is not inbox/{tenant}/{file}"),
                )
                .await;
        };
        let bytes = match self.files.file(&object.key).await {
            Ok(Some(bytes)) => bytes,
            // Deleted meanwhile: nothing to import.
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("reading {}: {e}", object.key)),
        };
        let statements = match faktura_bank::parse(&bytes) {
            Ok(s) => s,
            Err(e) => return self.report(&report_key, error_report(&e.message)).await,
        };
        let cause = Cause::Inbox {
            key: object.key.clone(),
        };
        match self.banking.import(&tenant, &statements, &cause).await {
            Ok(summary) => {
                let dto = faktura_http::api::bank::import_dto(&summary);
                let report = serde_json::to_vec_pretty(&dto).unwrap_or_default();
                tracing::info!(
                    tenant = %tenant,
                    imported = dto.imported,
                    duplicates = dto.duplicates,
                    matched = dto.matched,
                    unmatched = dto.unmatched,
                    "statement imported"
                );
                self.report(&report_key, report).await
            }
            Err(e) if matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal) => {
                Err(format!("importing {}: {}", object.key, e.code))
            }
            Err(e) => self.report(&report_key, error_report(&e.message)).await,
        }
    }

    async fn report(&self, key: &str, body: Vec<u8>) -> Result<(), String> {
        if faktura_domain::ports::check_file_key(key).is_err() {
            // A key near S3's limit has no room for the report's prefix: the import stands.
            tracing::warn!("no report: its key would be too long");
            return Ok(());
        }
        let name = key.rsplit('/').next().unwrap_or("report.json").to_string();
        self.files
            .put_file(key, body, "application/json", &name)
            .await
            .map_err(|e| format!("writing {key}: {e}"))
    }

    /// One SQS batch of S3 notifications; failed messages are reported for a retry.
    pub async fn handle(&self, batch: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in batch.records {
            let message_id = record.message_id.unwrap_or_default();
            let objects = match record.body.as_deref().map(created_objects) {
                Some(Ok(objects)) => objects,
                Some(Err(reason)) => {
                    tracing::error!(%message_id, %reason, "unreadable message");
                    response.add_failure(message_id);
                    continue;
                }
                None => {
                    response.add_failure(message_id);
                    continue;
                }
            };
            for object in &objects {
                if let Err(reason) = self.take(object).await {
                    tracing::error!(%message_id, %reason, "failed; will be retried");
                    response.add_failure(message_id.clone());
                    break;
                }
            }
        }
        response
    }
}

fn error_report(message: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "error": { "code": "invalid_statement", "message": message }
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_name_their_objects() {
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-central-1",
            "eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"inbox/demo/Kontoauszug+Dez%C3%A4mber.xml","size":10}}}]}"#;
        assert_eq!(
            created_objects(body).unwrap(),
            vec![Created {
                bucket: "b".into(),
                key: "inbox/demo/Kontoauszug Dezämber.xml".into()
            }]
        );
        assert!(
            created_objects(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#)
                .unwrap()
                .is_empty()
        );
        assert!(created_objects("nope").is_err());
        assert_eq!(tenant_of("inbox/demo/a.xml"), Some("demo".parse().unwrap()));
        assert_eq!(tenant_of("inbox/demo/"), None);
        assert_eq!(tenant_of("inbox/a.xml"), None);
        assert_eq!(tenant_of("other/demo/a.xml"), None);
    }
}
