//! The hostile-request catalogue (docs/security.md): each case gets its
//! documented status, nothing panics or hangs, and valid events sent beside
//! a bad one still land. Memory sink; rate limits, client IP and the
//! slow-loris guard are here too.

use std::io::Write;
use std::time::{Duration, Instant};

use clickgate::config::{IpNetwork, Rate};
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

fn track(id: &str) -> Value {
    json!({"type": "track", "event": "Clicked", "anonymousId": "anon-1", "messageId": id})
}

/// Sends `body` to `/v1/batch` with the server key.
async fn send(app: &TestApp, body: Vec<u8>, ctype: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(SERVER_KEY, Some(""))
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = res.status().as_u16();
    let v = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

fn base64_user(user: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

/// `[[[[...1...]]]]`, `depth` levels.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn malformed_bodies_get_400_or_415_and_store_nothing() {
    let (app, sink) = spawn_memory(settings()).await;
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "invalid UTF-8 in a string",
            b"{\"batch\":[{\"type\":\"track\",\"event\":\"\xff\xfe\",\"anonymousId\":\"a\"}]}"
                .to_vec(),
            "application/json",
            400,
            "not valid JSON",
        ),
        (
            "truncated JSON",
            br#"{"batch":[{"type":"track","#.to_vec(),
            "application/json",
            400,
            "not valid JSON",
        ),
        (
            "NaN is not JSON",
            br#"{"batch":[{"type":"track","event":"x","anonymousId":"a","properties":{"v":NaN}}]}"#
                .to_vec(),
            "application/json",
            400,
            "not valid JSON",
        ),
        (
            "raw control character inside a string",
            b"{\"batch\":[{\"type\":\"track\",\"event\":\"a\x01b\",\"anonymousId\":\"a\"}]}"
                .to_vec(),
            "application/json",
            400,
            "not valid JSON",
        ),
        (
            "duplicate top-level key",
            br#"{"batch":[],"batch":[]}"#.to_vec(),
            "application/json",
            400,
            "duplicate",
        ),
        (
            "empty batch",
            br#"{"batch":[]}"#.to_vec(),
            "application/json",
            400,
            "empty",
        ),
        (
            "batch is not an array",
            br#"{"batch":"nope"}"#.to_vec(),
            "application/json",
            400,
            "`batch` array",
        ),
        (
            "not JSON at all",
            b"<html>hello</html>".to_vec(),
            "text/plain",
            400,
            "not valid JSON",
        ),
        (
            "unknown content type",
            br#"{"batch":[]}"#.to_vec(),
            "application/x-www-form-urlencoded",
            415,
            "application/json or text/plain",
        ),
        (
            "body nested 100,000 levels",
            nested(100_000).into_bytes(),
            "application/json",
            400,
            "limits.max_json_depth",
        ),
        (
            "event nested 100,000 levels",
            format!(
                r#"{{"batch":[{{"type":"track","properties":{}}}]}}"#,
                nested(100_000)
            )
            .into_bytes(),
            "application/json",
            400,
            "limits.max_json_depth",
        ),
        (
            "context nested 100,000 levels",
            format!(
                r#"{{"batch":[{{"type":"track","context":{{"a":{}}}}}]}}"#,
                nested(100_000)
            )
            .into_bytes(),
            "application/json",
            400,
            "limits.max_json_depth",
        ),
    ];
    for (name, body, ctype, status, needle) in cases {
        let (got, v) = send(&app, body, ctype).await;
        assert_eq!(got, status, "{name}: {v}");
        assert_eq!(v["success"], false, "{name}");
        assert!(message(&v).contains(needle), "{name}: {:?}", message(&v));
    }
    assert!(sink.records().is_empty());
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_single_event_nested_100_000_levels_is_400() {
    let (app, sink) = spawn_memory(settings()).await;
    for body in [
        nested(100_000),
        format!(
            r#"{{"event":"x","anonymousId":"a","properties":{}}}"#,
            nested(100_000)
        ),
    ] {
        let res = app
            .client
            .post(app.url("/v1/track"))
            .basic_auth(SERVER_KEY, Some(""))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let v: Value = res.json().await.unwrap();
        assert!(message(&v).contains("limits.max_json_depth"), "{v}");
    }
    assert!(sink.records().is_empty());
}

