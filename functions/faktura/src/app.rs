//! Local mode: the same HTTP handlers and background work as the Lambda functions, in one
//! process, on embedded adapters (SQLite, files, an `.eml` outbox, an in-process bus).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::events::DomainEvent;
use faktura_domain::ports::{Clock, EInvoiceEncoder, Stores, SystemClock};
use faktura_domain::service::{InvoiceIssuer, InvoiceMailer, Sweeper, Workflow};
use faktura_einvoice::EInvoiceXml;
use faktura_embedded::{FsDocumentStore, InProcessBus, OutboxMailer, SqliteStore, StaticTenants};
use faktura_http::AppState;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::tenants::LocalTenant;

/// Written into a data dir so `faktura demo` only ever wipes folders it created.
pub const DATA_DIR_MARKER: &str = ".faktura-data";
/// Held (an exclusive file lock) by the one process that uses a data dir.
pub const LOCK_FILE: &str = "faktura.lock";
/// How much unfinished work a start picks up at once (the periodic sweep takes the rest).
const RESUME_LIMIT: usize = 10_000;

/// How many events are worked on at once (rendering is CPU-bound; mail is rate-limited).
const WORKERS: usize = 4;
const MAX_ATTEMPTS: u32 = 5;

pub struct LocalConfig {
    pub data_dir: PathBuf,
    pub tenants: Vec<LocalTenant>,
    /// How often stuck work is looked for, and how old it must be.
    pub sweep_every: Duration,
    pub sweep_grace: TimeDelta,
}

impl LocalConfig {
    pub fn new(data_dir: PathBuf, tenants: Vec<LocalTenant>) -> LocalConfig {
        LocalConfig {
            data_dir,
            tenants,
            sweep_every: Duration::from_secs(30),
            sweep_grace: TimeDelta::seconds(60),
        }
    }
}

/// A running local Faktura: the router to serve and the background tasks behind it.
pub struct LocalApp {
    pub state: AppState,
    pub stores: Stores,
    pub outbox_dir: PathBuf,
    pub documents_dir: PathBuf,
    pub sweeper: Sweeper,
    bus: InProcessBus,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The data dir's lock, released when the app is dropped.
    _lock: std::fs::File,
}

/// Takes the data dir's lock, or says which process-level conflict stops us.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, String> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another Faktura process is using the data dir {} (it holds {}); stop it or pass another --data-dir",
            dir.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

impl LocalApp {
    pub async fn start(config: LocalConfig) -> Result<LocalApp, String> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
        std::fs::write(dir.join(DATA_DIR_MARKER), b"faktura local data\n")
            .map_err(|e| format!("cannot write to data dir {}: {e}", dir.display()))?;
        let lock = lock_data_dir(dir)?;
        let documents_dir = dir.join("documents");
        let outbox_dir = dir.join("outbox");
        for d in [&documents_dir, &outbox_dir] {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }

