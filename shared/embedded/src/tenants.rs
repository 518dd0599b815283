//! A fixed tenant directory, configured at startup.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use faktura_domain::StoreError;
use faktura_domain::ports::{TenantDirectory, TenantRecord};
use faktura_domain::values::Id;

pub use faktura_domain::ports::api_key_hash;
use faktura_domain::ports::is_sha256_hex;

#[derive(Default)]
struct Inner {
    tenants: HashMap<Id, TenantRecord>,
    /// Key hash → tenant; `None` for a hash configured for more than one tenant.
    keys: HashMap<String, Option<Id>>,
}

/// A [`TenantDirectory`] over a list fixed at construction. Clones share the list.
#[derive(Clone, Default)]
pub struct StaticTenants {
    inner: Arc<Inner>,
}

/// Shows tenant ids and key counts only: records hold webhook secrets.
impl std::fmt::Debug for StaticTenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&str> = self.inner.tenants.keys().map(Id::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("StaticTenants")
            .field("tenants", &ids)
            .field("api_keys", &self.inner.keys.len())
            .finish()
    }
}

impl StaticTenants {
    /// Tenants with their plain API keys; only the keys' SHA-256 hashes are kept.
    pub fn new(entries: Vec<(TenantRecord, Vec<String>)>) -> StaticTenants {
        Self::from_key_hashes(
            entries
                .into_iter()
                .map(|(record, keys)| {
                    let hashes = keys.iter().map(|k| api_key_hash(k)).collect();
                    (record, hashes)
                })
                .collect(),
        )
    }

    /// Tenants with the SHA-256 hashes (hex) of their API keys, for configuration files that
    /// should not hold plain keys. Hashes that are not 64 hex digits are ignored (and logged).
    ///
    /// A key configured for two tenants authenticates neither (and is logged); a tenant id
    /// given twice keeps the last record.
    pub fn from_key_hashes(entries: Vec<(TenantRecord, Vec<String>)>) -> StaticTenants {
        let mut inner = Inner::default();
        for (record, hashes) in entries {
            let id = record.tenant.id.clone();
            for hash in hashes {
                if !is_sha256_hex(&hash) {
                    tracing::warn!(tenant_id = %id, "ignoring an API key hash that is not 64 hex digits");
                    continue;
                }
                let hash = hash.to_ascii_lowercase();
                match inner.keys.get(&hash) {
                    Some(Some(owner)) if *owner != id => {
                        tracing::warn!(tenant_id = %id, other_tenant_id = %owner, "an API key is configured for two tenants; it authenticates neither");
                        inner.keys.insert(hash, None);
                    }
                    Some(_) => {}
                    None => {
                        inner.keys.insert(hash, Some(id.clone()));
                    }
                }
            }
            if inner.tenants.insert(id.clone(), record).is_some() {
                tracing::warn!(tenant_id = %id, "tenant configured twice; the last entry wins");
            }
        }
        StaticTenants {
            inner: Arc::new(inner),
        }
    }

    /// All tenants, in no particular order.
    pub fn tenants(&self) -> impl Iterator<Item = &TenantRecord> {
        self.inner.tenants.values()
    }
}

#[async_trait]
impl TenantDirectory for StaticTenants {
    async fn tenant(&self, id: &Id) -> Result<Option<TenantRecord>, StoreError> {
        Ok(self.inner.tenants.get(id).cloned())
    }

    async fn tenant_for_api_key(&self, api_key: &str) -> Result<Option<Id>, StoreError> {
        if api_key.is_empty() {
            return Ok(None);
        }
        // Looking up by hash leaks nothing useful through timing: the hash is not invertible.
        let hash = api_key_hash(api_key);
        Ok(self.inner.keys.get(&hash).cloned().flatten())
    }
}