#[tokio::test]
async fn bad_events_are_rejected_alone_and_their_neighbours_land() {
    let mut s = settings();
    s.limits.max_json_depth = 4;
    s.limits.max_string_bytes = 100;
    s.limits.max_key_bytes = 12;
    let (app, sink) = spawn_memory(s).await;
    let batch = json!({"batch": [
        track("ok-1"),
        {"type": "track", "event": 5, "anonymousId": "a"},
        {"type": "track", "event": "x", "anonymousId": {"nested": true}},
        {"type": "track", "event": "x", "anonymousId": "a", "timestamp": 12},
        {"type": "track", "event": "x", "anonymousId": "a", "properties": {"deep": [[[[1]]]]}},
        {"type": "track", "event": "x", "anonymousId": "a", "context": {"a": {"b": {"c": {}}}}},
        {"type": "track", "event": "x".repeat(101), "anonymousId": "a"},
        {"type": "track", "event": "x", "anonymousId": "a", "properties": {"k".repeat(13): 1}},
        "not an object",
        [1, 2],
        null,
        track("ok-2"),
    ]});
    // Duplicate keys inside an event cannot be written with json!.
    let text = batch.to_string().replacen(
        "\"not an object\"",
        r#"{"type":"track","event":"x","anonymousId":"a","anonymousId":"b"}"#,
        1,
    );
    let (status, v) = send(&app, text.into_bytes(), "application/json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 2, "{v}");
    let reasons: Vec<&str> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "invalid_field",
            "invalid_field",
            "invalid_field",
            "too_deep",
            "too_deep",
            "too_long",
            "too_long",
            "duplicate_key",
            "not_an_object",
            "not_an_object",
        ],
        "{v}"
    );
    let events = sink.records_in("clickstream.events");
    assert_eq!(events.len(), 2);
    assert_eq!(sink.records_in("clickstream.dlq").len(), 10);
}

#[tokio::test]
async fn huge_numbers_and_escaped_control_characters_pass_through() {
    let (app, sink) = spawn_memory(settings()).await;
    let body = format!(
        r#"{{"batch":[{{"type":"track","event":"tab\u0000\u001fname","anonymousId":"a",
            "properties":{{"big":1e400,"long":{},"neg":-0.0}}}}]}}"#,
        "9".repeat(400)
    );
    let (status, v) = send(&app, body.into_bytes(), "application/json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 1);
    let stored = sink.records_in("clickstream.events");
    let text = String::from_utf8(stored[0].payload.clone()).unwrap();
    assert!(text.contains("1e400"), "numbers are kept verbatim: {text}");
}

#[tokio::test]
async fn ten_thousand_events_in_one_batch_is_413() {
    let (app, sink) = spawn_memory(settings()).await;
    let events: Vec<Value> = (0..10_000)
        .map(|i| json!({"type": "page", "anonymousId": i}))
        .collect();
    let mut s = settings();
    s.limits.max_body_bytes = 10 * 1024 * 1024;
    s.limits.max_decompressed_bytes = 10 * 1024 * 1024;
    let (big, _big_sink) = spawn_memory(s).await;
    for target in [&app, &big] {
        let (status, v) = send(
            target,
            json!({"batch": events}).to_string().into_bytes(),
            "application/json",
        )
        .await;
        assert_eq!(status, 413, "{v}");
        assert!(
            message(&v).contains("limits.max_batch_events")
                || message(&v).contains("limits.max_body_bytes"),
            "{v}"
        );
    }
    assert!(sink.records().is_empty());
}

#[tokio::test]
async fn a_10_mb_body_is_413_with_or_without_content_length() {
    let (app, sink) = spawn_memory(settings()).await;
    let body = vec![b' '; 10 * 1024 * 1024];
    let (status, v) = send(&app, body.clone(), "application/json").await;
    assert_eq!(status, 413);
    assert!(message(&v).contains("limits.max_body_bytes"), "{v}");

    // Chunked, so the size is only learnt while reading.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Authorization: Basic {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        base64_user(SERVER_KEY)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
        for _ in 0..160 {
            // The server may answer and close before the client is done.
            if writer.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => response.extend_from_slice(&buf[..n]),
            other => panic!("no response: {other:?}"),
        }
    }
    assert!(
        response.starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    writing.abort();
    assert!(sink.records().is_empty());
}

