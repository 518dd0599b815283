//! Documents (PDFs, e-invoice XML) in one S3 bucket, under the tenant-scoped keys the domain
//! chooses, encrypted at rest; plus short-lived presigned download links.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use faktura_domain::StoreError;
use faktura_domain::ports::{FileStore, check_file_key};

use crate::error::unavailable;

/// How objects are encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSideEncryption {
    /// SSE-S3 (`AES256`).
    Aes256,
    /// SSE-KMS with this key (id, ARN or alias), or the account's `aws/s3` key when `None`.
    Kms { key_id: Option<String> },
}

#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub encryption: ServerSideEncryption,
    /// Path-style addressing (`endpoint/bucket/key`): needed for local endpoints such as moto.
    pub force_path_style: bool,
}

impl S3Settings {
    /// SSE-S3, virtual-hosted addressing: what AWS wants.
    pub fn new(bucket: impl Into<String>) -> S3Settings {
        S3Settings {
            bucket: bucket.into(),
            encryption: ServerSideEncryption::Aes256,
            force_path_style: false,
        }
    }
}

/// The S3 adapter for [`FileStore`].
#[derive(Clone, Debug)]
pub struct S3FileStore {
    client: Client,
    settings: S3Settings,
}

/// `attachment` with the file name, ASCII-safe (`filename`) and exact (`filename*`, RFC 6266).
pub fn content_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

impl S3FileStore {
    pub fn new(config: &aws_config::SdkConfig, settings: S3Settings) -> S3FileStore {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(settings.force_path_style)
            .build();
        S3FileStore {
            client: Client::from_conf(s3_config),
            settings,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.settings.bucket
    }

    /// A URL that downloads `key` without credentials until `ttl` has passed (at most 7 days,
    /// and never beyond the signing credentials' own expiry — a Lambda role's are short).
    /// Hand it out on each request; never store it.
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        check_file_key(key)?;
        let presigning = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Unavailable(format!("presigning for {ttl:?}: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| unavailable("presigning GetObject", e))?;
        Ok(request.uri().to_string())
    }
}

#[async_trait]
impl FileStore for S3FileStore {
    async fn put_file(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        file_name: &str,
    ) -> Result<(), StoreError> {
        check_file_key(key)?;
        let mut request = self
            .client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .content_type(content_type)
            .content_disposition(content_disposition(file_name))
            .body(ByteStream::from(bytes));
        request = match &self.settings.encryption {
            ServerSideEncryption::Aes256 => {
                request.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            }
            ServerSideEncryption::Kms { key_id } => request
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key_id.clone()),
        };
        request
            .send()
            .await
            .map_err(|e| unavailable(&format!("PutObject {key}"), e))?;
        Ok(())
    }

    async fn file(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_file_key(key)?;
        let result = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .send()
            .await;
        let object = match result {
            Ok(object) => object,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                return Ok(None);
            }
            Err(e) => return Err(unavailable(&format!("GetObject {key}"), e)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| unavailable(&format!("reading {key}"), e))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_like_the_file_store() {
        for good in ["a", "tenants/t/invoices/i/RE-2026-00001.pdf", "a/b.c/d"] {
            assert!(check_file_key(good).is_ok(), "{good}");
        }
        for bad in [
            "", "/a", "a//b", "a/", "a/../b", "./a", "a\\b", "a\0b", "..",
        ] {
            assert!(check_file_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dispositions_quote_safely() {
        assert_eq!(
            content_disposition("RE-2026-00001.pdf"),
            "attachment; filename=\"RE-2026-00001.pdf\"; filename*=UTF-8''RE-2026-00001.pdf"
        );
        assert_eq!(
            content_disposition("Rechnung \"ä\".pdf"),
            "attachment; filename=\"Rechnung ___.pdf\"; filename*=UTF-8''Rechnung%20%22%C3%A4%22.pdf"
        );
    }
}
