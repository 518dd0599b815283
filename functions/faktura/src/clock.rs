//! Local mode's simulated clock (`faktura serve --simulated-clock <instant>`): time stands
//! still until `POST /v1/dev/clock` moves it. On the way the clock stops at each instant a job
//! is due, runs what is due then (schedules bill, retries retry) and goes on, so work happens
//! in order at its own time; the answer comes when everything due up to the target has run.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use faktura_domain::error::AppError;
use faktura_domain::jobs::SHARDS;
use faktura_domain::ports::{Clock, Stores};
use faktura_domain::service::jobs::{JobRunner, RunOutcome};
use faktura_http::api::dev::{ClockMoved, DevClock, Target};
use tokio::sync::Semaphore;

/// How many due jobs one pass reads per shard.
const PASS: usize = 1000;

/// A clock that moves only when told.
pub struct SimulatedClock {
    now: Mutex<DateTime<Utc>>,
}

impl SimulatedClock {
    pub fn new(start: DateTime<Utc>) -> SimulatedClock {
        SimulatedClock {
            now: Mutex::new(start),
        }
    }

    fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut now) = self.now.lock()
            && to > *now
        {
            *now = to;
        }
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        self.now
            .lock()
            .map(|n| *n)
            .unwrap_or_else(|p| *p.into_inner())
    }
}

/// The runner side of `POST /v1/dev/clock`.
pub struct LocalDevClock {
    clock: Arc<SimulatedClock>,
    stores: Stores,
    runner: JobRunner,
    /// The bus workers' slots: held all at once while the clock runs due work, so no job runs
    /// twice at once and none is still running when the answer goes out.
    slots: Arc<Semaphore>,
    workers: u32,
    moving: tokio::sync::Mutex<()>,
}

impl LocalDevClock {
    pub fn new(
        clock: Arc<SimulatedClock>,
        stores: Stores,
        runner: JobRunner,
        slots: Arc<Semaphore>,
        workers: u32,
    ) -> LocalDevClock {
        LocalDevClock {
            clock,
            stores,
            runner,
            slots,
            workers,
            moving: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs every job due now, again and again until none is (the work a job makes, such as
    /// a render after a bill, is due at once). Returns how many ran to completion.
    async fn run_due(&self) -> Result<usize, AppError> {
        let _all = self
            .slots
            .acquire_many(self.workers)
            .await
            .map_err(|_| faktura_domain::service::jobs::stopped())?;
        let mut done = 0;
        for _ in 0..10_000 {
            let now = self.clock.now();
            let mut due = Vec::new();
            for shard in 0..SHARDS {
                due.extend(self.stores.jobs.due_jobs(shard, now, PASS).await?);
            }
            if due.is_empty() {
                return Ok(done);
            }
            due.sort_by_key(|d| d.due_at);
            let mut progressed = false;
            for d in due {
                match self.runner.run(&d.tenant_id, &d.id).await {
                    Ok(RunOutcome::Done) => {
                        done += 1;
                        progressed = true;
                    }
                    Ok(RunOutcome::NotClaimed) => {}
                    Ok(_) => progressed = true,
                    Err(e) => {
                        tracing::warn!(job_id = %d.id, error = %e, "running a due job failed");
                    }
                }
            }
            if !progressed {
                return Ok(done);
            }
        }
        Ok(done)
    }

    /// The earliest instant after now at which a job is due.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        let now = self.clock.now();
        let mut next: Option<DateTime<Utc>> = None;
        for shard in 0..SHARDS {
            if let Some(d) = self.stores.jobs.next_due(shard, now).await? {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        Ok(next)
    }
}

#[async_trait]
impl DevClock for LocalDevClock {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn move_with(&self, target: Target) -> Result<ClockMoved, AppError> {
        let _one_at_a_time = self.moving.lock().await;
        let to = target(self.clock.now())?;
        let mut jobs_run = self.run_due().await?;
        let mut stops = 0;
        while let Some(next) = self.next_due().await?
            && next <= to
        {
            self.clock.set(next);
            stops += 1;
            jobs_run += self.run_due().await?;
        }
        self.clock.set(to);
        jobs_run += self.run_due().await?;
        Ok(ClockMoved {
            now: self.clock.now(),
            jobs_run,
            stops,
        })
    }
}
