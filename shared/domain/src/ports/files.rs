use async_trait::async_trait;

use crate::error::StoreError;

/// The keys every [`FileStore`] accepts: a relative path of non-empty segments, at most 1024
/// bytes, without `.`/`..` segments, backslashes or control characters.
pub fn check_file_key(key: &str) -> Result<(), StoreError> {
    let bad = |why: &str| Err(StoreError::Corrupt(format!("file key '{key}' {why}")));
    if key.is_empty() {
        return bad("is empty");
    }
    if key.len() > 1024 {
        return bad("is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return bad("is absolute");
    }
    if key.contains('\\') || key.chars().any(char::is_control) {
        return bad("contains a backslash or a control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("has an empty segment"),
            "." | ".." => return bad("has a '.' or '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Blob storage for the files of documents (PDFs, XML, contracts), by tenant-scoped keys.
#[async_trait]
pub trait FileStore: Send + Sync {
    async fn put_file(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        file_name: &str,
    ) -> Result<(), StoreError>;
    async fn file(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}
