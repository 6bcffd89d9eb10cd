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

#[tokio::test]
async fn dev_routes_exist_only_in_dev_mode_whatever_the_config_says() {
    // The key that used to turn the demo on is refused now, naming it.
    let text = format!("demo_dir = \"js-snippet\"\n{}", minimal_source_toml());
    let err = clickgate::Settings::from_toml(&text)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("demo_dir"), "{err}");
    let (app, _sink) = spawn_memory(settings()).await;
    for path in ["/dev/recent", "/demo/", "/demo/index.html"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        let v: Value = res.json().await.expect("a JSON error body");
        assert_eq!(v["error"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn the_request_id_is_returned_and_is_the_raw_envelopes() {
    let (app, sink) = spawn_memory(settings()).await;
    let body = json!({"batch": [{"type": "track", "event": "E", "userId": "u"}]});
    let res = app.post_batch(SERVER_KEY, body).await;
    assert_eq!(res.status(), 200);
    let id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("X-Request-Id")
        .to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id)
            .expect("a uuid")
            .get_version_num(),
        7
    );
    let raw = sink.records_in("clickstream.raw");
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].json()["requestId"], id.as_str());
    let other = app.status_of("/healthz").await;
    assert_eq!(other, 200);
}

#[test]
fn check_config_refuses_an_unknown_route_type_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("cg-check-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clickgate.toml");
    let route =
        "[[routes]]\npattern = \"Order *\"\ntype = \"purchase\"\ntopic = { name = \"orders\" }\n";
    std::fs::write(&file, format!("{}{route}", minimal_source_toml())).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clickgate"))
        .arg("--config")
        .arg(&file)
        .arg("--check-config")
        .env_remove("CLICKGATE_TEST_KAFKA")
        .output()
        .expect("clickgate runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("routes") && err.contains("type"), "{err}");
    assert!(err.contains("purchase"), "{err}");
}

fn minimal_source_toml() -> &'static str {
    "[[sources]]\nname = \"web\"\nkind = \"browser\"\nkeys = [\"k1\"]\nallowed_origins = [\"*\"]\n"
}
