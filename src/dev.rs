//! Dev mode (`--dev` only; no setting turns it on): an in-process Kafka
//! (librdkafka's mock cluster) that keeps nothing, demo write keys, the
//! demo page at `/demo/` and the unauthenticated `GET /dev/recent` (the
//! newest processed events) that the page shows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use tower_http::services::ServeDir;

use crate::config::{Secret, Settings, SourceKind, SourceSettings};
use crate::sink::tap::RecentEvents;

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
    let (topics, _) = crate::route::tables(&settings.kafka.topics, &settings.routes);
    for t in topics.distinct() {
        cluster
            .create_topic(&t.name, t.partitions, 1)
            .with_context(|| format!("creating mock topic {}", t.name))?;
    }
    settings.kafka.brokers = cluster.bootstrap_servers();
    settings.kafka.create_topics = false;
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

/// Where the demo page is served from: `js-snippet/` of the working
/// directory, when clickgate runs from a checkout.
pub fn demo_dir() -> Option<PathBuf> {
    let dir = Path::new("js-snippet");
    dir.is_dir().then(|| dir.to_path_buf())
}

/// The dev-only routes: `GET /dev/recent` and, when there is a demo
/// directory, the demo page under `/demo/`.
pub fn routes(tap: Arc<RecentEvents>, demo_dir: Option<&Path>) -> Router {
    let recent = Router::new().route(
        "/dev/recent",
        get(move || {
            let tap = Arc::clone(&tap);
            async move { axum::Json(tap.snapshot()) }
        }),
    );
    match demo_dir {
        Some(dir) => recent.nest_service("/demo", ServeDir::new(dir.join("demo"))),
        None => recent,
    }
}
