//! [`JobQueue`] on SQLite. The `jobs_due` index is the due index: pending and running jobs by
//! shard and `due_at` (a running job's `due_at` is its lease end, so an expired lease is due).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use faktura_domain::StoreError;
use faktura_domain::jobs::{Job, JobKind, JobState};
use faktura_domain::ports::{DueJob, JobPage, JobQueue};
use faktura_domain::values::Id;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, db, from_json, immediate, nanos, parse_id, sql_limit, to_json};

fn read(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Job>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT job FROM jobs WHERE tenant_id = ?1 AND job_id = ?2")
        .map_err(db)?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()
        .map_err(db)?;
    json.map(|j| from_json("job", &j)).transpose()
}

fn write(conn: &Connection, job: &Job) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE jobs SET state = ?3, due_at = ?4, job = ?5 WHERE tenant_id = ?1 AND job_id = ?2",
    )
    .map_err(db)?
    .execute(params![
        job.tenant_id.as_str(),
        job.id.as_str(),
        job.state.as_str(),
        nanos(job.due_at),
        to_json("job", job)?
    ])
    .map_err(db)?;
    Ok(())
}

/// Frees every running job's lease (see [`SqliteStore::release_all_job_leases`]).
pub(crate) fn release_all(conn: &Connection) -> Result<usize, StoreError> {
    let running: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT job FROM jobs WHERE state = 'running'")
            .map_err(db)?;
        stmt.query_map([], |r| r.get(0))
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?
    };
    let now = Utc::now();
    for json in &running {
        let mut job: Job = from_json("job", json)?;
        job.state = JobState::Pending;
        job.lease_until = None;
        job.due_at = now;
        job.updated_at = now;
        write(conn, &job)?;
    }
    Ok(running.len())
}

/// Whether the job still holds the lease its caller claimed it with.
fn holds(stored: &Job, job: &Job) -> bool {
    stored.state == JobState::Running && stored.lease_until == job.lease_until
}

#[async_trait]
impl JobQueue for SqliteStore {
    async fn job(&self, tenant: &Id, id: &Id) -> Result<Option<Job>, StoreError> {
        let (t, i) = (tenant.as_str().to_string(), id.as_str().to_string());
        self.run(move |conn| read(conn, &t, &i)).await
    }

    async fn jobs(
        &self,
        tenant: &Id,
        state: Option<JobState>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<JobPage, StoreError> {
        let t = tenant.as_str().to_string();
        let before: i64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(i64::MAX);
        let state = state.map(|s| s.as_str().to_string());
        let n = sql_limit(limit) + 1;
        let rows: Vec<(i64, String)> = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, job FROM jobs WHERE tenant_id = ?1 AND (?2 IS NULL OR state = ?2) AND seq < ?3
                         ORDER BY seq DESC LIMIT ?4",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![t, state, before, n], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        let limit = limit.max(1);
        let more = rows.len() > limit;
        let mut jobs = Vec::new();
        let mut last = 0;
        for (seq, json) in rows.into_iter().take(limit) {
            jobs.push(from_json("job", &json)?);
            last = seq;
        }
        Ok(JobPage {
            jobs,
            next_cursor: more.then(|| last.to_string()),
        })
    }

    async fn due_jobs(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueJob>, StoreError> {
        let (now, n) = (nanos(now), sql_limit(limit));
        let rows: Vec<(String, String, String, i64)> = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT tenant_id, job_id, kind, due_at FROM jobs
                         WHERE shard = ?1 AND state IN ('pending', 'running') AND due_at <= ?2
                         ORDER BY due_at LIMIT ?3",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![shard, now, n], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|(t, id, kind, due)| {
                Ok(DueJob {
                    tenant_id: parse_id("tenant", &t)?,
                    id: parse_id("job", &id)?,
                    kind: JobKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown job kind '{kind}'")))?,
                    due_at: DateTime::from_timestamp_nanos(due),
                })
            })
            .collect()
    }

    async fn next_due(
        &self,
        shard: u32,
        after: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let after = nanos(after);
        let due: Option<i64> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT MIN(due_at) FROM jobs
                     WHERE shard = ?1 AND state IN ('pending', 'running') AND due_at > ?2",
                )
                .map_err(db)?
                .query_row(params![shard, after], |r| r.get(0))
                .map_err(db)
            })
            .await?;
        Ok(due.map(DateTime::from_timestamp_nanos))
    }

    async fn defer(&self, due: &DueJob, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let (t, i, seen) = (
            due.tenant_id.as_str().to_string(),
            due.id.as_str().to_string(),
            due.due_at,
        );
        self.run(move |conn| {
            let tx = immediate(conn)?;
            let Some(mut job) = read(&tx, &t, &i)? else {
                return Ok(false);
            };
            if !job.state.is_open() || job.due_at != seen {
                return Ok(false);
            }
            job.due_at = until;
            write(&tx, &job)?;
            tx.commit().map_err(db)?;
            Ok(true)
        })
        .await
    }

    async fn claim(
        &self,
        tenant: &Id,
        id: &Id,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let (t, i) = (tenant.as_str().to_string(), id.as_str().to_string());
        self.run(move |conn| {
            let tx = immediate(conn)?;
            let Some(mut job) = read(&tx, &t, &i)? else {
                return Ok(None);
            };
            if !job.claimable(now) {
                return Ok(None);
            }
            job.state = JobState::Running;
            job.attempts += 1;
            job.lease_until = Some(lease_until);
            job.due_at = lease_until;
            job.updated_at = now;
            write(&tx, &job)?;
            tx.commit().map_err(db)?;
            Ok(Some(job))
        })
        .await
    }

    async fn complete(&self, job: &Job) -> Result<(), StoreError> {
        let job = job.clone();
        self.run(move |conn| {
            let tx = immediate(conn)?;
            let Some(mut stored) = read(&tx, job.tenant_id.as_str(), job.id.as_str())? else {
                return Ok(());
            };
            if !holds(&stored, &job) {
                return Ok(());
            }
            stored.state = JobState::Done;
            stored.lease_until = None;
            stored.last_error = None;
            stored.updated_at = Utc::now();
            write(&tx, &stored)?;
            tx.commit().map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn release(
        &self,
        job: &Job,
        code: &str,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let (job, code) = (job.clone(), code.to_string());
        self.run(move |conn| {
            let tx = immediate(conn)?;
            let Some(mut stored) = read(&tx, job.tenant_id.as_str(), job.id.as_str())? else {
                return Ok(());
            };
            if !holds(&stored, &job) {
                return Ok(());
            }
            stored.lease_until = None;
            stored.last_error = Some(code);
            stored.updated_at = Utc::now();
            match due_at {
                Some(at) => {
                    stored.state = JobState::Pending;
                    stored.due_at = at;
                }
                None => stored.state = JobState::Failed,
            }
            write(&tx, &stored)?;
            tx.commit().map_err(db)?;
            Ok(())
        })
        .await
    }
}
