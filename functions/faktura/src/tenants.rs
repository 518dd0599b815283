//! Tenants for local mode, from a TOML file (see `tenants.example.toml`) or the built-in demo.

use std::path::Path;

use faktura_domain::model::{Seller, Tenant, TenantSettings};
use faktura_domain::ports::TenantRecord;
use faktura_domain::values::Id;
use faktura_http::signature::WebhookSecret;
use serde::Deserialize;

/// The built-in tenants: `demo` (a GmbH charging VAT) and `kleinunternehmer` (§19 UStG).
pub const DEMO_TENANTS: &str = include_str!("../demo-tenants.toml");

pub const DEMO_TENANT: &str = "demo";
pub const DEMO_SECRET: &str = "whsec_ZmFrdHVyYS1kZW1vLXdlYmhvb2stc2VjcmV0LTAwMDE=";
pub const DEMO_API_KEY: &str = "demo-api-key";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    tenant: Vec<TenantEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantEntry {
    id: Id,
    webhook_secrets: Vec<String>,
    api_keys: Vec<String>,
    seller: Seller,
    settings: TenantSettings,
}

/// A tenant with its plain API keys (hashed by the directory that holds them).
pub struct LocalTenant {
    pub record: TenantRecord,
    pub api_keys: Vec<String>,
}

impl std::fmt::Debug for LocalTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTenant")
            .field("record", &self.record)
            .field("api_keys", &format!("<{} redacted>", self.api_keys.len()))
            .finish()
    }
}

pub fn parse(text: &str, origin: &str) -> Result<Vec<LocalTenant>, String> {
    let file: TenantsFile = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    let mut out = Vec::new();
    for entry in file.tenant {
        if entry.webhook_secrets.is_empty() {
            return Err(format!(
                "{origin}: tenant '{}' has no webhook secret",
                entry.id
            ));
        }
        for secret in &entry.webhook_secrets {
            secret
                .parse::<WebhookSecret>()
                .map_err(|e| format!("{origin}: tenant '{}': {e}", entry.id))?;
        }
        if out
            .iter()
            .any(|t: &LocalTenant| t.record.tenant.id == entry.id)
        {
            return Err(format!("{origin}: tenant '{}' appears twice", entry.id));
        }
        out.push(LocalTenant {
            record: TenantRecord {
                tenant: Tenant {
                    id: entry.id,
                    seller: entry.seller,
                    settings: entry.settings,
                },
                webhook_secrets: entry.webhook_secrets,
            },
            api_keys: entry.api_keys,
        });
    }
    if out.is_empty() {
        return Err(format!("{origin}: no [[tenant]] entries"));
    }
    Ok(out)
}

pub fn load(path: &Path) -> Result<Vec<LocalTenant>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read tenants file {}: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

pub fn demo() -> Vec<LocalTenant> {
    parse(DEMO_TENANTS, "demo-tenants.toml").expect("the built-in demo tenants are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_and_example_files_parse() {
        let demo = demo();
        assert_eq!(demo[0].record.tenant.id.as_str(), DEMO_TENANT);
        assert_eq!(
            demo[0].record.webhook_secrets,
            vec![DEMO_SECRET.to_string()]
        );
        assert_eq!(demo[0].api_keys, vec![DEMO_API_KEY.to_string()]);
        assert!(demo.iter().any(|t| t.record.tenant.settings.small_business));
        parse(include_str!("../tenants.example.toml"), "example").unwrap();
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let broken = DEMO_TENANTS.replacen(DEMO_SECRET, "whsec_c2hvcnQ=", 1);
        assert!(parse(&broken, "x").unwrap_err().contains("24 bytes"));
        let typo = DEMO_TENANTS.replacen("small_business", "smal_business", 1);
        assert!(parse(&typo, "x").is_err());
    }
}
