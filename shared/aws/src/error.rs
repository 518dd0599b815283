//! Mapping SDK errors to `StoreError`.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use faktura_domain::StoreError;

/// A service or transport failure: the caller may retry.
pub(crate) fn unavailable<E: std::error::Error>(what: &str, e: E) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(&e)))
}

/// Stored data that does not read back as what we wrote.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}
