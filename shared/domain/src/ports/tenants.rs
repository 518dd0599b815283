use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::Tenant;
use crate::values::Id;

/// A tenant with the credentials that authenticate it.
#[derive(Clone)]
pub struct TenantRecord {
    pub tenant: Tenant,
    /// Standard Webhooks secrets (`whsec_...`); several during a rotation.
    pub webhook_secrets: Vec<String>,
}

impl std::fmt::Debug for TenantRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs or panic messages.
        f.debug_struct("TenantRecord")
            .field("tenant", &self.tenant)
            .field(
                "webhook_secrets",
                &format!("<{} redacted>", self.webhook_secrets.len()),
            )
            .finish()
    }
}

/// The form in which API keys are kept and compared: their SHA-256, never the key itself.
pub fn api_key_hash(key: &str) -> String {
    super::sha256_hex(key.as_bytes())
}

/// The id an API key is known by in the audit trail: the first 12 hex digits of its hash
/// (`key_…`), which names the key without revealing it.
pub fn api_key_id(key: &str) -> String {
    let hash = api_key_hash(key);
    format!("key_{}", hash.get(..12).unwrap_or(&hash))
}

/// Whether `s` looks like an [`api_key_hash`].
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[async_trait]
pub trait TenantDirectory: Send + Sync {
    async fn tenant(&self, id: &Id) -> Result<Option<TenantRecord>, StoreError>;
    /// The tenant an API key belongs to. Keys are compared by their SHA-256, never stored plain.
    async fn tenant_for_api_key(&self, api_key: &str) -> Result<Option<Id>, StoreError>;
}