        let db = Arc::new(
            SqliteStore::open(&dir.join("faktura.sqlite3"))
                .map_err(|e| format!("cannot open the database: {e}"))?,
        );
        let (bus, events) = InProcessBus::new();
        let renderer = faktura_render::Renderer::new()
            .map_err(|e| format!("cannot load the invoice templates: {e}"))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let einvoice: Arc<dyn EInvoiceEncoder> = Arc::new(EInvoiceXml);
        let tenants = Arc::new(StaticTenants::new(
            config
                .tenants
                .into_iter()
                .map(|t| (t.record, t.api_keys))
                .collect(),
        ));
        let stores = Stores {
            tenants: tenants.clone(),
            bookings: db.clone(),
            customers: db.clone(),
            invoices: db.clone(),
            documents: Arc::new(FsDocumentStore::new(documents_dir.clone())),
            events: Arc::new(bus.clone()),
            clock: clock.clone(),
        };
        let workflow = Workflow {
            issuer: InvoiceIssuer::new(
                stores.clone(),
                Arc::new(faktura_render::TypstRenderer(renderer)),
                einvoice.clone(),
            ),
            mailer: InvoiceMailer::new(
                stores.clone(),
                Arc::new(OutboxMailer::new(outbox_dir.clone())),
            ),
        };
        let sweeper = Sweeper::new(stores.clone());
        // We hold the lock, so no other process works on this data: what a crashed run left
        // unfinished (bookings not invoiced, mails not sent, leases it held) is ours to resume
        // now instead of after the sweep's grace period and the lease.
        let released = db
            .release_all_delivery_leases()
            .map_err(|e| format!("cannot read the database: {e}"))?;
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(dispatch(events, workflow)),
            tokio::spawn(resume(sweeper.clone(), released)),
            tokio::spawn(sweep_periodically(
                sweeper.clone(),
                config.sweep_every,
                config.sweep_grace,
                stopped,
            )),
        ];
        let state = AppState::from_stores(stores.clone(), einvoice);
        Ok(LocalApp {
            state,
            stores,
            outbox_dir,
            documents_dir,
            sweeper,
            bus,
            stop,
            tasks,
            _lock: lock,
        })
    }

    pub fn router(&self) -> axum::Router {
        faktura_http::router(self.state.clone())
    }

    /// Binds `addr` and serves the routes in the background; returns the bound address.
    pub async fn serve(&mut self, addr: SocketAddr) -> Result<SocketAddr, String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let router = self.router();
        let mut stopped = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.changed().await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "server stopped");
            }
        }));
        Ok(bound)
    }

    /// Events published so far, by type (for progress reports and tests).
    pub fn bus(&self) -> &InProcessBus {
        &self.bus
    }

    pub fn outbox_path(&self, invoice_id: &str) -> PathBuf {
        self.outbox_dir.join(format!("{invoice_id}.eml"))
    }

    pub fn document_path(&self, key: &str) -> PathBuf {
        self.documents_dir.join(key)
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

fn retryable(e: &AppError) -> bool {
    matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal)
}

/// Feeds bus events to the workflow, a few at a time, retrying transient failures with
/// backoff. What still fails is left to the sweep, as an SQS dead-letter queue would be.
async fn dispatch(mut events: mpsc::UnboundedReceiver<DomainEvent>, workflow: Workflow) {
    let slots = Arc::new(Semaphore::new(WORKERS));
    while let Some(event) = events.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let workflow = workflow.clone();
        tokio::spawn(async move {
            let _permit = permit;
            for attempt in 1..=MAX_ATTEMPTS {
                match workflow.handle(&event).await {
                    Ok(()) => return,
                    Err(e) if retryable(&e) && attempt < MAX_ATTEMPTS => {
                        tracing::warn!(event = event.event_type.as_str(), tenant_id = %event.tenant_id, invoice_id = %event.invoice_id, attempt, error = %e, "retrying");
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                    Err(e) => {
                        tracing::error!(event = event.event_type.as_str(), tenant_id = %event.tenant_id, booking_id = %event.booking_id, invoice_id = %event.invoice_id, error = %e, "event failed; left for the sweep");
                        return;
                    }
                }
            }
        });
    }
}

/// Re-publishes everything unfinished at start (grace zero: no other process is working on it).
async fn resume(sweeper: Sweeper, released_leases: usize) {
    match sweeper.sweep(TimeDelta::zero(), RESUME_LIMIT).await {
        Ok(report) if report.bookings + report.invoices > 0 || released_leases > 0 => {
            tracing::info!(
                bookings = report.bookings,
                invoices = report.invoices,
                released_leases,
                "resumed unfinished work from an earlier run"
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "resuming unfinished work failed; the sweep will retry")
        }
    }
}

async fn sweep_periodically(
    sweeper: Sweeper,
    every: Duration,
    grace: TimeDelta,
    mut stopped: watch::Receiver<bool>,
) {
    // The first sweep comes one period after start: work from before a restart is older than
    // the grace period by then and gets picked up.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = sweeper.sweep(grace, 100).await {
                    tracing::warn!(error = %e, "sweep failed");
                }
            }
            _ = stopped.changed() => return,
        }
    }
}

/// True when `dir` may be wiped by `faktura demo`: missing, empty, or made by us.
pub fn is_ours_or_empty(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Err(_) => true,
        Ok(mut entries) => entries.next().is_none() || dir.join(DATA_DIR_MARKER).exists(),
    }
}
