//! The outbox's variables: where relayed events go, and how often and how long it is kept.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::platform::config::value::{Unit, duration, secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventPublisherKind {
    Kafka,
    Log,
    None,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Events (the outbox)")]
pub struct OutboxConfig {
    /// Where domain events go: `kafka` (KAFKA_BROKERS), `log` (a line each) or `none` (dropped
    /// once relayed).
    #[arg(id = "event_publisher", long = "event-publisher", env = "EVENT_PUBLISHER", value_enum, default_value_t = EventPublisherKind::Log)]
    pub publisher: EventPublisherKind,

    /// Kafka's bootstrap brokers, `host:port`, comma-separated (EVENT_PUBLISHER=kafka).
    #[arg(id = "kafka_brokers", long = "kafka-brokers", env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,

    /// librdkafka properties for a managed Kafka, one `key=value` a line (`security.protocol`,
    /// `sasl.mechanisms`, `sasl.username`, `ssl.ca.location`, …). Any variable KAFKA_<NAME> sets
    /// the property `<name>` too (lower-cased, `_` read as `.`: KAFKA_SECURITY_PROTOCOL=SASL_SSL),
    /// winning over the file; the password is KAFKA_SASL_PASSWORD (a secret).
    #[arg(
        id = "kafka_properties_file",
        long = "kafka-properties-file",
        env = "KAFKA_PROPERTIES_FILE"
    )]
    pub kafka_properties_file: Option<PathBuf>,

    /// AWS MSK's IAM access control: SASL_SSL with OAUTHBEARER tokens signed by the AWS SDK's
    /// credentials (the pod's role on EKS) for AWS_REGION, refreshed before they expire.
    #[arg(
        id = "kafka_aws_msk_iam",
        long = "kafka-aws-msk-iam",
        env = "KAFKA_AWS_MSK_IAM",
        default_value_t = false
    )]
    pub kafka_aws_msk_iam: bool,

    /// KAFKA_SASL_PASSWORD (a secret).
    #[arg(skip)]
    pub kafka_sasl_password: Option<SecretString>,

    /// Events go to the topic `<prefix><aggregate>`: `insurance.policy`, `.payment`, `.claim`.
    #[arg(
        id = "kafka_topic_prefix",
        long = "kafka-topic-prefix",
        env = "KAFKA_TOPIC_PREFIX",
        default_value = "insurance."
    )]
    pub kafka_topic_prefix: String,

    /// How often (s) every tenant's outbox is relayed, measured and pruned (besides the relay
    /// right after each commit).
    #[arg(id = "outbox_sweep_secs", long = "outbox-sweep-secs", env = "OUTBOX_SWEEP_SECS", default_value = "30", value_parser = secs)]
    pub sweep: Duration,

    /// How long (h) published events stay in the outbox.
    #[arg(id = "outbox_retention_hours", long = "outbox-retention-hours", env = "OUTBOX_RETENTION_HOURS", default_value = "168", value_parser = duration(Unit::Hours, 0, u64::MAX))]
    pub retention: Duration,
}
