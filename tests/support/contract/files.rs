//! The file store: PDFs, XML and contracts by tenant-scoped keys.

use faktura_domain::ports::FileStore;

use super::{Adapters, fresh_tenant_id};

/// put/get, missing keys, overwrite, empty and nested documents.
pub async fn files_roundtrip(a: &Adapters) {
    let documents = &a.files;
    inner_roundtrip(&**documents).await;
}

async fn inner_roundtrip(documents: &dyn FileStore) {
    let prefix = format!("tenants/{}/invoices/inv_1", fresh_tenant_id());
    let key = format!("{prefix}/RE-2026-00001.pdf");
    assert_eq!(
        documents.file(&key).await.expect("file"),
        None,
        "a missing document is None"
    );
    let first = b"%PDF-1.7 first".to_vec();
    documents
        .put_file(&key, first.clone(), "application/pdf", "RE-2026-00001.pdf")
        .await
        .expect("put_file");
    assert_eq!(
        documents.file(&key).await.expect("file"),
        Some(first),
        "a stored document reads back equal"
    );
    let second: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    documents
        .put_file(&key, second.clone(), "application/pdf", "RE-2026-00001.pdf")
        .await
        .expect("put_file again");
    assert_eq!(
        documents.file(&key).await.expect("file"),
        Some(second),
        "a second put replaces the document (binary, 300 kB)"
    );
    let empty_key = format!("{prefix}/empty.xml");
    documents
        .put_file(&empty_key, Vec::new(), "application/xml", "empty.xml")
        .await
        .expect("put_file empty");
    assert_eq!(
        documents.file(&empty_key).await.expect("file"),
        Some(Vec::new()),
        "an empty document is stored, not missing"
    );
    assert_eq!(
        documents
            .file(&format!("{prefix}/other.pdf"))
            .await
            .expect("file"),
        None,
        "a sibling key is not found"
    );
    assert_eq!(
        documents.file(&prefix).await.expect("file"),
        None,
        "a key prefix is not a document"
    );
}

/// Keys that could escape a directory or mean different things to different stores are
/// refused.
pub async fn bad_file_keys_rejected(a: &Adapters) {
    let documents = &*a.files;
    inner_bad_keys(documents).await;
}

async fn inner_bad_keys(documents: &dyn FileStore) {
    for bad in [
        "",
        "/etc/passwd",
        "../escape.pdf",
        "tenants/../../escape.pdf",
        "tenants/x/..",
        "..",
        "tenants//x.pdf",
        "tenants/x/",
        "tenants\\x.pdf",
        "tenants/./x.pdf",
    ] {
        let result = documents
            .put_file(bad, b"x".to_vec(), "application/pdf", "x.pdf")
            .await;
        assert!(result.is_err(), "put_file must reject the key {bad:?}");
    }
}
