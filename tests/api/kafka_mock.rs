//! Producer error paths against librdkafka's mock cluster (fault injection).

use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use serde_json::{json, Value};

use crate::helpers::*;

fn mock_cluster(s: &clickgate::Settings) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("mock cluster");
    for t in [
        &s.kafka.topics.raw,
        &s.kafka.topics.events,
        &s.kafka.topics.dlq,
    ] {
        cluster
            .create_topic(&t.name, t.partitions, 1)
            .expect("topic");
    }
    cluster
}

fn batch(n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"type": "track", "event": "E", "anonymousId": format!("a{i}")}))
        .collect();
    json!({"batch": events})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_gives_503_within_the_timeout_and_recovers() {
    let mut s = settings();
    s.kafka.delivery_timeout = Duration::from_secs(1);
    s.kafka.health_interval = Duration::from_millis(200);
    let cluster = mock_cluster(&s);
    s.kafka.brokers = cluster.bootstrap_servers();
    let app = spawn_kafka(s).await;
    assert_eq!(app.post_batch(SERVER_KEY, batch(2)).await.status(), 200);

    cluster.broker_down(1).expect("broker down");
    let started = Instant::now();
    let res = app.post_batch(SERVER_KEY, batch(2)).await;
    assert_eq!(res.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        started.elapsed()
    );
    assert!(res.headers().contains_key("retry-after"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "unavailable");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.status_of("/readyz").await, 503);

    cluster.broker_up(1).expect("broker up");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = app.post_batch(SERVER_KEY, batch(2)).await.status();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after the broker came back"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(app.status_of("/readyz").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_producer_queue_is_a_503_not_a_crash() {
    let mut s = settings();
    s.kafka
        .producer
        .insert("queue.buffering.max.messages".into(), "2".into());
    let cluster = mock_cluster(&s);
    s.kafka.brokers = cluster.bootstrap_servers();
    let app = spawn_kafka(s).await;
    let res = app.post_batch(SERVER_KEY, batch(10)).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let v: Value = res.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("queue full"), "{v}");
    // Small requests still fit once the queue drains (how soon depends on
    // the machine: poll, bounded).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app
            .client
            .post(app.url("/v1/track"))
            .basic_auth(SERVER_KEY, Some(""))
            .json(&json!({"event": "E", "userId": "u"}))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 503, "only the queue can refuse it");
        assert!(Instant::now() < deadline, "the queue never drained");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_too_large_for_kafka_is_a_413() {
    let mut s = settings();
    s.kafka
        .producer
        .insert("message.max.bytes".into(), "2000".into());
    let cluster = mock_cluster(&s);
    s.kafka.brokers = cluster.bootstrap_servers();
    let app = spawn_kafka(s).await;
    let big = json!({"batch": [{"type": "track", "event": "E", "userId": "u", "properties": {"p": "x".repeat(3000)}}]});
    let res = app.post_batch(SERVER_KEY, big).await;
    assert_eq!(res.status(), 413);
    let v: Value = res.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("bytes"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topic_refuses_to_start_naming_it() {
    let mut s = settings();
    s.kafka.startup_timeout = Duration::from_secs(5);
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster
        .create_topic(&s.kafka.topics.raw.name, 1, 1)
        .expect("topic");
    cluster
        .create_topic(&s.kafka.topics.dlq.name, 1, 1)
        .expect("topic");
    s.kafka.brokers = cluster.bootstrap_servers();
    let err = clickgate::Application::build(s)
        .await
        .err()
        .expect("refuses to start");
    let text = format!("{err:#}");
    assert!(text.contains("clickstream.events"), "{text}");
    assert!(text.contains("kafka.create_topics"), "{text}");
}
