//! Creates the AWS resources the adapters need, for tests and local stacks (production
//! resources come from the SAM template, which declares the same table: see [`crate::schema`]).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection as DynamoProjection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use faktura_domain::StoreError;

use crate::error::unavailable;
use crate::schema::{Projection, TableSchema};

fn build_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| build_error("key schema", e))
}

/// Creates table `name` as `schema` describes (on-demand billing, TTL on
/// `schema.ttl_attribute`) and waits until it is active.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    schema: &TableSchema,
) -> Result<(), StoreError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(schema.partition_key, KeyType::Hash)?)
        .key_schema(key(schema.sort_key, KeyType::Range)?);
    for attribute in schema.key_attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| build_error("attribute definition", e))?,
        );
    }
    for index in schema.indexes {
        let projection = DynamoProjection::builder()
            .projection_type(match index.projection {
                Projection::All => ProjectionType::All,
                Projection::KeysOnly => ProjectionType::KeysOnly,
            })
            .build();
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(projection)
                .build()
                .map_err(|e| build_error("index", e))?,
        );
    }
    request
        .send()
        .await
        .map_err(|e| unavailable("CreateTable", e))?;

    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| unavailable("DescribeTable", e))?;
        let active = described
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| s.as_str() == "ACTIVE");
        if active {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(schema.ttl_attribute)
                        .build()
                        .map_err(|e| build_error("TTL specification", e))?,
                )
                .send()
                .await
                .map_err(|e| unavailable("UpdateTimeToLive", e))?;
            return Ok(());
        }
        tokio_sleep_500ms().await;
    }
    Err(StoreError::Unavailable(format!(
        "table {name} did not become active"
    )))
}

async fn tokio_sleep_500ms() {
    // The SDK depends on tokio anyway; a plain timer keeps this crate free of runtime setup.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}

/// Creates a private bucket in `region` with public access blocked and SSE-S3 by default.
pub async fn create_bucket(
    client: &aws_sdk_s3::Client,
    name: &str,
    region: &str,
) -> Result<(), StoreError> {
    let mut request = client.create_bucket().bucket(name);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    request
        .send()
        .await
        .map_err(|e| unavailable("CreateBucket", e))?;
    client
        .put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| unavailable("PutPublicAccessBlock", e))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| build_error("bucket encryption", e))?,
        )
        .build();
    client
        .put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|e| build_error("bucket encryption", e))?,
        )
        .send()
        .await
        .map_err(|e| unavailable("PutBucketEncryption", e))?;
    Ok(())
}

/// Creates (starts verification of) a sender identity: an address or a domain.
pub async fn create_email_identity(
    client: &aws_sdk_sesv2::Client,
    identity: &str,
) -> Result<(), StoreError> {
    client
        .create_email_identity()
        .email_identity(identity)
        .send()
        .await
        .map_err(|e| unavailable("CreateEmailIdentity", e))?;
    Ok(())
}

/// Creates a custom event bus; returns its ARN.
pub async fn create_event_bus(
    client: &aws_sdk_eventbridge::Client,
    name: &str,
) -> Result<String, StoreError> {
    let created = client
        .create_event_bus()
        .name(name)
        .send()
        .await
        .map_err(|e| unavailable("CreateEventBus", e))?;
    created
        .event_bus_arn()
        .map(str::to_string)
        .ok_or_else(|| StoreError::Unavailable("CreateEventBus returned no ARN".into()))
}

/// A rule on `bus` that routes every Faktura event (source [`EVENT_SOURCE`]) to
/// `target_arn` (an SQS queue in tests, the workflow functions on AWS).
///
/// [`EVENT_SOURCE`]: faktura_domain::events::EVENT_SOURCE
pub async fn route_events(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    rule: &str,
    target_arn: &str,
) -> Result<(), StoreError> {
    let pattern = serde_json::json!({ "source": [faktura_domain::events::EVENT_SOURCE] });
    client
        .put_rule()
        .event_bus_name(bus)
        .name(rule)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(|e| unavailable("PutRule", e))?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("faktura-events")
        .arn(target_arn)
        .build()
        .map_err(|e| build_error("event target", e))?;
    let put = client
        .put_targets()
        .event_bus_name(bus)
        .rule(rule)
        .targets(target)
        .send()
        .await
        .map_err(|e| unavailable("PutTargets", e))?;
    if put.failed_entry_count() > 0 {
        return Err(StoreError::Unavailable(format!(
            "PutTargets failed: {:?}",
            put.failed_entries()
        )));
    }
    Ok(())
}
