//! Documents as files under a root directory, and an outbox directory standing in for a mail
//! service. Writes are atomic: a temporary file in the target directory, then a rename.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use faktura_domain::StoreError;
use faktura_domain::ports::{FileStore, MailSender, OutgoingMail, check_file_key};

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

/// Writes `bytes` to `path` so that readers see the old content or the new, never a part:
/// a temporary file in the same directory, flushed to disk, then renamed over the target.
/// One trip to the blocking pool (what `tokio::fs` would do call by call).
async fn write_atomic(path: PathBuf, bytes: Vec<u8>) -> Result<(), StoreError> {
    tokio::task::spawn_blocking(move || write_atomic_blocking(&path, &bytes))
        .await
        .map_err(|e| StoreError::Unavailable(format!("file write task failed: {e}")))?
}

fn write_atomic_blocking(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(StoreError::Corrupt(format!(
            "no file name in {}",
            path.display()
        )));
    };
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(|e| io_error("creating", &tmp, e))?;
        file.write_all(bytes)
            .map_err(|e| io_error("writing", &tmp, e))?;
        file.sync_all().map_err(|e| io_error("syncing", &tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| io_error("renaming to", path, e))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable. Best effort: not every platform can sync a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A [`FileStore`] writing `root/<key>`. Content type and file name are not kept (the
/// key's extension says enough locally).
#[derive(Debug, Clone)]
pub struct FsFileStore {
    root: Arc<PathBuf>,
}

impl FsFileStore {
    pub fn new(root: PathBuf) -> FsFileStore {
        FsFileStore {
            root: Arc::new(root),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a document with this key is (or would be) stored.
    pub fn path_for(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_file_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl FileStore for FsFileStore {
    async fn put_file(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
        _file_name: &str,
    ) -> Result<(), StoreError> {
        let path = self.path_for(key)?;
        write_atomic(path, bytes).await
    }

    async fn file(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path_for(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            // Like an object store: a key that names a directory, or runs through a file,
            // holds no document.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NotFound | ErrorKind::IsADirectory | ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(io_error("reading", &path, e)),
        }
    }
}

/// A [`MailSender`] that writes each message to `dir/<key>.eml` (open it with any mail
/// client). Sending the same key again replaces the file.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: Arc<PathBuf>,
}

impl OutboxMailer {
    pub fn new(dir: PathBuf) -> OutboxMailer {
        OutboxMailer { dir: Arc::new(dir) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a message with this key is written to.
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.eml"))
    }
}

#[async_trait]
impl MailSender for OutboxMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, StoreError> {
        let key = &mail.key;
        let ok = !key.is_empty() && !key.starts_with('.') && !key.contains(['/', '\\', '\0']);
        if !ok {
            return Err(StoreError::Corrupt(format!(
                "mail key '{key}' cannot be a file name"
            )));
        }
        let path = self.path_for(key);
        // A failed write delivered nothing: the outbox refused it.
        write_atomic(path.clone(), mail.raw.clone())
            .await
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        tracing::info!(path = %path.display(), to = mail.to.len(), "mail written to the outbox");
        Ok(format!("outbox-{key}"))
    }
}
