//! `[kafka]`: the cluster, the topics clickgate writes, how requests wait
//! for acknowledgements, and extra producer properties.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::setting::{invalid, positive, ConfigError};

/// Largest record the producer sends; the raw topic carries whole request
/// bodies, so topics clickgate creates accept this much too.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    /// Create missing topics at start-up; otherwise refuse to start.
    pub create_topics: bool,
    pub replication_factor: i32,
    /// When a request is answered: after the broker acknowledged every
    /// record (`kafka`), or as soon as the records are queued (`enqueue`).
    pub ack: AckMode,
    /// Longest wait for Kafka to acknowledge a request's records before
    /// answering 503; also librdkafka's `message.timeout.ms`.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// How often broker reachability and topic presence are checked.
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
    /// How long start-up waits for the cluster before giving up.
    #[serde(with = "humantime_serde")]
    pub startup_timeout: Duration,
    pub topics: Topics,
    /// Extra librdkafka properties, applied last (e.g. `"linger.ms" = "20"`,
    /// `"security.protocol" = "SASL_SSL"`).
    pub producer: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            create_topics: false,
            replication_factor: 1,
            ack: AckMode::Kafka,
            delivery_timeout: Duration::from_secs(5),
            health_interval: Duration::from_secs(2),
            startup_timeout: Duration::from_secs(30),
            topics: Topics::default(),
            producer: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    Kafka,
    Enqueue,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    pub raw: TopicSettings,
    pub events: TopicSettings,
    pub dlq: TopicSettings,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            raw: TopicSettings::new("clickstream.raw", 6),
            events: TopicSettings::new("clickstream.events", 6),
            dlq: TopicSettings::new("clickstream.dlq", 1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSettings {
    pub name: String,
    #[serde(default = "default_partitions")]
    pub partitions: i32,
}

fn default_partitions() -> i32 {
    6
}

impl TopicSettings {
    pub fn new(name: &str, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
        }
    }
}

impl KafkaSettings {
    /// Checks this section on its own, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(invalid("kafka.brokers", "must not be empty"));
        }
        if self.replication_factor < 1 {
            return Err(invalid("kafka.replication_factor", "must be at least 1"));
        }
        positive([
            ("kafka.delivery_timeout", self.delivery_timeout),
            ("kafka.health_interval", self.health_interval),
        ])?;
        validate_topic("kafka.topics.raw", &self.topics.raw)?;
        validate_topic("kafka.topics.events", &self.topics.events)?;
        validate_topic("kafka.topics.dlq", &self.topics.dlq)
    }
}

pub fn validate_topic(key: &str, topic: &TopicSettings) -> Result<(), ConfigError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.name.is_empty() || topic.name.len() > 249 || !topic.name.chars().all(legal) {
        return Err(invalid(
            format!("{key}.name"),
            format!("{:?} is not a legal Kafka topic name", topic.name),
        ));
    }
    if topic.partitions < 1 {
        return Err(invalid(format!("{key}.partitions"), "must be at least 1"));
    }
    Ok(())
}
