//! The job queue: jobs are written once with the change that causes them, found through the
//! sharded due index while pending (or their lease ran out), handed out, claimed by one
//! worker at a time, completed, retried, and given up as `failed` (out of the due index).

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use faktura_domain::jobs::{Job, JobKind, JobState, SHARDS};
use faktura_domain::ports::{Change, CommitError, Conflict, DueJob};
use faktura_domain::values::Id;

use super::repository::commit;
use super::{Adapters, at, fresh_tenant_id, id};

pub(crate) async fn write_jobs(a: &Adapters, tenant: &Id, jobs: &[Job]) {
    let mut change = Change::for_tenant(tenant);
    change.jobs.extend(jobs.iter().cloned());
    commit(a, change).await;
}

/// The due jobs of all shards (of this tenant: the index spans tenants).
pub(crate) async fn due(a: &Adapters, tenant: &Id, now: DateTime<Utc>) -> Vec<DueJob> {
    let mut all = Vec::new();
    for shard in 0..SHARDS {
        let jobs = a.jobs.due_jobs(shard, now, 1000).await.expect("due_jobs");
        for j in &jobs {
            assert!(
                jobs.windows(2).all(|w| w[0].due_at <= w[1].due_at),
                "due jobs come earliest first"
            );
            if &j.tenant_id == tenant {
                let job = a
                    .jobs
                    .job(&j.tenant_id, &j.id)
                    .await
                    .expect("job")
                    .expect("a due job exists");
                assert_eq!(job.shard(), shard, "{} is due in its own shard", j.id);
            }
        }
        all.extend(jobs.into_iter().filter(|j| &j.tenant_id == tenant));
    }
    all.sort_by(|x, y| x.id.cmp(&y.id));
    all
}

fn job(tenant: &Id, n: usize, due_at: DateTime<Utc>) -> Job {
    let kind = JobKind::ALL[n % JobKind::ALL.len()];
    Job::new(
        tenant,
        kind,
        &id(&format!("inv_job_{n}")),
        "contract",
        due_at - TimeDelta::hours(1),
    )
    .due(due_at)
}

/// A job is written once (its id is the work) and reads back as written.
pub async fn jobs_are_written_once(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let j = job(&t, 0, now);
    write_jobs(a, &t, std::slice::from_ref(&j)).await;
    assert_eq!(a.jobs.job(&t, &j.id).await.expect("job"), Some(j.clone()));
    let mut change = Change::for_tenant(&t);
    change.jobs.push(j.clone());
    assert_eq!(
        a.repository.commit(change).await,
        Err(CommitError::Conflict(Conflict::Job(j.id.clone()))),
        "the same work recorded twice is once"
    );
    assert_eq!(
        a.jobs.job(&fresh_tenant_id(), &j.id).await.expect("job"),
        None
    );
}

/// Pending jobs are due from `due_at`, each in its own shard; the shards spread the jobs.
pub async fn due_index_by_shard(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let jobs: Vec<Job> = (0..40)
        .map(|n| job(&t, n, now + TimeDelta::minutes(n as i64 - 20)))
        .collect();
    write_jobs(a, &t, &jobs).await;
    let found = due(a, &t, now).await;
    let mut expected: Vec<Id> = jobs
        .iter()
        .filter(|j| j.due_at <= now)
        .map(|j| j.id.clone())
        .collect();
    expected.sort();
    assert_eq!(
        found.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        expected,
        "exactly the jobs due by now"
    );
    for d in &found {
        let j = jobs.iter().find(|j| j.id == d.id).expect("one of ours");
        assert_eq!((d.kind, d.due_at), (j.kind, j.due_at));
    }
    let shards: BTreeSet<u32> = jobs.iter().map(Job::shard).collect();
    assert!(
        shards.len() >= 6,
        "40 jobs use most of the {SHARDS} shards ({shards:?})"
    );
    assert_eq!(due(a, &t, now + TimeDelta::hours(1)).await.len(), 40);
    assert_eq!(due(a, &t, now - TimeDelta::hours(1)).await.len(), 0);
    // A limit bounds each shard's answer.
    for shard in 0..SHARDS {
        assert!(
            a.jobs
                .due_jobs(shard, now + TimeDelta::hours(1), 2)
                .await
                .expect("due_jobs")
                .len()
                <= 2
        );
    }
}

