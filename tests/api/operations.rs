//! Health, readiness and metrics.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_follow_the_sink() {
    let (app, sink) = spawn_memory(settings()).await;
    assert_eq!(app.status_of("/healthz").await, 200);
    assert_eq!(app.status_of("/readyz").await, 200);
    sink.fail_with(Some(clickgate::sink::SinkError::Unavailable(
        "broker gone".into(),
    )));
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(app.status_of("/healthz").await, 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_events_by_reason() {
    let (app, _sink) = spawn_memory(settings()).await;
    let body = json!({"batch": [{"type": "track", "event": "E", "userId": "u"}, {"type": "nope", "userId": "u"}]});
    assert_eq!(app.post_batch(SERVER_KEY, body).await.status(), 200);
    // A URL with an id in it must not become a label.
    app.client
        .get(app.url("/v1/users/12345"))
        .send()
        .await
        .unwrap();
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |needle: &str| text.lines().any(|l| l.starts_with(needle));
    assert!(
        has("clickgate_http_requests_total{route=\"/v1/batch\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        has("clickgate_events_rejected_total{reason=\"unknown_type\"}"),
        "{text}"
    );
    assert!(
        has("clickgate_events_accepted_total{source=\"backend\"}"),
        "{text}"
    );
    assert!(
        has("clickgate_http_request_duration_seconds_bucket{route=\"/v1/batch\",le=\"0.005\"}"),
        "{text}"
    );
    assert!(!text.contains("12345"), "raw URIs never become labels");
    assert!(has("clickgate_build_info{version="), "{text}");
}

#[tokio::test]
async fn shutdown_finishes_and_returns() {
    let (app, _sink) = spawn_memory(settings()).await;
    let started = std::time::Instant::now();
    app.stop().await.expect("clean stop");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
