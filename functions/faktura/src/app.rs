//! Local mode: the same HTTP handlers and background work as the Lambda functions, in one
//! process, on embedded adapters (SQLite, files, an `.eml` outbox, an in-process bus).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use faktura_domain::events::DomainEvent;
use faktura_domain::ports::{Clock, EInvoiceEncoder, Stores, SystemClock};
use faktura_domain::service::bookings::BookingProcessor;
use faktura_domain::service::delivery::DocumentMailer;
use faktura_domain::service::jobs::{Handlers, JobRunner, Scheduler};
use faktura_domain::service::rendering::DocumentRenderer;
use faktura_domain::service::schedules::ScheduleBiller;
use faktura_einvoice::EInvoiceXml;
use faktura_embedded::{FsFileStore, InProcessBus, OutboxMailer, SqliteStore, StaticTenants};
use faktura_http::AppState;
use faktura_http::api::dev::DevClock;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::{LocalDevClock, SimulatedClock};
use crate::tenants::LocalTenant;

/// Written into a data dir so `faktura demo` only ever wipes folders it created.
pub const DATA_DIR_MARKER: &str = ".faktura-data";
/// Held (an exclusive file lock) by the one process that uses a data dir.
pub const LOCK_FILE: &str = "faktura.lock";

/// How many jobs run at once (rendering is CPU-bound; mail is rate-limited).
const WORKERS: usize = 4;
/// How many due jobs per shard one scheduler run hands out.
const DUE_LIMIT: usize = 1000;

pub struct LocalConfig {
    pub data_dir: PathBuf,
    pub tenants: Vec<LocalTenant>,
    /// How often the scheduler hands out due jobs (retries after their backoff, jobs whose
    /// event was lost, schedules' occurrences).
    pub schedule_every: Duration,
    /// Start a simulated clock at this instant: time moves only by `POST /v1/dev/clock`.
    pub simulated_clock: Option<DateTime<Utc>>,
}

impl LocalConfig {
    pub fn new(data_dir: PathBuf, tenants: Vec<LocalTenant>) -> LocalConfig {
        LocalConfig {
            data_dir,
            tenants,
            schedule_every: Duration::from_secs(5),
            simulated_clock: None,
        }
    }
}

/// A running local Faktura: the router to serve and the background tasks behind it.
pub struct LocalApp {
    pub state: AppState,
    pub stores: Stores,
    pub outbox_dir: PathBuf,
    pub documents_dir: PathBuf,
    pub scheduler: Scheduler,
    pub db: Arc<SqliteStore>,
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
        let simulated = config
            .simulated_clock
            .map(|t| Arc::new(SimulatedClock::new(t)));
        let clock: Arc<dyn Clock> = match &simulated {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
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
            repository: db.clone(),
            jobs: db.clone(),
            files: Arc::new(FsFileStore::new(documents_dir.clone())),
            events: Arc::new(bus.clone()),
            clock: clock.clone(),
        };
        let runner = JobRunner::new(
            stores.clone(),
            Handlers {
                bookings: Some(BookingProcessor::new(stores.clone(), einvoice.clone())),
                renderer: Some(DocumentRenderer::new(
                    stores.clone(),
                    Arc::new(faktura_render::TypstRenderer(renderer)),
                    einvoice.clone(),
                )),
                mailer: Some(DocumentMailer::new(
                    stores.clone(),
                    Arc::new(OutboxMailer::new(outbox_dir.clone())),
                )),
                schedules: Some(ScheduleBiller::new(stores.clone(), einvoice.clone())),
                dunner: Some(faktura_domain::service::dunning::Dunner::new(
                    stores.clone(),
                )),
                collector: Some(faktura_domain::service::collective::Collector::new(
                    stores.clone(),
                    einvoice.clone(),
                )),
            },
        );
        let scheduler = Scheduler::new(stores.clone());
        // We hold the lock, so no other process works on this data: the leases a crashed run
        // held are freed, and everything it left unfinished is due now (the first scheduler
        // run, at start, hands it out) instead of after its lease.
        let released = db
            .release_all_job_leases()
            .map_err(|e| format!("cannot read the database: {e}"))?;
        if released > 0 {
            tracing::info!(released, "resumed jobs a stopped run held");
        }
        let (stop, stopped) = watch::channel(false);
        let slots = Arc::new(Semaphore::new(WORKERS));
        let mut state = AppState::from_stores(stores.clone(), einvoice);
        let mut tasks = vec![tokio::spawn(dispatch(
            events,
            runner.clone(),
            slots.clone(),
        ))];
        match simulated {
            // Time moves only when asked: the clock's mover is the scheduler.
            Some(clock) => {
                let dev = Arc::new(LocalDevClock::new(
                    clock,
                    stores.clone(),
                    runner,
                    slots,
                    WORKERS as u32,
                ));
                let start = dev.clone();
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = start.move_to(start.now()).await {
                        tracing::warn!(error = %e, "running the work due at the start failed");
                    }
                }));
                state.dev_clock = Some(dev);
                state.webhook_clock = Arc::new(SystemClock);
            }
            None => {
                // What a stopped run left is handed out before `start` returns, so nothing
                // recorded after it races the first tick.
                if let Err(e) = scheduler.dispatch_due(DUE_LIMIT).await {
                    tracing::warn!(error = %e, "handing out due jobs failed");
                }
                tasks.push(tokio::spawn(schedule_periodically(
                    scheduler.clone(),
                    config.schedule_every,
                    stopped,
                )))
            }
        }
        Ok(LocalApp {
            state,
            stores,
            outbox_dir,
            documents_dir,
            scheduler,
            db,
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

/// Runs the jobs the bus hands out (`job.<kind>`), a few at a time. A job that fails is due
/// again after its backoff; the scheduler hands it out then.
async fn dispatch(
    mut events: mpsc::UnboundedReceiver<DomainEvent>,
    runner: JobRunner,
    slots: Arc<Semaphore>,
) {
    while let Some(event) = events.recv().await {
        if event.job_kind().is_none() {
            continue;
        }
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let runner = runner.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = runner.run(&event.tenant_id, &event.subject.id).await {
                tracing::warn!(job_id = %event.subject.id, error = %e, "running a job failed; the scheduler hands it out again");
            }
        });
    }
}

/// Hands out due jobs every `every` (the first time one period after start).
async fn schedule_periodically(
    scheduler: Scheduler,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = scheduler.dispatch_due(DUE_LIMIT).await {
                    tracing::warn!(error = %e, "handing out due jobs failed");
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