/// The scheduler's hand-off moves a due job out of sight until the hold ends; a second
/// hand-off of the same sighting loses.
pub async fn hand_off_defers(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let j = job(&t, 1, now);
    write_jobs(a, &t, std::slice::from_ref(&j)).await;
    let seen = due(a, &t, now).await;
    assert_eq!(seen.len(), 1);
    let until = now + TimeDelta::minutes(2);
    assert!(a.jobs.defer(&seen[0], until).await.expect("defer"));
    assert!(
        !a.jobs.defer(&seen[0], until).await.expect("defer"),
        "the same sighting is handed off once"
    );
    assert!(due(a, &t, now + TimeDelta::seconds(119)).await.is_empty());
    let again = due(a, &t, until).await;
    assert_eq!(again.len(), 1, "due again when the hold ends");
    assert_eq!(again[0].due_at, until);
    let stored = a.jobs.job(&t, &j.id).await.expect("job").expect("job");
    assert_eq!(stored.state, JobState::Pending);
    assert_eq!(stored.attempts, 0, "a hand-off is no attempt");
}

/// A claim takes a job for one worker until its lease ends; then it may be claimed again.
/// Completing ends it.
pub async fn claim_lease_and_complete(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let j = job(&t, 2, now);
    write_jobs(a, &t, std::slice::from_ref(&j)).await;
    let lease = now + TimeDelta::minutes(5);
    let claimed = a
        .jobs
        .claim(&t, &j.id, now, lease)
        .await
        .expect("claim")
        .expect("a pending job is claimed");
    assert_eq!(claimed.state, JobState::Running);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.lease_until, Some(lease));
    assert_eq!(
        a.jobs
            .claim(&t, &j.id, now + TimeDelta::minutes(1), lease)
            .await
            .expect("claim"),
        None,
        "held by its worker"
    );
    assert!(
        due(a, &t, now + TimeDelta::minutes(4)).await.is_empty(),
        "a leased job is not due"
    );
    assert_eq!(
        due(a, &t, lease).await.len(),
        1,
        "due again when the lease ran out"
    );
    let later = lease + TimeDelta::seconds(1);
    let reclaimed = a
        .jobs
        .claim(&t, &j.id, later, later + TimeDelta::minutes(5))
        .await
        .expect("claim")
        .expect("an expired lease is claimed again");
    assert_eq!(reclaimed.attempts, 2);
    // The first worker's lease is gone: its completion does not count.
    a.jobs.complete(&claimed).await.expect("complete");
    assert_eq!(
        a.jobs.job(&t, &j.id).await.expect("job").map(|j| j.state),
        Some(JobState::Running),
        "a worker whose lease ran out does not complete the job"
    );
    a.jobs.complete(&reclaimed).await.expect("complete");
    let done = a.jobs.job(&t, &j.id).await.expect("job").expect("job");
    assert_eq!(done.state, JobState::Done);
    assert!(due(a, &t, later + TimeDelta::days(1)).await.is_empty());
    assert_eq!(
        a.jobs
            .claim(&t, &j.id, later, later + TimeDelta::minutes(5))
            .await
            .expect("claim"),
        None,
        "a done job is not claimed"
    );
    assert_eq!(
        a.jobs
            .claim(&t, &id("job_none"), now, lease)
            .await
            .expect("claim"),
        None
    );
}

/// A failed run is due again at its retry time with its error kept; a last failure leaves
/// the due index as `failed`.
pub async fn release_retries_then_fails(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let j = job(&t, 0, now);
    write_jobs(a, &t, std::slice::from_ref(&j)).await;
    let claimed = a
        .jobs
        .claim(&t, &j.id, now, now + TimeDelta::minutes(5))
        .await
        .expect("claim")
        .expect("claimed");
    let retry_at = now + TimeDelta::seconds(30);
    a.jobs
        .release(&claimed, "mail_unavailable", Some(retry_at))
        .await
        .expect("release");
    let stored = a.jobs.job(&t, &j.id).await.expect("job").expect("job");
    assert_eq!(stored.state, JobState::Pending);
    assert_eq!(stored.last_error.as_deref(), Some("mail_unavailable"));
    assert_eq!(stored.attempts, 1);
    assert!(
        due(a, &t, retry_at - TimeDelta::seconds(1))
            .await
            .is_empty()
    );
    assert_eq!(due(a, &t, retry_at).await.len(), 1);

    let claimed = a
        .jobs
        .claim(&t, &j.id, retry_at, retry_at + TimeDelta::minutes(5))
        .await
        .expect("claim")
        .expect("claimed");
    a.jobs
        .release(&claimed, "template_broken", None)
        .await
        .expect("release");
    let stored = a.jobs.job(&t, &j.id).await.expect("job").expect("job");
    assert_eq!(stored.state, JobState::Failed);
    assert_eq!(stored.last_error.as_deref(), Some("template_broken"));
    assert_eq!(stored.attempts, 2);
    assert!(
        due(a, &t, now + TimeDelta::days(365)).await.is_empty(),
        "a failed job is out of the due index"
    );
    assert_eq!(
        a.jobs
            .claim(
                &t,
                &j.id,
                now + TimeDelta::days(1),
                now + TimeDelta::days(2)
            )
            .await
            .expect("claim"),
        None
    );
}

