//! End to end against a real Apache Kafka broker (CLICKGATE_TEST_KAFKA):
//! records are read back with a real consumer.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

fn event(kind: &str, visitor: &str, id: &str) -> Value {
    match kind {
        "track" => {
            json!({"type": "track", "event": "Added to Cart", "anonymousId": visitor, "messageId": id,
                          "properties": {"sku": "A-1", "price": 9.5}})
        }
        _ => json!({"type": "page", "name": "Home", "anonymousId": visitor, "messageId": id,
                    "context": {"page": {"url": "https://shop.example.com/"}}}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_raw_and_dead_letters_land_in_kafka_with_keys_and_envelope() {
    let brokers =
        crate::kafka_or_skip!("events_raw_and_dead_letters_land_in_kafka_with_keys_and_envelope");
    let mut s = settings();
    let prefix = fresh_topics(&mut s, &brokers, 3);
    let app = spawn_kafka(s).await;

    let mut batch = Vec::new();
    for v in 0..4 {
        for i in 0..3 {
            let kind = if i % 2 == 0 { "page" } else { "track" };
            batch.push(event(
                kind,
                &format!("visitor-{v}"),
                &format!("{prefix}-{v}-{i}"),
            ));
        }
    }
    batch.push(json!({"type": "track", "anonymousId": "visitor-x", "messageId": "bad-1"}));
    let body = json!({"batch": batch, "sentAt": "2024-05-01T12:00:00Z"});
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(SERVER_KEY, Some(""))
        .header("user-agent", "e2e-test/1.0")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"], 12);

    let events = consume(&brokers, &format!("{prefix}.events"), 12);
    assert_eq!(events.len(), 12, "each event exactly once");
    let ids: HashSet<&str> = events
        .iter()
        .map(|r| r.value["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 12);
    let mut partition_of: HashMap<String, i32> = HashMap::new();
    for r in &events {
        let visitor = r.value["anonymousId"].as_str().unwrap();
        assert_eq!(
            r.key.as_deref(),
            Some(format!("{SERVER_KEY}:{visitor}").as_str())
        );
        let p = *partition_of
            .entry(visitor.to_owned())
            .or_insert(r.partition);
        assert_eq!(p, r.partition, "one visitor stays in one partition");
        assert_eq!(r.header("source"), Some("backend"));
        assert_eq!(r.header("type"), r.value["type"].as_str());
        assert!(r.value["receivedAt"].is_string());
    }
    // Order within a visitor is preserved.
    let v0: Vec<&str> = events
        .iter()
        .filter(|r| r.value["anonymousId"] == "visitor-0")
        .map(|r| r.value["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(
        v0,
        [
            format!("{prefix}-0-0"),
            format!("{prefix}-0-1"),
            format!("{prefix}-0-2")
        ]
    );

    let raw = consume(&brokers, &format!("{prefix}.raw"), 1);
    assert_eq!(raw.len(), 1, "one raw record per request");
    let env = &raw[0].value;
    assert_eq!(env["body"], body);
    assert_eq!(env["userAgent"], "e2e-test/1.0");
    assert_eq!(env["writeKey"], SERVER_KEY);
    assert_eq!(env["clientIp"], "127.0.0.0", "truncated to /24 by default");
    assert!(env["requestId"].is_string() && env["receivedAt"].is_string());

    let dlq = consume(&brokers, &format!("{prefix}.dlq"), 1);
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].value["reason"], "missing_event_name");
    assert_eq!(dlq[0].value["event"]["messageId"], "bad-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_are_refused_unless_creation_is_allowed() {
    let brokers = crate::kafka_or_skip!("missing_topics_are_refused_unless_creation_is_allowed");
    let mut s = settings();
    let prefix = fresh_topics(&mut s, &brokers, 1);
    s.kafka.create_topics = false;
    let err = clickgate::Application::build(s.clone())
        .await
        .err()
        .expect("refuses to start");
    assert!(
        format!("{err:#}").contains(&format!("{prefix}.raw")),
        "{err:#}"
    );
    s.kafka.create_topics = true;
    let app = spawn_kafka(s).await;
    assert_eq!(app.status_of("/readyz").await, 200);
}

/// A second broker this test may stop and start.
struct OwnBroker {
    script: PathBuf,
    port: u16,
    dir: PathBuf,
}

impl OwnBroker {
    fn run(&self, action: &str) {
        let status = Command::new("bash")
            .arg(&self.script)
            .arg(action)
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .status()
            .expect("kafka.sh runs");
        assert!(status.success(), "kafka.sh {action} failed");
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_outage_gives_503_and_posting_works_again_after_restart() {
    crate::kafka_or_skip!("kafka_outage_gives_503_and_posting_works_again_after_restart");
    let script = std::env::var("CLICKGATE_TEST_KAFKA_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh"));
    let broker = OwnBroker {
        script,
        port: 19192,
        dir: std::env::temp_dir().join(format!(
            "clickgate-outage-{}",
            uuid::Uuid::new_v4().simple()
        )),
    };
    broker.run("start");
    let brokers = format!("127.0.0.1:{}", broker.port);
    let mut s = settings();
    let prefix = fresh_topics(&mut s, &brokers, 1);
    s.kafka.delivery_timeout = Duration::from_secs(2);
    s.kafka.health_interval = Duration::from_millis(500);
    let app = spawn_kafka(s).await;
    let post = |id: &str| app.post_batch(SERVER_KEY, json!({"batch": [event("track", "v", id)]}));
    assert_eq!(post("before").await.status(), 200);

    broker.run("stop");
    let started = Instant::now();
    let res = post("during").await;
    assert_eq!(res.status(), 503, "never a 200 while Kafka is down");
    assert!(res.headers().contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered in {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.status_of("/readyz").await, 503);

    broker.run("start");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = post("after").await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            Instant::now() < deadline,
            "still failing a minute after Kafka came back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(app.status_of("/readyz").await, 200);
    let events = consume(&brokers, &format!("{prefix}.events"), 2);
    let ids: Vec<&str> = events
        .iter()
        .map(|r| r.value["messageId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"before") && ids.contains(&"after"), "{ids:?}");
    assert_eq!(ids.iter().filter(|i| **i == "after").count(), 1);
}