/// A gzip stream of `megabytes` MiB of zeros, built by repeating one
/// sync-flushed deflate chunk (compressing a gigabyte for real is slow).
/// The trailer is not valid: the server must stop before reading it.
fn gzip_bomb(megabytes: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
    enc.write_all(&zeros).expect("deflate");
    enc.flush().expect("sync flush");
    let first = enc.get_ref().len();
    enc.write_all(&zeros).expect("deflate");
    enc.flush().expect("sync flush");
    let deflate = enc.get_ref().clone();
    let (head, chunk) = deflate.split_at(first);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(head);
    for _ in 1..megabytes {
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&[0x03, 0x00]); // final empty block
    out.extend_from_slice(&[0; 8]);
    out
}

#[tokio::test]
async fn gzip_bombs_are_cut_off_with_413() {
    let (app, sink) = spawn_memory(settings()).await;
    // Deflate cannot beat ~1032:1, so 1 GiB of zeros is ~1 MiB on the wire:
    // over limits.max_body_bytes before inflating anything.
    let gigabyte = gzip_bomb(1024);
    assert!(gigabyte.len() < 1_100_000, "{} bytes", gigabyte.len());
    let (status, v) = send(&app, gigabyte, "text/plain").await;
    assert_eq!(status, 413, "{v}");
    assert!(message(&v).contains("limits.max_body_bytes"), "{v}");

    // 400 MiB in ~400 KB fits the wire limit; inflation stops at 2 MiB.
    let bomb = gzip_bomb(400);
    assert!(bomb.len() < 500 * 1024, "{} bytes", bomb.len());
    let started = Instant::now();
    let (status, v) = send(&app, bomb, "text/plain").await;
    assert_eq!(status, 413, "{v}");
    assert!(message(&v).contains("limits.max_decompressed_bytes"), "{v}");
    assert!(started.elapsed() < Duration::from_secs(5), "cut off early");

    // And a ~1 KB body that inflates ~1000-fold still gets an honest answer.
    let small = gzip_bomb(1);
    assert!(small.len() < 2_048, "{} bytes", small.len());
    let (status, v) = send(&app, small, "text/plain").await;
    assert_eq!(status, 400, "zeros are not JSON: {v}");
    assert!(sink.records().is_empty());
}