/// A tenant's jobs list newest first, by state, in pages.
pub async fn job_lists_by_state(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let mut jobs = Vec::new();
    for n in 0..9 {
        let mut j = job(&t, n, now);
        j.created_at = now + TimeDelta::seconds(n as i64);
        write_jobs(a, &t, std::slice::from_ref(&j)).await;
        jobs.push(j);
    }
    for j in jobs.iter().take(3) {
        let c = a
            .jobs
            .claim(&t, &j.id, now, now + TimeDelta::minutes(5))
            .await
            .expect("claim")
            .expect("claimed");
        a.jobs.release(&c, "broken", None).await.expect("release");
    }
    let c = a
        .jobs
        .claim(&t, &jobs[3].id, now, now + TimeDelta::minutes(5))
        .await
        .expect("claim")
        .expect("claimed");
    a.jobs.complete(&c).await.expect("complete");

    let list = |state: Option<JobState>, limit: usize| {
        let a = a.clone();
        let t = t.clone();
        async move {
            let mut out = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..100 {
                let page = a
                    .jobs
                    .jobs(&t, state, cursor.as_deref(), limit)
                    .await
                    .expect("jobs");
                assert!(page.jobs.len() <= limit);
                out.extend(page.jobs.into_iter().map(|j| j.id));
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            out
        }
    };
    let newest_first: Vec<Id> = jobs.iter().rev().map(|j| j.id.clone()).collect();
    for limit in [1, 4, 100] {
        assert_eq!(list(None, limit).await, newest_first, "limit {limit}");
    }
    let failed: Vec<Id> = jobs.iter().take(3).rev().map(|j| j.id.clone()).collect();
    assert_eq!(list(Some(JobState::Failed), 2).await, failed);
    assert_eq!(
        list(Some(JobState::Done), 10).await,
        vec![jobs[3].id.clone()]
    );
    assert_eq!(list(Some(JobState::Pending), 10).await.len(), 5);
    assert!(list(Some(JobState::Running), 10).await.is_empty());
    assert!(
        a.jobs
            .jobs(&fresh_tenant_id(), None, None, 10)
            .await
            .expect("jobs")
            .jobs
            .is_empty()
    );
}

/// Two scheduler runs at once (an overlapping EventBridge schedule, two local timers): each
/// due job is handed out once, by one of them.
pub async fn two_scheduler_runs_hand_out_each_job_once(a: &Adapters) {
    use faktura_domain::service::jobs::Scheduler;
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let jobs: Vec<Job> = (0..40).map(|n| job(&t, n, now)).collect();
    write_jobs(a, &t, &jobs).await;
    let published = crate::fuzz::RecordingPublisher::default();
    let mut stores = a.stores_at(&[], std::sync::Arc::new(crate::fuzz::FixedClock(now)));
    stores.events = std::sync::Arc::new(crate::fuzz::RecordingPublisher {
        events: published.events.clone(),
    });
    let (one, two) = (Scheduler::new(stores.clone()), Scheduler::new(stores));
    let (r1, r2) = tokio::join!(one.dispatch_due(1000), two.dispatch_due(1000));
    r1.expect("first run");
    r2.expect("second run");
    let handed: Vec<String> = published
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.tenant_id == t)
        .map(|e| e.subject.id.to_string())
        .collect();
    let distinct: BTreeSet<&String> = handed.iter().collect();
    assert_eq!(handed.len(), 40, "every due job handed out");
    assert_eq!(distinct.len(), 40, "none twice");
}
