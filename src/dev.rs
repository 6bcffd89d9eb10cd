//! Dev mode: an in-process Kafka (librdkafka's mock cluster) that keeps
//! nothing, demo write keys, and the demo page.

use std::path::Path;

use anyhow::Context as _;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::config::{Secret, Settings, SourceKind, SourceSettings};

/// The demo's browser write key.
pub const DEV_BROWSER_KEY: &str = "dev-key";
/// The demo's server write key (HTTP Basic only).
pub const DEV_SERVER_KEY: &str = "dev-server-key";

/// Keeps the mock cluster alive as long as the application runs.
pub struct DevCluster {
    _cluster: MockCluster<'static, DefaultProducerContext>,
}

/// Sources used when dev mode runs without configured sources.
pub fn dev_sources() -> Vec<SourceSettings> {
    vec![
        SourceSettings {
            name: "demo-web".into(),
            kind: SourceKind::Browser,
            keys: vec![Secret::new(DEV_BROWSER_KEY)],
            allowed_origins: vec!["*".into()],
            rate_limit: None,
        },
        SourceSettings {
            name: "demo-server".into(),
            kind: SourceKind::Server,
            keys: vec![Secret::new(DEV_SERVER_KEY)],
            allowed_origins: vec![],
            rate_limit: None,
        },
    ]
}

/// Starts the mock cluster with clickgate's topics and points the settings
/// at it.
pub fn prepare(settings: &mut Settings) -> anyhow::Result<DevCluster> {
    let cluster = MockCluster::new(1).context("starting the in-process mock Kafka")?;
    let topics = crate::sink::TopicTable::new(&settings.kafka, &settings.routes);
    for t in topics.distinct() {
        cluster
            .create_topic(&t.name, t.partitions, 1)
            .with_context(|| format!("creating mock topic {}", t.name))?;
    }
    settings.kafka.brokers = cluster.bootstrap_servers();
    settings.kafka.create_topics = false;
    if settings.demo_dir.is_none() && Path::new("js-snippet").is_dir() {
        settings.demo_dir = Some("js-snippet".into());
    }
    tracing::warn!(
        "DEV MODE: events go to an in-process mock Kafka and are NOT STORED ANYWHERE; \
         they are lost when clickgate stops. Never use --dev in production."
    );
    eprintln!(
        "\n  *** clickgate DEV MODE: in-memory mock Kafka, nothing is kept ***\n  \
         demo page: http://{}/demo/   browser key: {DEV_BROWSER_KEY}   server key: {DEV_SERVER_KEY}\n",
        settings.listen
    );
    Ok(DevCluster { _cluster: cluster })
}
