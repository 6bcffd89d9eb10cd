//! Start-up topic check: every configured topic must exist; it is created
//! only when `kafka.create_topics` allows, never from request data.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::metadata::Metadata;

use super::config::{KafkaSettings, MAX_MESSAGE_BYTES};
use super::TopicTable;

fn admin(kafka: &KafkaSettings) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.brokers);
    // Security settings (SASL/TLS) apply to the admin client too.
    for (k, v) in &kafka.producer {
        if k.starts_with("security.") || k.starts_with("sasl.") || k.starts_with("ssl.") {
            cfg.set(k, v);
        }
    }
    cfg.create().context("creating the Kafka admin client")
}

async fn metadata(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    deadline: Instant,
    brokers: &str,
) -> anyhow::Result<Metadata> {
    loop {
        let client = Arc::clone(admin);
        let result = tokio::task::spawn_blocking(move || {
            client.inner().fetch_metadata(None, Duration::from_secs(2))
        })
        .await
        .context("metadata task")?;
        match result {
            Ok(md) if !md.brokers().is_empty() => return Ok(md),
            Ok(_) => {}
            Err(e) if Instant::now() >= deadline => {
                bail!("Kafka at {brokers} is unreachable: {e}")
            }
            Err(e) => tracing::warn!(error = %e, brokers, "waiting for Kafka"),
        }
        if Instant::now() >= deadline {
            bail!("Kafka at {brokers} reported no brokers");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Checks every topic in `topics`, creating the missing ones when allowed.
pub async fn ensure(kafka: &KafkaSettings, topics: &TopicTable) -> anyhow::Result<()> {
    let admin = Arc::new(admin(kafka)?);
    let deadline = Instant::now() + kafka.startup_timeout;
    let md = metadata(&admin, deadline, &kafka.brokers).await?;
    let mut missing = Vec::new();
    for t in topics.distinct() {
        match md
            .topics()
            .iter()
            .find(|m| m.name() == t.name && m.error().is_none())
        {
            Some(m) => {
                let have = i32::try_from(m.partitions().len()).unwrap_or(i32::MAX);
                if have < t.partitions {
                    tracing::warn!(topic = %t.name, have, configured = t.partitions, "topic has fewer partitions than configured");
                }
            }
            None => missing.push(t),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !kafka.create_topics {
        let names: Vec<&str> = missing.iter().map(|t| t.name.as_str()).collect();
        bail!(
            "Kafka topic(s) {} do not exist; create them, or set kafka.create_topics = true \
             (CLICKGATE_KAFKA_CREATE_TOPICS=true) to let clickgate create them",
            names.join(", ")
        );
    }
    let max_bytes = MAX_MESSAGE_BYTES.to_string();
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|t| {
            NewTopic::new(
                &t.name,
                t.partitions,
                TopicReplication::Fixed(kafka.replication_factor),
            )
            .set("max.message.bytes", &max_bytes)
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .context("creating topics")?;
    for r in results {
        match r {
            Ok(name) => tracing::info!(topic = %name, "created topic"),
            Err((name, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::info!(topic = %name, "topic was created concurrently")
            }
            Err((name, code)) => bail!("creating topic {name} failed: {code}"),
        }
    }
    // Wait until the new topics show up in metadata with leaders.
    let names: Vec<&str> = missing.iter().map(|t| t.name.as_str()).collect();
    loop {
        let md = metadata(&admin, deadline, &kafka.brokers).await?;
        let ready = names.iter().all(|n| {
            md.topics().iter().any(|m| {
                m.name() == *n
                    && m.error().is_none()
                    && !m.partitions().is_empty()
                    && m.partitions().iter().all(|p| p.leader() >= 0)
            })
        });
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "created topics {} did not become ready in time",
                names.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
