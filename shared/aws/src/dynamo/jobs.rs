//! [`JobQueue`] on DynamoDB. GSI2 is the due index (sharded: `JOBS#{shard}`); every write of a
//! job item is conditioned on its `rev`, so a claim, a completion and a scheduler's deferral
//! never overwrite each other.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use faktura_domain::StoreError;
use faktura_domain::jobs::{Job, JobKind, JobState};
use faktura_domain::ports::{DueJob, JobPage, JobQueue};
use faktura_domain::values::Id;

use super::items::JobItem;
use super::{
    DynamoStore, Item, decode_cursor, due_partition, encode_cursor, from_item, instant_key,
    is_conditional_failure, job_sk, jobs_partition, key, list_position, n, s, string_attr,
    tenant_pk, to_item,
};
use crate::error::{corrupt, unavailable};
use crate::schema::{GSI1, GSI2};

impl DynamoStore {
    async fn job_item(&self, tenant: &Id, id: &Id) -> Result<Option<JobItem>, StoreError> {
        self.get("job", key(tenant_pk(tenant), job_sk(id)))
            .await?
            .map(|i| from_item::<JobItem>("job item", i))
            .transpose()
    }

    /// Writes `job` over the item read at `rev`; false when someone wrote it meanwhile.
    async fn write_job(&self, job: &Job, rev: u64) -> Result<bool, StoreError> {
        let item = to_item("job", &JobItem::new(job, rev + 1))?;
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#rev = :rev")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":rev", n(rev))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("PutItem job", e)),
        }
    }
}

/// Whether the stored job is still held with the lease its caller claimed it with.
fn holds(stored: &Job, job: &Job) -> bool {
    stored.state == JobState::Running && stored.lease_until == job.lease_until
}

/// The kind a job id names (`job_<kind>_<hash>`).
fn kind_of(id: &str) -> Option<JobKind> {
    let rest = id.strip_prefix("job_")?;
    JobKind::ALL.into_iter().find(|k| {
        rest.strip_prefix(k.as_str())
            .is_some_and(|tail| tail.starts_with('_'))
    })
}

#[async_trait]
impl JobQueue for DynamoStore {
    async fn job(&self, tenant: &Id, id: &Id) -> Result<Option<Job>, StoreError> {
        Ok(self.job_item(tenant, id).await?.map(|i| i.job))
    }

    async fn jobs(
        &self,
        tenant: &Id,
        state: Option<JobState>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<JobPage, StoreError> {
        let partition = jobs_partition(tenant);
        let mut start = match cursor {
            None => None,
            Some(c) => match decode_cursor(c, &partition, &tenant_pk(tenant)) {
                Some(k) => Some(k),
                None => {
                    return Ok(JobPage {
                        jobs: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
        };
        let limit = limit.max(1);
        let mut jobs = Vec::new();
        let mut last = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI1.partition_key)
                .expression_attribute_values(":pk", s(partition.clone()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .limit(100);
            if let Some(st) = state {
                q = q
                    .filter_expression("#state = :state")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":state", s(st.as_str()));
            }
            let out = q
                .send()
                .await
                .map_err(|e| unavailable("Query GSI1 jobs", e))?;
            for item in out.items.unwrap_or_default() {
                if jobs.len() == limit {
                    return Ok(JobPage {
                        jobs,
                        next_cursor: last.as_ref().and_then(encode_cursor),
                    });
                }
                last = list_position(&item);
                jobs.push(from_item::<JobItem>("job item", item)?.job);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => {
                    return Ok(JobPage {
                        jobs,
                        next_cursor: None,
                    });
                }
            }
        }
    }

    async fn due_jobs(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueJob>, StoreError> {
        let limit = limit.max(1);
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2.name)
                .key_condition_expression("#pk = :pk AND #sk <= :now")
                .expression_attribute_names("#pk", GSI2.partition_key)
                .expression_attribute_names("#sk", GSI2.sort_key)
                .expression_attribute_values(":pk", s(due_partition(shard)))
                // Every key of an instant sorts after the bare instant: `~` is after `#`.
                .expression_attribute_values(":now", s(format!("{}~", instant_key(now))))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit - found.len()).unwrap_or(100))
                .send()
                .await
                .map_err(|e| unavailable("Query GSI2", e))?;
            for item in out.items() {
                let sk = string_attr(item, GSI2.sort_key)?;
                let mut parts = sk.splitn(3, '#');
                let (Some(due), Some(tenant), Some(id)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(StoreError::Corrupt(format!("due index key '{sk}'")));
                };
                let due_at = DateTime::parse_from_rfc3339(due)
                    .map_err(|e| corrupt(&format!("due index instant '{due}'"), e))?
                    .with_timezone(&Utc);
                let kind = kind_of(id)
                    .ok_or_else(|| StoreError::Corrupt(format!("job id '{id}' names no kind")))?;
                found.push(DueJob {
                    tenant_id: tenant.parse().map_err(|e| corrupt("due job tenant", e))?,
                    id: id.parse().map_err(|e| corrupt("due job id", e))?,
                    kind,
                    due_at,
                });
                if found.len() == limit {
                    return Ok(found);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(found),
            }
        }
    }

    async fn next_due(
        &self,
        shard: u32,
        after: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2.name)
            .key_condition_expression("#pk = :pk AND #sk > :after")
            .expression_attribute_names("#pk", GSI2.partition_key)
            .expression_attribute_names("#sk", GSI2.sort_key)
            .expression_attribute_values(":pk", s(due_partition(shard)))
            .expression_attribute_values(":after", s(format!("{}~", instant_key(after))))
            .limit(1)
            .send()
            .await
            .map_err(|e| unavailable("Query GSI2", e))?;
        let Some(item) = out.items().first() else {
            return Ok(None);
        };
        let sk = string_attr(item, GSI2.sort_key)?;
        let due = sk.split('#').next().unwrap_or_default();
        DateTime::parse_from_rfc3339(due)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|e| corrupt(&format!("due index instant '{due}'"), e))
    }

