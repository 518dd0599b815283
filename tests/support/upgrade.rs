//! Upgrading data written by release 1 (`tests/fixtures/v1/`): the shared part of the SQLite
//! and DynamoDB migration tests — a worker with every handler, and running every due job to
//! the end the way the scheduler and workers would.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use faktura_domain::jobs::{JobState, SHARDS};
use faktura_domain::ports::Stores;
use faktura_domain::service::bookings::BookingProcessor;
use faktura_domain::service::delivery::DocumentMailer;
use faktura_domain::service::jobs::{Handlers, JobRunner, RunOutcome};
use faktura_domain::service::rendering::DocumentRenderer;
use faktura_embedded::OutboxMailer;

/// The fixtures of release 1.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v1")
}

/// A runner with every handler, mailing into `outbox`.
pub fn runner(stores: &Stores, outbox: &Path) -> JobRunner {
    let einvoice = Arc::new(faktura_einvoice::EInvoiceXml);
    let renderer = faktura_render::Renderer::new().expect("templates");
    JobRunner::new(
        stores.clone(),
        Handlers {
            bookings: Some(BookingProcessor::new(stores.clone(), einvoice.clone())),
            renderer: Some(DocumentRenderer::new(
                stores.clone(),
                Arc::new(faktura_render::TypstRenderer(renderer)),
                einvoice,
            )),
            mailer: Some(DocumentMailer::new(
                stores.clone(),
                Arc::new(OutboxMailer::new(outbox.to_path_buf())),
            )),
            schedules: Some(faktura_domain::service::schedules::ScheduleBiller::new(
                stores.clone(),
                Arc::new(faktura_einvoice::EInvoiceXml),
            )),
            dunner: Some(faktura_domain::service::dunning::Dunner::new(
                stores.clone(),
            )),
            collector: Some(faktura_domain::service::collective::Collector::new(
                stores.clone(),
                Arc::new(faktura_einvoice::EInvoiceXml),
            )),
        },
    )
}

/// Runs due jobs until none is left (jobs make jobs: apply → render → deliver); returns how
/// many ran. Panics on a job that does not end `done`.
pub async fn run_until_idle(stores: &Stores, runner: &JobRunner) -> usize {
    let mut ran = 0;
    for _round in 0..20 {
        let now = stores.clock.now();
        let mut due = Vec::new();
        for shard in 0..SHARDS {
            due.extend(stores.jobs.due_jobs(shard, now, 1000).await.expect("due"));
        }
        if due.is_empty() {
            return ran;
        }
        for d in due {
            let outcome = runner.run(&d.tenant_id, &d.id).await.expect("run");
            assert_eq!(outcome, RunOutcome::Done, "job {} ({:?})", d.id, d.kind);
            let job = stores.jobs.job(&d.tenant_id, &d.id).await.expect("job");
            assert_eq!(job.map(|j| j.state), Some(JobState::Done));
            ran += 1;
        }
    }
    panic!("jobs keep making jobs")
}

/// The `.eml` files in `outbox`, by name.
pub fn mails(outbox: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(outbox)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
