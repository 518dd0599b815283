//! Tenant configuration files (TOML, see `functions/faktura/tenants.example.toml`): read by the
//! local runner and by `faktura-admin`, which stores them in the deployed stack's table.

use std::path::Path;

use crate::signature::WebhookSecret;
use faktura_domain::model::{Seller, Tenant, TenantSettings};
use faktura_domain::ports::TenantRecord;
use faktura_domain::values::Id;
use serde::Deserialize;

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
pub struct TenantConfig {
    pub record: TenantRecord,
    pub api_keys: Vec<String>,
}

impl std::fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConfig")
            .field("record", &self.record)
            .field("api_keys", &format!("<{} redacted>", self.api_keys.len()))
            .finish()
    }
}

pub fn parse(text: &str, origin: &str) -> Result<Vec<TenantConfig>, String> {
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
        if let Err((field, why)) = entry.settings.dunning.check() {
            return Err(format!(
                "{origin}: tenant '{}': settings.dunning.{field}: {why}",
                entry.id
            ));
        }
        if let Some(bank) = &entry.seller.bank
            && faktura_domain::payment_codes::electronic_iban(&bank.iban).is_none()
        {
            return Err(format!(
                "{origin}: tenant '{}': seller.bank.iban: '{}' is not a valid IBAN",
                entry.id, bank.iban
            ));
        }
        if out
            .iter()
            .any(|t: &TenantConfig| t.record.tenant.id == entry.id)
        {
            return Err(format!("{origin}: tenant '{}' appears twice", entry.id));
        }
        out.push(TenantConfig {
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

pub fn load(path: &Path) -> Result<Vec<TenantConfig>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read tenants file {}: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}
