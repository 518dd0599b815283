//! A development copy of the stack's data plane on any AWS-compatible endpoint (moto): the
//! table from `faktura_aws::schema::TABLE`, the documents bucket, the event bus, and per
//! `faktura_aws::stack::ROUTES` entry a queue with its dead-letter queue and the rule feeding
//! it. The SAM template declares the same things (`tests/local/template.rs` checks), so functions
//! run against this under `cargo lambda watch` behave as deployed. The end-to-end tests build
//! their stacks with this too.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use faktura_aws::stack::{INBOX_PREFIX, INBOX_QUEUE, MAX_RECEIVES, ROUTES, WorkRoute};

/// A route's queues.
#[derive(Debug, Clone)]
pub struct RouteQueues {
    pub route: WorkRoute,
    pub url: String,
    pub arn: String,
    pub dead_letter_url: String,
}

#[derive(Debug, Clone)]
pub struct DevStack {
    pub table: String,
    pub bucket: String,
    pub bus: String,
    pub queues: Vec<RouteQueues>,
    /// The inbox queue (S3 notifies it of statements put under `inbox/`): URL and ARN.
    pub inbox_url: String,
    pub inbox_arn: String,
}

/// Names: `{name}` for the table, `{name}-documents`, `{name}-bus`, `{name}-issue` …
pub async fn create(
    sdk: &SdkConfig,
    name: &str,
    visibility_timeout_seconds: u32,
) -> Result<DevStack, String> {
    let failed = |what: &str| {
        let what = what.to_string();
        move |e: faktura_domain::StoreError| format!("{what}: {e}")
    };
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .ok_or("no AWS region configured (set AWS_REGION)")?;
    let table = name.to_string();
    let bucket = format!("{name}-documents");
    let bus = format!("{name}-bus");
    faktura_aws::setup::create_table(
        &aws_sdk_dynamodb::Client::new(sdk),
        &table,
        &faktura_aws::TABLE,
    )
    .await
    .map_err(failed("table"))?;
    // Local endpoints have no per-bucket host names.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    faktura_aws::setup::create_bucket(&s3, &bucket, &region)
        .await
        .map_err(failed("bucket"))?;
    let eventbridge = aws_sdk_eventbridge::Client::new(sdk);
    faktura_aws::setup::create_event_bus(&eventbridge, &bus)
        .await
        .map_err(failed("event bus"))?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queues = Vec::new();
    for route in ROUTES {
        let queue_name = format!("{name}-{}", route.name.to_ascii_lowercase());
        let (dead_letter_url, dead_letter_arn) =
            create_queue(&sqs, &format!("{queue_name}-dlq"), HashMap::new()).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": MAX_RECEIVES,
        });
        let (url, arn) = create_queue(
            &sqs,
            &queue_name,
            HashMap::from([
                (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                (
                    QueueAttributeName::VisibilityTimeout,
                    visibility_timeout_seconds.to_string(),
                ),
            ]),
        )
        .await?;
        let rule = format!("{}Rule", route.name);
        eventbridge
            .put_rule()
            .event_bus_name(&bus)
            .name(&rule)
            .event_pattern(route.event_pattern().to_string())
            .send()
            .await
            .map_err(|e| format!("rule {rule}: {e}"))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id(format!("{}Queue", route.name))
            .arn(&arn)
            .build()
            .map_err(|e| format!("target of {rule}: {e}"))?;
        eventbridge
            .put_targets()
            .event_bus_name(&bus)
            .rule(&rule)
            .targets(target)
            .send()
            .await
            .map_err(|e| format!("target of {rule}: {e}"))?;
        queues.push(RouteQueues {
            route,
            url,
            arn,
            dead_letter_url,
        });
    }
    // The inbox: S3 tells its queue of every object created under inbox/.
    let inbox_name = format!("{name}-{}", INBOX_QUEUE.to_ascii_lowercase());
    let (_, inbox_dead_letter_arn) =
        create_queue(&sqs, &format!("{inbox_name}-dlq"), HashMap::new()).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": inbox_dead_letter_arn,
        "maxReceiveCount": MAX_RECEIVES,
    });
    let (inbox_url, inbox_arn) = create_queue(
        &sqs,
        &inbox_name,
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout_seconds.to_string(),
            ),
        ]),
    )
    .await?;
    let filter = aws_sdk_s3::types::NotificationConfigurationFilter::builder()
        .key(
            aws_sdk_s3::types::S3KeyFilter::builder()
                .filter_rules(
                    aws_sdk_s3::types::FilterRule::builder()
                        .name(aws_sdk_s3::types::FilterRuleName::Prefix)
                        .value(INBOX_PREFIX)
                        .build(),
                )
                .build(),
        )
        .build();
    let queue_configuration = aws_sdk_s3::types::QueueConfiguration::builder()
        .queue_arn(&inbox_arn)
        .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
        .filter(filter)
        .build()
        .map_err(|e| format!("inbox notification: {e}"))?;
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(queue_configuration)
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("inbox notification: {e}"))?;
    Ok(DevStack {
        table,
        bucket,
        bus,
        queues,
        inbox_url,
        inbox_arn,
    })
}

impl DevStack {
    pub fn queue(&self, route: &WorkRoute) -> &RouteQueues {
        self.queues
            .iter()
            .find(|q| q.route.name == route.name)
            .expect("every route has queues")
    }
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<(String, String), String> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| format!("queue {name}: {e}"))?
        .queue_url()
        .ok_or_else(|| format!("queue {name}: no URL"))?
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("queue {name}: {e}"))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .ok_or_else(|| format!("queue {name}: no ARN"))?
        .clone();
    Ok((url, arn))
}
