//! The one definition of Faktura's DynamoDB table: key attributes, global secondary indexes
//! and the TTL attribute.
//!
//! [`crate::setup::create_table`] creates a table from [`TABLE`] (tests, local stacks), and
//! the SAM template must declare the same table: a later step emits the template's
//! `AWS::DynamoDB::Table` properties from this value or checks the template against it, so
//! the two cannot drift. The adapter ([`crate::DynamoStore`]) uses the names from here too.
//!
//! Every key attribute is a string. Billing is on demand. See `docs/DYNAMODB.md` for what
//! the keys hold.

/// What a global secondary index copies from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// Every attribute (list queries read whole items from the index).
    All,
    /// The table and index keys only (sweeps need ids, nothing else).
    KeysOnly,
}

impl Projection {
    /// The CloudFormation / API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Projection::All => "ALL",
            Projection::KeysOnly => "KEYS_ONLY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSchema {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub projection: Projection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [IndexSchema],
    /// DynamoDB deletes items whose attribute of this name (Unix seconds) lies in the past.
    /// Reserved for in-progress idempotency records; nothing writes it yet.
    pub ttl_attribute: &'static str,
}

impl TableSchema {
    /// Every attribute that is a key of the table or an index (all of type string).
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for index in self.indexes {
            for name in [index.partition_key, index.sort_key] {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    pub fn index(&self, name: &str) -> Option<&IndexSchema> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

/// GSI1: a tenant's documents (`TENANT#{t}#INVOICES`) and jobs (`TENANT#{t}#JOBS`) in
/// creation order (the list API; filters are FilterExpressions).
pub const GSI1: IndexSchema = IndexSchema {
    name: "GSI1",
    partition_key: "GSI1PK",
    sort_key: "GSI1SK",
    projection: Projection::All,
};

/// GSI2: the due index of jobs across tenants (`GSI2PK = JOBS#{shard}`, `GSI2SK =
/// {due}#{t}#{job id}`), sparse: only pending and running jobs carry its keys. Release-1 items
/// used `PENDING#BOOKING` / `PENDING#INVOICE` until they are adopted.
pub const GSI2: IndexSchema = IndexSchema {
    name: "GSI2",
    partition_key: "GSI2PK",
    sort_key: "GSI2SK",
    projection: Projection::KeysOnly,
};

/// GSI3: a tenant's issued invoices with something open, by due date (`GSI3PK =
/// TENANT#{t}#OPEN`, `GSI3SK = {due date}#{document id}`), sparse: for payment reminders and
/// overdue views (nothing queries it yet). Release-1 items carry `TENANT#{t}#STATUS#…`.
pub const GSI3: IndexSchema = IndexSchema {
    name: "GSI3",
    partition_key: "GSI3PK",
    sort_key: "GSI3SK",
    projection: Projection::KeysOnly,
};

/// GSI4: declared for schedules by next run, and kept unused: a schedule's next occurrence is
/// its `bill_schedule` job, so the sharded job index GSI2 finds due schedules (one due index
/// for all timed work, see docs/SCHEDULING.md). Nothing writes it; removing an index from a
/// deployed table is a change of its own.
pub const GSI4: IndexSchema = IndexSchema {
    name: "GSI4",
    partition_key: "GSI4PK",
    sort_key: "GSI4SK",
    projection: Projection::KeysOnly,
};

pub const TABLE: TableSchema = TableSchema {
    partition_key: "PK",
    sort_key: "SK",
    indexes: &[GSI1, GSI2, GSI3, GSI4],
    ttl_attribute: "expires_at",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_attributes_are_listed_once() {
        assert_eq!(
            TABLE.key_attributes(),
            vec![
                "PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "GSI4PK",
                "GSI4SK"
            ]
        );
        assert_eq!(TABLE.index("GSI2"), Some(&GSI2));
        assert_eq!(TABLE.index("nope"), None);
    }
}
