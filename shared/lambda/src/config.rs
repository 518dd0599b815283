//! The functions' configuration: environment variables set by `infra/template.yaml` (and by
//! the end-to-end test for moto). Missing or malformed values stop the function at start with
//! a message naming the variable.

use faktura_aws::{S3Settings, ServerSideEncryption};

/// The stack's DynamoDB table.
pub const TABLE_VAR: &str = "FAKTURA_TABLE";
/// The documents bucket.
pub const BUCKET_VAR: &str = "FAKTURA_BUCKET";
/// The custom EventBridge bus (name or ARN).
pub const EVENT_BUS_VAR: &str = "FAKTURA_EVENT_BUS";
/// Optional: the SES configuration set for sent mail (bounce/complaint tracking).
pub const SES_CONFIGURATION_SET_VAR: &str = "FAKTURA_SES_CONFIGURATION_SET";
/// Optional: a KMS key for SSE-KMS; SSE-S3 (AES256) when unset.
pub const KMS_KEY_VAR: &str = "FAKTURA_KMS_KEY_ID";
/// Optional, `true` for local endpoints (moto): path-style S3 addressing.
pub const S3_PATH_STYLE_VAR: &str = "FAKTURA_S3_PATH_STYLE";
/// Optional (scheduler): at most this many due jobs per shard of the due index per run.
pub const DUE_LIMIT_VAR: &str = "FAKTURA_DUE_LIMIT";

/// Optional (workers): the first retry delay of a failed job in seconds (doubling per
/// attempt, at most an hour); 30 when unset.
pub const RETRY_BASE_VAR: &str = "FAKTURA_RETRY_BASE_SECONDS";

/// Every variable a function may read (the template test checks the template sets the
/// required ones).
pub const REQUIRED_VARS: [&str; 3] = [TABLE_VAR, BUCKET_VAR, EVENT_BUS_VAR];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackConfig {
    pub table: String,
    pub bucket: String,
    pub event_bus: String,
    pub configuration_set: Option<String>,
    pub kms_key_id: Option<String>,
    pub s3_path_style: bool,
    pub due_limit: usize,
    pub retry_base_seconds: u64,
}

impl StackConfig {
    /// The first retry delay of a failed job.
    pub fn retry_base(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(i64::try_from(self.retry_base_seconds).unwrap_or(30))
    }

    pub fn from_env() -> Result<StackConfig, String> {
        StackConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<StackConfig, String> {
        let optional = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &str| {
            optional(name).ok_or_else(|| format!("environment variable {name} is not set"))
        };
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match optional(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{name} must be a whole number, not {v:?}")),
            }
        };
        let s3_path_style = match optional(S3_PATH_STYLE_VAR).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(format!(
                    "{S3_PATH_STYLE_VAR} must be true or false, not {other:?}"
                ));
            }
        };
        let due_limit = number(DUE_LIMIT_VAR, 500)?;
        if due_limit == 0 || due_limit > 10_000 {
            return Err(format!("{DUE_LIMIT_VAR} must be 1..=10000"));
        }
        let retry_base_seconds = number(RETRY_BASE_VAR, 30)?;
        if retry_base_seconds == 0 || retry_base_seconds > 3600 {
            return Err(format!("{RETRY_BASE_VAR} must be 1..=3600"));
        }
        Ok(StackConfig {
            table: required(TABLE_VAR)?,
            bucket: required(BUCKET_VAR)?,
            event_bus: required(EVENT_BUS_VAR)?,
            configuration_set: optional(SES_CONFIGURATION_SET_VAR),
            kms_key_id: optional(KMS_KEY_VAR),
            s3_path_style,
            due_limit: due_limit as usize,
            retry_base_seconds,
        })
    }

    pub fn s3_settings(&self) -> S3Settings {
        let mut settings = S3Settings::new(&self.bucket);
        settings.force_path_style = self.s3_path_style;
        if let Some(key) = &self.kms_key_id {
            settings.encryption = ServerSideEncryption::Kms {
                key_id: Some(key.clone()),
            };
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<StackConfig, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StackConfig::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        (TABLE_VAR, "faktura"),
        (BUCKET_VAR, "docs"),
        (EVENT_BUS_VAR, "bus"),
    ];

    #[test]
    fn defaults_and_overrides() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.due_limit, 500);
        assert_eq!(c.retry_base_seconds, 30);
        assert!(!c.s3_path_style);
        assert_eq!(c.s3_settings().encryption, ServerSideEncryption::Aes256);
        let mut vars = BASE.to_vec();
        vars.extend([
            (S3_PATH_STYLE_VAR, "true"),
            (KMS_KEY_VAR, "alias/faktura"),
            (DUE_LIMIT_VAR, "60"),
            (RETRY_BASE_VAR, "2"),
            (SES_CONFIGURATION_SET_VAR, "faktura"),
        ]);
        let c = config(&vars).unwrap();
        assert!(c.s3_settings().force_path_style);
        assert_eq!(c.due_limit, 60);
        assert_eq!(c.retry_base_seconds, 2);
        assert_eq!(c.configuration_set.as_deref(), Some("faktura"));
        assert!(matches!(
            c.s3_settings().encryption,
            ServerSideEncryption::Kms { key_id: Some(_) }
        ));
    }

    #[test]
    fn missing_or_bad_values_name_the_variable() {
        let err = config(BASE.get(..2).unwrap()).unwrap_err();
        assert!(err.contains(EVENT_BUS_VAR), "{err}");
        let mut vars = BASE.to_vec();
        vars.push((DUE_LIMIT_VAR, "lots"));
        assert!(config(&vars).unwrap_err().contains(DUE_LIMIT_VAR));
        let mut vars = BASE.to_vec();
        vars.push((RETRY_BASE_VAR, "0"));
        assert!(config(&vars).unwrap_err().contains(RETRY_BASE_VAR));
        let mut vars = BASE.to_vec();
        vars.push((S3_PATH_STYLE_VAR, "yes"));
        assert!(config(&vars).unwrap_err().contains(S3_PATH_STYLE_VAR));
    }
}
