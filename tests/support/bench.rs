//! What the bench binaries share: whether this is a `cargo test --benches` smoke run, the
//! process's peak memory, per-item times, and the local adapter set on a SQLite file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use faktura_domain::model::Tenant;
use faktura_domain::ports::{Stores, SystemClock, TenantRecord};
use faktura_embedded::{FsFileStore, SqliteStore, StaticTenants};

use crate::contract::DroppedEvents;

/// True under `cargo test --benches` (no `--bench` argument): benches run a small size then.
pub fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// The peak resident set of this process so far (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

pub fn micros_each(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / n as f64
}

/// SQLite (a file in `dir`, WAL) for documents and jobs, files in `dir/documents`, `tenant`
/// as the only tenant, events dropped, the system clock.
pub fn sqlite_stores(dir: &Path, tenant: &Tenant) -> Stores {
    let db = Arc::new(SqliteStore::open(&dir.join("faktura.sqlite3")).expect("db"));
    Stores {
        tenants: Arc::new(StaticTenants::new(vec![(
            TenantRecord {
                tenant: tenant.clone(),
                webhook_secrets: Vec::new(),
            },
            Vec::new(),
        )])),
        repository: db.clone(),
        jobs: db,
        files: Arc::new(FsFileStore::new(dir.join("documents"))),
        events: Arc::new(DroppedEvents),
        clock: Arc::new(SystemClock),
    }
}
