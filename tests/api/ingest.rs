//! Ingestion through the HTTP API, on the memory sink.

use std::io::Write;

use serde_json::{json, Value};

use crate::helpers::*;

fn track(id: &str) -> Value {
    json!({"type": "track", "event": "Clicked", "anonymousId": "anon-1", "messageId": id,
           "properties": {"button": "buy"}, "context": {"locale": "en-GB"}})
}

#[tokio::test]
async fn batch_with_one_bad_event_accepts_the_rest() {
    let (app, sink) = spawn_memory(settings()).await;
    let body =
        json!({"batch": [track("m1"), {"type": "track", "event": "No identity"}, track("m3")]});

    let res = app.post_batch(SERVER_KEY, body).await;

    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"], 2);
    assert_eq!(
        v["rejected"],
        json!([{"index": 1, "reason": "missing_identity",
        "message": "every event needs `anonymousId` or `userId`"}])
    );
    let events = sink.records_in("clickstream.events");
    let ids: Vec<Value> = events
        .iter()
        .map(|r| r.json()["messageId"].clone())
        .collect();
    assert_eq!(ids, vec![json!("m1"), json!("m3")]);
    let dlq = sink.records_in("clickstream.dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].json()["reason"], "missing_identity");
    assert_eq!(dlq[0].json()["index"], 1);
    assert_eq!(
        dlq[0].json()["event"],
        json!({"type": "track", "event": "No identity"})
    );
    assert_eq!(sink.records_in("clickstream.raw").len(), 1);
}

#[tokio::test]
async fn events_are_normalised_keyed_and_stamped() {
    let clock = fixed_clock("2024-05-01T12:00:00Z");
    let (app, sink) = spawn_memory_with_clock(settings(), clock).await;
    let body = json!({"batch": [{"type": "page", "name": "Home", "userId": 7,
        "timestamp": "2024-05-01T13:00:00Z"}], "sentAt": "2024-05-01T13:00:02Z"});

    let res = app.post_batch(SERVER_KEY, body).await;

    assert_eq!(res.status(), 200);
    let rec = &sink.records_in("clickstream.events")[0];
    let v = rec.json();
    assert_eq!(v["type"], "page");
    assert_eq!(v["userId"], "7", "numeric ids become strings");
    assert_eq!(v["receivedAt"], "2024-05-01T12:00:00.000Z");
    assert_eq!(
        v["timestamp"], "2024-05-01T11:59:58.000Z",
        "clock skew removed"
    );
    assert_eq!(v["originalTimestamp"], "2024-05-01T13:00:00.000Z");
    assert_eq!(v["source"], "backend");
    let id = uuid::Uuid::parse_str(v["messageId"].as_str().unwrap()).expect("assigned uuid");
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(
        rec.key.as_deref(),
        Some(format!("{SERVER_KEY}:7").as_bytes())
    );
    assert_eq!(rec.source, "backend");
    assert_eq!(rec.kind, "page");
}

#[tokio::test]
async fn single_event_routes_imply_the_type() {
    let (app, sink) = spawn_memory(settings()).await;
    for (path, body) in [
        ("/v1/track", json!({"event": "Signed Up", "userId": "u1"})),
        ("/v1/page", json!({"name": "Pricing", "anonymousId": "a1"})),
        ("/v1/screen", json!({"name": "Home", "anonymousId": "a1"})),
        (
            "/v1/identify",
            json!({"userId": "u1", "traits": {"plan": "pro"}}),
        ),
        ("/v1/group", json!({"userId": "u1", "groupId": "g1"})),
        ("/v1/alias", json!({"userId": "u1", "previousId": "a1"})),
    ] {
        let res = app
            .client
            .post(app.url(path))
            .basic_auth(SERVER_KEY, Some(""))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let types: Vec<String> = sink
        .records_in("clickstream.events")
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        ["track", "page", "screen", "identify", "group", "alias"]
    );
}

#[tokio::test]
async fn invalid_single_event_is_a_400_and_a_dead_letter() {
    let (app, sink) = spawn_memory(settings()).await;
    let res = app
        .client
        .post(app.url("/v1/track"))
        .basic_auth(SERVER_KEY, Some(""))
        .json(&json!({"userId": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["rejected"][0]["reason"], "missing_event_name");
    assert_eq!(sink.records_in("clickstream.dlq").len(), 1);
}

#[tokio::test]
async fn write_key_may_come_from_body_or_query_for_browser_sources() {
    let (app, sink) = spawn_memory(settings()).await;
    let body = json!({"batch": [track("b1")], "writeKey": BROWSER_KEY});
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url(&format!("/v1/batch?writeKey={BROWSER_KEY}")))
        .body(json!({"batch": [track("q1")]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url("/v1/track"))
        .body(json!({"event": "E", "userId": "u", "writeKey": "pk_test_rotated"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a rotated key works too");
    assert_eq!(sink.records_in("clickstream.events").len(), 3);
    assert!(sink
        .records_in("clickstream.events")
        .iter()
        .all(|r| r.source == "web"));
}

#[tokio::test]
async fn unknown_or_missing_key_is_401_and_nothing_is_stored() {
    let (app, sink) = spawn_memory(settings()).await;
    let res = app.post_batch("nope", json!({"batch": [track("x")]})).await;
    assert_eq!(res.status(), 401);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "unauthorized");
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .json(&json!({"batch": [track("x")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(sink.records().is_empty());
}

#[tokio::test]
async fn server_key_in_a_url_or_body_is_refused() {
    let (app, sink) = spawn_memory(settings()).await;
    let res = app
        .client
        .post(app.url(&format!("/v1/batch?writeKey={SERVER_KEY}")))
        .json(&json!({"batch": [track("x")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let msg = res.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("HTTP Basic"), "{msg}");
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .json(&json!({"batch": [track("x")], "writeKey": SERVER_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(sink.records().is_empty());
}

#[tokio::test]
async fn gzip_bodies_are_accepted_with_or_without_the_header() {
    let mut s = settings();
    // The same body is sent twice; keep the second from being a duplicate.
    s.enrich.dedupe.enabled = false;
    let (app, sink) = spawn_memory(s).await;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(
        json!({"batch": [track("g1")], "writeKey": BROWSER_KEY})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let gz = enc.finish().unwrap();
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .header("content-encoding", "gzip")
        .header("content-type", "application/json")
        .body(gz.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Browsers gzip with CompressionStream and send text/plain without the
    // header (it would force a preflight); the magic bytes tell.
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .header("content-type", "text/plain")
        .body(gz)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(sink.records_in("clickstream.events").len(), 2);
    let raw = sink.records_in("clickstream.raw")[0].json();
    assert_eq!(
        raw["body"]["batch"][0]["messageId"], "g1",
        "raw holds the inflated body"
    );
}

#[tokio::test]
async fn whole_request_problems_get_their_status() {
    let (app, sink) = spawn_memory(settings()).await;
    let send = |body: Vec<u8>, ctype: &'static str| {
        app.client
            .post(app.url("/v1/batch"))
            .basic_auth(SERVER_KEY, Some(""))
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (
            b"{\"batch\": [".to_vec(),
            "application/json",
            400,
            "not valid JSON",
        ),
        (b"not json".to_vec(), "text/plain", 400, "not valid JSON"),
        (
            vec![0xff, 0xfe, 0x00],
            "application/json",
            400,
            "not valid JSON",
        ),
        (
            b"{\"batch\": []}".to_vec(),
            "application/json",
            400,
            "empty",
        ),
        (
            b"{\"batch\": {\"a\": 1}}".to_vec(),
            "application/json",
            400,
            "`batch` array",
        ),
        (
            b"[1,2]".to_vec(),
            "application/json",
            400,
            "must be a JSON object",
        ),
        (
            b"{}".to_vec(),
            "application/xml",
            415,
            "application/json or text/plain",
        ),
        (
            vec![b' '; 600 * 1024],
            "application/json",
            413,
            "512000 bytes",
        ),
    ];
    for (body, ctype, status, needle) in cases {
        let res = send(body, ctype).await.unwrap();
        assert_eq!(res.status(), status, "case {needle}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["success"], false);
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }
    assert!(sink.records().is_empty());
}

#[tokio::test]
async fn too_many_events_in_a_batch_is_413_naming_the_limit() {
    let mut s = settings();
    s.limits.max_batch_events = 5;
    let (app, _sink) = spawn_memory(s).await;
    let events: Vec<Value> = (0..6).map(|i| track(&format!("m{i}"))).collect();
    let res = app.post_batch(SERVER_KEY, json!({"batch": events})).await;
    assert_eq!(res.status(), 413);
    let msg = res.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("limits.max_batch_events"), "{msg}");
}

#[tokio::test]
async fn oversized_event_is_rejected_alone() {
    let mut s = settings();
    s.limits.max_event_bytes = 200;
    let (app, sink) = spawn_memory(s).await;
    let mut big = track("big");
    big["properties"]["pad"] = json!("x".repeat(300));
    let res = app
        .post_batch(SERVER_KEY, json!({"batch": [track("ok"), big]}))
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"][0]["reason"], "event_too_large");
    assert!(v["rejected"][0]["message"]
        .as_str()
        .unwrap()
        .contains("limits.max_event_bytes"));
    assert_eq!(sink.records_in("clickstream.events").len(), 1);
}

#[tokio::test]
async fn pixel_answers_a_gif_even_when_the_event_is_rejected() {
    let (app, sink) = spawn_memory(settings()).await;
    let ok = app
        .client
        .get(app.url(&format!(
            "/v1/pixel.gif?writeKey={BROWSER_KEY}&event=Email%20Opened&anonymousId=a9&campaign=nov"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "image/gif");
    assert_eq!(
        ok.headers()["cache-control"],
        "no-store, no-cache, must-revalidate, private"
    );
    assert_eq!(&ok.bytes().await.unwrap()[..6], b"GIF89a");
    let bad = app
        .client
        .get(app.url(&format!(
            "/v1/pixel.gif?writeKey={BROWSER_KEY}&event=Email%20Opened"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 200);
    assert_eq!(bad.headers()["x-clickgate-status"], "rejected");
    assert_eq!(bad.headers()["content-type"], "image/gif");
    let events = sink.records_in("clickstream.events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].json()["event"], "Email Opened");
    assert_eq!(events[0].json()["properties"]["campaign"], "nov");
    assert_eq!(
        sink.records_in("clickstream.dlq")[0].json()["reason"],
        "missing_identity"
    );
}

#[tokio::test]
async fn raw_envelope_carries_request_facts() {
    let (app, sink) = spawn_memory(settings()).await;
    let body = json!({"batch": [track("r1")]});
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(SERVER_KEY, Some(""))
        .header("user-agent", "analytics-python/2.3")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let raw = sink.records_in("clickstream.raw")[0].json();
    assert_eq!(raw["body"], body, "the body as received");
    assert_eq!(raw["userAgent"], "analytics-python/2.3");
    assert_eq!(raw["writeKey"], SERVER_KEY);
    assert_eq!(raw["source"], "backend");
    assert_eq!(raw["path"], "/v1/batch");
    assert_eq!(raw["clientIp"], "127.0.0.0", "truncated to /24 by default");
    assert!(raw["receivedAt"].as_str().unwrap().ends_with('Z'));
    uuid::Uuid::parse_str(raw["requestId"].as_str().unwrap()).expect("request id");
}

#[tokio::test]
async fn routing_rules_send_matching_events_elsewhere() {
    let mut s = settings();
    s.routes = vec![clickgate::config::RouteRule {
        pattern: "Order *".into(),
        r#type: Some(clickgate::event::EventType::Track),
        topic: clickgate::config::TopicSettings::new("clickstream.orders", 3),
    }];
    let (app, sink) = spawn_memory(s).await;
    let order = json!({"type": "track", "event": "Order Completed", "userId": "u"});
    let page = json!({"type": "page", "name": "Order History", "userId": "u"});
    let res = app
        .post_batch(SERVER_KEY, json!({"batch": [order, page, track("t")]}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(sink.records_in("clickstream.orders").len(), 1);
    assert_eq!(
        sink.records_in("clickstream.events").len(),
        2,
        "type filter keeps the page"
    );
}

#[tokio::test]
async fn random_partitioning_sends_no_key() {
    let mut s = settings();
    s.partitioning.key = clickgate::config::PartitionKey::Random;
    let (app, sink) = spawn_memory(s).await;
    app.post_batch(SERVER_KEY, json!({"batch": [track("k")]}))
        .await;
    assert!(sink.records_in("clickstream.events")[0].key.is_none());
}

#[tokio::test]
async fn sink_failures_map_to_retryable_503_or_413() {
    use clickgate::sink::SinkError;
    let (app, sink) = spawn_memory(settings()).await;
    for (err, status, retry) in [
        (SinkError::Unavailable("down".into()), 503, true),
        (SinkError::QueueFull, 503, true),
        (
            SinkError::Timeout(std::time::Duration::from_secs(5)),
            503,
            true,
        ),
        (
            SinkError::RecordTooLarge {
                topic: "t".into(),
                bytes: 9,
            },
            413,
            false,
        ),
    ] {
        sink.fail_with(Some(err.clone()));
        let res = app
            .post_batch(SERVER_KEY, json!({"batch": [track("f")]}))
            .await;
        assert_eq!(res.status(), status, "{err:?}");
        assert_eq!(res.headers().contains_key("retry-after"), retry, "{err:?}");
    }
}

#[tokio::test]
async fn browser_key_from_a_disallowed_origin_is_403() {
    let (app, sink) = spawn_memory(settings()).await;
    let send = |origin: &'static str| {
        app.client
            .post(app.url(&format!("/v1/batch?writeKey={BROWSER_KEY}")))
            .header("origin", origin)
            .header("content-type", "text/plain")
            .body(json!({"batch": [track("o")]}).to_string())
            .send()
    };
    let res = send("https://evil.example.net").await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = send(ALLOWED_ORIGIN).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], ALLOWED_ORIGIN);
    assert_eq!(sink.records_in("clickstream.events").len(), 1);
}

#[tokio::test]
async fn preflight_is_answered_for_allowed_origins_only() {
    let (app, _sink) = spawn_memory(settings()).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/batch"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://a.example.org").await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://a.example.org"
    );
    assert!(ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Content-Type"));
    assert_eq!(ok.headers()["access-control-max-age"], "86400");
    let bad = preflight("https://evil.example.net").await.unwrap();
    assert_eq!(bad.status(), 403);
    assert!(bad.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn credentials_are_allowed_only_when_the_first_party_cookie_is_on() {
    let preflight = |app: &TestApp| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/batch"))
            .header("origin", ALLOWED_ORIGIN)
            .header("access-control-request-method", "POST")
            .send()
    };
    let (plain, _) = spawn_memory(settings()).await;
    let res = preflight(&plain).await.unwrap();
    assert!(res
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    let mut s = settings();
    s.enrich.sessions.cookie = true;
    let (with_cookie, _) = spawn_memory(s).await;
    let res = preflight(&with_cookie).await.unwrap();
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    assert_eq!(res.headers()["access-control-allow-origin"], ALLOWED_ORIGIN);
}
