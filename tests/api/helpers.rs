//! Shared test helpers: settings, a running app on port 0, Kafka readers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clickgate::config::{Secret, Settings, SourceKind, SourceSettings};
use clickgate::http::Clock;
use clickgate::sink::memory::MemorySink;
use clickgate::sink::EventSink;
use clickgate::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const BROWSER_KEY: &str = "pk_test_browser";
pub const SERVER_KEY: &str = "sk_test_server";
pub const ALLOWED_ORIGIN: &str = "https://shop.example.com";

/// Settings for tests: port 0, a browser and a server source.
pub fn settings() -> Settings {
    let mut s = Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Settings::default()
    };
    s.sources = vec![
        SourceSettings {
            name: "web".into(),
            kind: SourceKind::Browser,
            keys: vec![Secret::new(BROWSER_KEY), Secret::new("pk_test_rotated")],
            allowed_origins: vec!["shop.example.com".into(), "*.example.org".into()],
            rate_limit: None,
        },
        SourceSettings {
            name: "backend".into(),
            kind: SourceKind::Server,
            keys: vec![Secret::new(SERVER_KEY)],
            allowed_origins: vec![],
            rate_limit: None,
        },
    ];
    s.shutdown_timeout = Duration::from_secs(3);
    s
}

/// A fixed clock: every request is received at this instant.
pub fn fixed_clock(at: &str) -> Clock {
    let t = clickgate::event::time::parse(at).expect("valid time");
    Arc::new(move || t)
}

/// An application running in the background; stops when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.handle.take() {
            Some(h) => h.await?,
            None => Ok(()),
        }
    }

    /// The status of `GET path`.
    pub async fn status_of(&self, path: &str) -> u16 {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }

    pub async fn post_batch(&self, key: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/batch"))
            .basic_auth(key, Some(""))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn run(app: Application) -> TestApp {
    let addr = app.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        stop: Some(tx),
        handle: Some(handle),
    }
}

/// Runs the app on the memory sink; returns the sink to inspect.
pub async fn spawn_memory(settings: Settings) -> (TestApp, MemorySink) {
    spawn_memory_with_clock(settings, clickgate::http::system_clock()).await
}

pub async fn spawn_memory_with_clock(settings: Settings, clock: Clock) -> (TestApp, MemorySink) {
    let (topics, _) = clickgate::route::tables(&settings.kafka.topics, &settings.routes);
    let sink = MemorySink::new(topics);
    let dyn_sink: Arc<dyn EventSink> = Arc::new(sink.clone());
    let app = Application::with_sink(settings, dyn_sink, Arc::new(|| true), clock)
        .await
        .expect("app builds");
    (run(app).await, sink)
}

/// Runs the app against real Kafka (or a mock cluster's bootstrap servers).
pub async fn spawn_kafka(settings: Settings) -> TestApp {
    let app = Application::build(settings)
        .await
        .expect("app builds against Kafka");
    run(app).await
}

/// The broker of the real-Kafka tests (`CLICKGATE_TEST_KAFKA`), or `None`
/// after saying on stderr that the test is skipped and how to run it. The
/// test command (scripts/test.sh) starts a broker and sets it, so there
/// nothing is skipped; `CLICKGATE_TEST_REQUIRE_KAFKA=1` turns a skip into a
/// failure.
pub fn real_kafka(test: &str) -> Option<String> {
    match std::env::var("CLICKGATE_TEST_KAFKA") {
        Ok(brokers) => Some(brokers),
        Err(_) if std::env::var_os("CLICKGATE_TEST_REQUIRE_KAFKA").is_some() => {
            panic!("CLICKGATE_TEST_REQUIRE_KAFKA is set but CLICKGATE_TEST_KAFKA is not")
        }
        Err(_) => {
            // Straight to stderr, past the test harness's capture, so the
            // skip shows in a plain `cargo test` run.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: needs a Kafka broker. Run `scripts/kafka.sh start` and \
                 `CLICKGATE_TEST_KAFKA=127.0.0.1:9092 cargo test`, or scripts/test.sh"
            );
            None
        }
    }
}

/// The broker for a test, or return from the test (skipped).
#[macro_export]
macro_rules! kafka_or_skip {
    ($test:expr) => {
        match $crate::helpers::real_kafka($test) {
            Some(brokers) => brokers,
            None => return,
        }
    };
}

/// Unique topic names for one test, created by clickgate at start-up.
pub fn fresh_topics(settings: &mut Settings, brokers: &str, partitions: i32) -> String {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("t{}", &run[..12]);
    settings.kafka.brokers = brokers.to_owned();
    settings.kafka.create_topics = true;
    settings.kafka.topics.raw = clickgate::config::TopicSettings::new(&format!("{prefix}.raw"), 1);
    settings.kafka.topics.events =
        clickgate::config::TopicSettings::new(&format!("{prefix}.events"), partitions);
    settings.kafka.topics.dlq = clickgate::config::TopicSettings::new(&format!("{prefix}.dlq"), 1);
    prefix
}

/// A record read back from Kafka.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub key: Option<String>,
    pub partition: i32,
    pub value: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

impl Consumed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `topic` from the beginning until `expected` records arrived (or
/// 30 s passed), then keeps reading 2 s more so extra records (duplicates)
/// are seen too.
pub fn consume(brokers: &str, topic: &str, expected: usize) -> Vec<Consumed> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::ClientConfig;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut settled = false;
    let mut out = Vec::new();
    while std::time::Instant::now() < deadline {
        if !settled && out.len() >= expected {
            settled = true;
            deadline = std::time::Instant::now() + Duration::from_secs(2);
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Consumed {
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    partition: m.partition(),
                    value: serde_json::from_slice(m.payload().unwrap_or_default())
                        .expect("records are JSON"),
                    headers,
                });
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    out
}