#[tokio::test]
async fn secrets_and_origins_are_enforced() {
    let (app, sink) = spawn_memory(settings()).await;
    // A server key in a query string.
    let res = app
        .client
        .post(app.url(&format!("/v1/batch?writeKey={SERVER_KEY}")))
        .json(&json!({"batch": [track("q")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // A preflight from an origin no source allows.
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/batch"))
        .header("origin", "https://evil.example.net")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(sink.records().is_empty());
}

fn client_ips(sink: &clickgate::sink::memory::MemorySink) -> Vec<String> {
    sink.records_in("clickstream.raw")
        .iter()
        .map(|r| r.json()["clientIp"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    // Untrusted peer (no trusted proxies configured): the header is ignored.
    let (app, sink) = spawn_memory(settings()).await;
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(SERVER_KEY, Some(""))
        .header("x-forwarded-for", "6.6.6.6")
        .header("forwarded", "for=6.6.6.6")
        .json(&json!({"batch": [track("spoof")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // (Addresses leave clickgate truncated to /24 by default.)
    assert_eq!(client_ips(&sink), ["127.0.0.0"]);

    // Loopback trusted: the right-most untrusted address is the client.
    let mut s = settings();
    s.client_ip.trusted_proxies = vec![IpNetwork::try_from("127.0.0.0/8".to_owned()).unwrap()];
    let (app, sink) = spawn_memory(s).await;
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(SERVER_KEY, Some(""))
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.7, 127.0.0.5")
        .json(&json!({"batch": [track("proxied")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(client_ips(&sink), ["198.51.100.0"]);
}

async fn post_from(app: &TestApp, ip: &str, id: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/batch"))
        .basic_auth(SERVER_KEY, Some(""))
        .header("x-forwarded-for", ip)
        .json(&json!({"batch": [track(id)]}))
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn per_ip_limit_answers_429_with_retry_after_and_names_the_limit() {
    let mut s = settings();
    s.client_ip.trusted_proxies = vec![IpNetwork::try_from("127.0.0.1".to_owned()).unwrap()];
    s.rate_limits.per_ip = Some(Rate {
        per_second: 1,
        burst: 3,
    });
    let (app, sink) = spawn_memory(s).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let res = post_from(&app, "203.0.113.1", &format!("a{i}")).await;
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .expect("whole seconds");
            assert!((1..=2).contains(&retry), "{retry}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["error"], "rate_limited");
            assert_eq!(v["limit"], "ip");
            assert!(message(&v).contains("rate_limits.per_ip"), "{v}");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // Another client is not affected.
    assert_eq!(post_from(&app, "203.0.113.2", "b").await.status(), 200);
    assert_eq!(sink.records_in("clickstream.events").len(), 4);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("clickgate_rate_limited_total{limit=\"ip\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn per_source_limit_is_shared_by_all_clients_of_the_source() {
    let mut s = settings();
    s.client_ip.trusted_proxies = vec![IpNetwork::try_from("127.0.0.1".to_owned()).unwrap()];
    s.sources[1].rate_limit = Some(Rate {
        per_second: 1,
        burst: 2,
    });
    let (app, sink) = spawn_memory(s).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let res = post_from(&app, &format!("198.51.100.{i}"), &format!("s{i}")).await;
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["limit"], "source");
        }
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    // The browser source has no limit of its own.
    let res = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(BROWSER_KEY, Some(""))
        .json(&json!({"batch": [track("web")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(sink.records_in("clickstream.events").len(), 3);
}

#[tokio::test]
async fn a_hot_visitor_is_re_keyed_at_random_and_still_accepted() {
    let mut s = settings();
    s.rate_limits.hot_visitor = Some(Rate {
        per_second: 1,
        burst: 3,
    });
    let (app, sink) = spawn_memory(s).await;
    let mut events: Vec<Value> = (0..10).map(|i| track(&format!("h{i}"))).collect();
    events.push(json!({"type": "page", "anonymousId": "calm", "messageId": "c1"}));
    let res = app.post_batch(SERVER_KEY, json!({"batch": events})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["accepted"], 11);
    let keys: Vec<Option<String>> = sink
        .records_in("clickstream.events")
        .iter()
        .map(|r| {
            r.key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).into_owned())
        })
        .collect();
    let keyed = keys
        .iter()
        .filter(|k| k.as_deref() == Some("sk_test_server:anon-1"))
        .count();
    assert_eq!(keyed, 3, "{keys:?}");
    assert_eq!(keys.iter().filter(|k| k.is_none()).count(), 7, "{keys:?}");
    assert_eq!(keys[10].as_deref(), Some("sk_test_server:calm"));
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("clickgate_hot_visitor_rekeyed_total"),
        "{metrics}"
    );
}

/// Reads until the server closes the connection; the time it took.
async fn time_until_closed(mut stream: TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept a slow connection open for 10 s"),
        }
    }
}

#[tokio::test]
async fn slow_loris_connections_are_closed_after_the_header_timeout() {
    let mut s = settings();
    s.limits.header_read_timeout = Duration::from_millis(500);
    let (app, _sink) = spawn_memory(s).await;

    // Opens a connection and never says anything.
    let silent = TcpStream::connect(app.addr).await.unwrap();
    // Trickles a header line and stops half-way.
    let mut trickle = TcpStream::connect(app.addr).await.unwrap();
    trickle
        .write_all(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (a, b) = tokio::join!(time_until_closed(silent), time_until_closed(trickle));
    for took in [a, b] {
        assert!(took < Duration::from_secs(3), "closed after {took:?}");
    }
    // The server still serves everyone else.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_source_limit_gets_429s_and_every_accepted_event_is_in_kafka() {
    let brokers = crate::kafka_or_skip!(
        "a_burst_over_the_source_limit_gets_429s_and_every_accepted_event_is_in_kafka"
    );
    let mut s = settings();
    let prefix = fresh_topics(&mut s, &brokers, 3);
    s.sources[1].rate_limit = Some(Rate {
        per_second: 2,
        burst: 10,
    });
    let app = spawn_kafka(s).await;

    let sends = (0..40).map(|i| {
        let id = format!("{prefix}-burst-{i}");
        let req = app
            .client
            .post(app.url("/v1/batch"))
            .basic_auth(SERVER_KEY, Some(""))
            .json(&json!({"batch": [
                {"type": "track", "event": "Burst", "anonymousId": format!("v{}", i % 7), "messageId": format!("{id}-a")},
                {"type": "track", "event": "Burst", "anonymousId": format!("v{}", i % 7), "messageId": format!("{id}-b")},
            ]}));
        tokio::spawn(async move { (id, req.send().await.expect("sent")) })
    });
    let sends: Vec<_> = sends.collect();
    let mut accepted_ids = std::collections::HashSet::new();
    let mut limited = 0;
    for send in sends {
        let (id, res) = send.await.expect("request task");
        match res.status().as_u16() {
            200 => {
                accepted_ids.insert(format!("{id}-a"));
                accepted_ids.insert(format!("{id}-b"));
            }
            429 => {
                limited += 1;
                let retry: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .expect("whole seconds");
                assert!(retry >= 1);
                let v: Value = res.json().await.unwrap();
                assert_eq!(v["limit"], "source");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(limited >= 20, "only {limited} of 40 were limited");
    assert!(
        accepted_ids.len() >= 20,
        "the burst of 10 requests got through"
    );

    let topic = format!("{prefix}.events");
    let expected = accepted_ids.len();
    let got = tokio::task::spawn_blocking(move || consume(&brokers, &topic, expected))
        .await
        .unwrap();
    let got_ids: std::collections::HashSet<String> = got
        .iter()
        .map(|r| r.value["messageId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got.len(), expected, "each accepted event exactly once");
    assert_eq!(got_ids, accepted_ids);
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408_naming_the_limit() {
    let mut s = settings();
    s.limits.request_timeout = Duration::from_millis(500);
    let (app, sink) = spawn_memory(s).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Authorization: Basic {}\r\nContent-Length: 1000\r\n\r\n{{\"batch\":[",
        base64_user(SERVER_KEY)
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => response.extend_from_slice(&buf[..n]),
            Ok(_) => break,
            Err(_) => panic!("no answer within 10 s"),
        }
        if response.windows(22).any(|w| w == b"limits.request_timeout") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("limits.request_timeout"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(sink.records().is_empty());
}

#[tokio::test]
async fn request_data_over_the_inflight_budget_is_shed_with_503() {
    let mut s = settings();
    s.limits.max_inflight_bytes = 300 * 1024;
    let (app, sink) = spawn_memory(s).await;
    // A client declares a 100 KB body and stalls: its reservation (3 × the
    // body) holds most of the budget.
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /v1/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"batch\":[";
    slow.write_all(head.as_bytes()).await.unwrap();
    let event = json!({"type": "track", "event": "E", "userId": "u", "properties": {"pad": "x".repeat(10_000)}});
    // Until the server has read the slow request's headers, requests still
    // fit; poll (bounded) for the first one that is shed.
    let mut accepted = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    let res = loop {
        let res = app
            .post_batch(SERVER_KEY, json!({"batch": [event.clone()]}))
            .await;
        if res.status() != 200 {
            break res;
        }
        accepted += 1;
        assert!(
            Instant::now() < deadline,
            "never shed while the budget was held"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let v: Value = res.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("limits.max_inflight_bytes"),
        "{v}"
    );
    drop(slow);
    // The budget comes back once the server sees the connection close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app
            .post_batch(SERVER_KEY, json!({"batch": [event.clone()]}))
            .await;
        if res.status() == 200 {
            accepted += 1;
            break;
        }
        assert_eq!(res.status(), 503);
        assert!(
            Instant::now() < deadline,
            "the budget was not released when the slow request ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sink.records_in("clickstream.events").len(), accepted);
}