    async fn defer(&self, due: &DueJob, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(item) = self.job_item(&due.tenant_id, &due.id).await? else {
            return Ok(false);
        };
        let mut job = item.job;
        if !job.state.is_open() || job.due_at != due.due_at {
            return Ok(false);
        }
        job.due_at = until;
        self.write_job(&job, item.rev).await
    }

    async fn claim(
        &self,
        tenant: &Id,
        id: &Id,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let Some(item) = self.job_item(tenant, id).await? else {
            return Ok(None);
        };
        let mut job = item.job;
        if !job.claimable(now) {
            return Ok(None);
        }
        job.state = JobState::Running;
        job.attempts += 1;
        job.lease_until = Some(lease_until);
        job.due_at = lease_until;
        job.updated_at = now;
        Ok(self.write_job(&job, item.rev).await?.then_some(job))
    }

    async fn complete(&self, job: &Job) -> Result<(), StoreError> {
        let Some(item) = self.job_item(&job.tenant_id, &job.id).await? else {
            return Ok(());
        };
        if !holds(&item.job, job) {
            return Ok(());
        }
        let mut stored = item.job;
        stored.state = JobState::Done;
        stored.lease_until = None;
        stored.last_error = None;
        stored.updated_at = Utc::now();
        self.write_job(&stored, item.rev).await.map(|_| ())
    }

    async fn release(
        &self,
        job: &Job,
        code: &str,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let Some(item) = self.job_item(&job.tenant_id, &job.id).await? else {
            return Ok(());
        };
        if !holds(&item.job, job) {
            return Ok(());
        }
        let mut stored = item.job;
        stored.lease_until = None;
        stored.last_error = Some(code.to_string());
        stored.updated_at = Utc::now();
        match due_at {
            Some(at) => {
                stored.state = JobState::Pending;
                stored.due_at = at;
            }
            None => stored.state = JobState::Failed,
        }
        self.write_job(&stored, item.rev).await.map(|_| ())
    }
}

#[allow(dead_code)]
fn number(v: &AttributeValue) -> Option<u64> {
    match v {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_name_their_kind() {
        let now = Utc::now();
        let t: Id = "t".parse().unwrap();
        for kind in JobKind::ALL {
            let job = Job::new(&t, kind, &"doc_1".parse().unwrap(), "", now);
            assert_eq!(kind_of(job.id.as_str()), Some(kind));
        }
        assert_eq!(kind_of("job_nothing_1"), None);
    }
}
