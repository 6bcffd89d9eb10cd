//! Enrichment at the handler level, on the memory sink: geo and IP privacy
//! in both topics, user agent and bots, sessions, campaign and referrer,
//! clock skew, hot reload of the geo database, duplicates, the cookie.
//! Geo databases are written by the tests themselves (`tests/support/mmdb.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clickgate::config::{IpMode, IpNetwork, Settings};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::mmdb::{self, Writer};

const CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clickgate-enrich-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}

/// Writes a City database atomically (temp file + rename), the way a
/// database update should be installed.
fn write_city_db(path: &Path, city: &str) {
    let mut w = Writer::new("GeoIP2-City", 6, 1_700_000_000);
    // Tests reach the app over loopback, so the socket peer is 127.0.0.1.
    w.insert(
        "127.0.0.0/24",
        &mmdb::geoip2_city(
            "DE",
            "Land Berlin",
            city,
            "10115",
            52.5244,
            13.4105,
            "Europe/Berlin",
        ),
    );
    w.insert(
        "81.2.69.0/24",
        &mmdb::geoip2_city(
            "GB",
            "England",
            "London",
            "EC1A",
            51.5142,
            -0.0931,
            "Europe/London",
        ),
    );
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, w.to_bytes()).expect("write database");
    std::fs::rename(&tmp, path).expect("install database");
}

fn settings_with_geo(city: &str) -> (Settings, PathBuf) {
    let path = tempdir().join("city.mmdb");
    write_city_db(&path, city);
    let mut s = settings();
    s.enrich.geo.databases = vec![path.clone()];
    s.enrich.geo.reload_interval = Duration::from_millis(50);
    (s, path)
}

async fn post(app: &TestApp, key: &str, ua: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/batch"))
        .basic_auth(key, Some(""))
        .header("user-agent", ua)
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

fn events(sink: &clickgate::sink::memory::MemorySink) -> Vec<Value> {
    sink.records_in("clickstream.events")
        .iter()
        .map(|r| r.json())
        .collect()
}

#[tokio::test]
async fn event_through_a_trusted_proxy_lands_located_truncated_parsed_sessioned_with_campaign_and_true_time(
) {
    let (mut settings, _db) = settings_with_geo("Berlin");
    settings.client_ip.trusted_proxies =
        vec![IpNetwork::try_from("127.0.0.0/8".to_owned()).expect("network")];
    // The server receives at 12:00:01; the client's clock runs one hour fast.
    let (app, sink) = spawn_memory_with_clock(settings, fixed_clock("2024-05-01T12:00:01Z")).await;
    let body = json!({"batch": [{"type": "page", "name": "Home", "anonymousId": "a1",
        "messageId": "m1", "timestamp": "2024-05-01T13:00:00Z",
        "context": {"page": {"url": "https://shop.example.com/?utm_source=newsletter&utm_campaign=spring",
                             "referrer": "https://www.google.com/"}}}],
        "sentAt": "2024-05-01T13:00:01Z"});

    let res = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(BROWSER_KEY, Some(""))
        .header("user-agent", CHROME)
        .header("x-forwarded-for", "81.2.69.142")
        .json(&body)
        .send()
        .await
        .expect("request sent");

    assert_eq!(res.status(), 200);
    let e = &events(&sink)[0];
    let ctx = &e["context"];
    assert_eq!(ctx["location"]["countryCode"], "GB");
    assert_eq!(ctx["location"]["city"], "London");
    assert_eq!(ctx["location"]["timeZone"], "Europe/London");
    assert_eq!(ctx["ip"], "81.2.69.0");
    assert_eq!(ctx["userAgentParsed"]["browser"]["name"], "Chrome");
    assert_eq!(ctx["userAgentParsed"]["os"]["name"], "Mac OSX");
    assert_eq!(ctx["userAgentParsed"]["deviceType"], "desktop");
    assert!(ctx.get("bot").is_none());
    assert_eq!(ctx["session"]["index"], 1);
    assert_eq!(ctx["session"]["start"], true);
    assert_eq!(ctx["session"]["derived"], true);
    assert_eq!(
        ctx["campaign"],
        json!({"source": "newsletter", "name": "spring"})
    );
    assert_eq!(
        ctx["referrer"],
        json!({"host": "www.google.com", "medium": "search", "name": "google"})
    );
    assert_eq!(e["timestamp"], "2024-05-01T12:00:00.000Z");
    assert_eq!(e["originalTimestamp"], "2024-05-01T13:00:00.000Z");
    let raw = sink.records_in("clickstream.raw")[0].json();
    assert_eq!(
        raw["clientIp"], "81.2.69.0",
        "the raw topic is truncated too"
    );
}

#[tokio::test]
async fn without_a_proxy_the_socket_peer_is_located() {
    let (settings, _db) = settings_with_geo("Berlin");
    let (app, sink) = spawn_memory(settings).await;

    post(
        &app,
        BROWSER_KEY,
        CHROME,
        json!({"batch": [{"type": "page", "anonymousId": "a"}]}),
    )
    .await;

    let ctx = &events(&sink)[0]["context"];
    assert_eq!(ctx["location"]["city"], "Berlin");
    assert_eq!(ctx["ip"], "127.0.0.0");
    assert_eq!(
        sink.records_in("clickstream.raw")[0].json()["clientIp"],
        "127.0.0.0"
    );
}

#[tokio::test]
async fn server_side_visitor_ip_is_located_then_truncated_and_the_library_is_not_a_bot() {
    let (settings, _db) = settings_with_geo("Berlin");
    let (app, sink) = spawn_memory(settings).await;
    let body = json!({"batch": [{"type": "track", "event": "Paid", "userId": "u1",
        "context": {"ip": "81.2.69.142", "userAgent": CHROME}}]});

    let res = post(
        &app,
        SERVER_KEY,
        "analytics-python/2.3.0 python-requests/2.31",
        body,
    )
    .await;

    assert_eq!(res.status(), 200);
    let ctx = &events(&sink)[0]["context"];
    assert_eq!(ctx["location"]["city"], "London");
    assert_eq!(ctx["ip"], "81.2.69.0");
    assert_eq!(ctx["userAgentParsed"]["browser"]["name"], "Chrome");
    assert!(ctx.get("bot").is_none(), "{ctx}");
    assert_eq!(
        sink.records_in("clickstream.raw")[0].json()["clientIp"],
        "127.0.0.0"
    );
}

#[tokio::test]
async fn crawler_and_headless_browser_are_flagged_as_bots_but_still_land() {
    let (app, sink) = spawn_memory(settings()).await;
    let body = |id: &str| json!({"batch": [{"type": "page", "anonymousId": "a", "messageId": id}]});

    post(&app, BROWSER_KEY, GOOGLEBOT, body("m1")).await;
    post(&app, BROWSER_KEY, HEADLESS, body("m2")).await;

    let e = events(&sink);
    assert_eq!(e.len(), 2);
    assert_eq!(
        e[0]["context"]["bot"],
        json!({"isBot": true, "reason": "crawler", "name": "Googlebot"})
    );
    assert_eq!(
        e[1]["context"]["bot"],
        json!({"isBot": true, "reason": "headless", "name": "HeadlessChrome"})
    );
}

#[tokio::test]
async fn dropping_bots_acknowledges_them_without_publishing() {
    let mut s = settings();
    s.enrich.user_agent.drop_bots = true;
    let (app, sink) = spawn_memory(s).await;
    let body = json!({"batch": [{"type": "page", "anonymousId": "a"},
        {"type": "page", "anonymousId": "b", "context": {"userAgent": CHROME}}]});

    let res = post(&app, BROWSER_KEY, GOOGLEBOT, body).await;

    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["accepted"], 2);
    let e = events(&sink);
    assert_eq!(e.len(), 1, "only the event with a browser's user agent");
    assert_eq!(e[0]["anonymousId"], "b");
}

#[tokio::test]
async fn replacing_the_database_while_requests_flow_changes_answers_without_a_failed_request() {
    let (settings, db) = settings_with_geo("Berlin");
    let (app, sink) = spawn_memory(settings).await;
    let app = std::sync::Arc::new(app);
    let sender = {
        let (app, sink) = (std::sync::Arc::clone(&app), sink.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..1_000 {
                let body = json!({"batch": [{"type": "track", "event": "Tick",
                    "anonymousId": "a", "messageId": format!("m{i}")}]});
                statuses.push(
                    post(&app, BROWSER_KEY, CHROME, body)
                        .await
                        .status()
                        .as_u16(),
                );
                let last = events(&sink)
                    .last()
                    .map(|e| e["context"]["location"]["city"].clone());
                if last == Some(json!("Potsdam")) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            statuses
        })
    };
    // Replace the file only once requests are flowing on the old one.
    let started = std::time::Instant::now();
    while events(&sink).len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no events flowed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    write_city_db(&db, "Potsdam");
    let statuses = sender.await.expect("sender");

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let cities: Vec<Value> = events(&sink)
        .iter()
        .map(|e| e["context"]["location"]["city"].clone())
        .collect();
    assert_eq!(cities.first(), Some(&json!("Berlin")));
    assert_eq!(
        cities.last(),
        Some(&json!("Potsdam")),
        "picked up without a restart"
    );
    assert!(
        cities.iter().all(|c| c == "Berlin" || c == "Potsdam"),
        "{cities:?}"
    );
}

#[tokio::test]
async fn the_same_batch_sent_twice_yields_its_events_once() {
    let (app, sink) = spawn_memory(settings()).await;
    let body = json!({"batch": [
        {"type": "track", "event": "A", "anonymousId": "a", "messageId": "m1"},
        {"type": "track", "event": "B", "anonymousId": "a", "messageId": "m2"}]});

    let first = post(&app, BROWSER_KEY, CHROME, body.clone()).await;
    let second = post(&app, BROWSER_KEY, CHROME, body).await;

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<Value>().await.expect("json")["accepted"], 2);
    let ids: Vec<Value> = events(&sink)
        .iter()
        .map(|e| e["messageId"].clone())
        .collect();
    assert_eq!(ids, vec![json!("m1"), json!("m2")]);
    assert_eq!(
        sink.records_in("clickstream.raw").len(),
        2,
        "raw keeps every request"
    );
}

#[tokio::test]
async fn a_batch_that_failed_to_publish_is_not_a_duplicate_when_retried() {
    let (app, sink) = spawn_memory(settings()).await;
    let body =
        json!({"batch": [{"type": "track", "event": "A", "anonymousId": "a", "messageId": "m1"}]});
    sink.fail_with(Some(clickgate::sink::SinkError::QueueFull));

    let failed = post(&app, BROWSER_KEY, CHROME, body.clone()).await;
    sink.fail_with(None);
    let retried = post(&app, BROWSER_KEY, CHROME, body).await;

    assert_eq!(failed.status(), 503);
    assert_eq!(retried.status(), 200);
    assert_eq!(events(&sink).len(), 1);
}

#[tokio::test]
async fn dropping_the_ip_leaves_it_out_of_both_topics() {
    let mut s = settings();
    s.enrich.privacy.ip = IpMode::Drop;
    let (app, sink) = spawn_memory(s).await;
    let body =
        json!({"batch": [{"type": "page", "anonymousId": "a", "context": {"ip": "1.2.3.4"}}]});

    post(&app, BROWSER_KEY, CHROME, body).await;

    assert!(events(&sink)[0]["context"].get("ip").is_none());
    assert_eq!(
        sink.records_in("clickstream.raw")[0].json()["clientIp"],
        Value::Null
    );
}

#[tokio::test]
async fn a_missing_database_leaves_location_out_and_the_event_lands() {
    let mut s = settings();
    s.enrich.geo.databases = vec![tempdir().join("absent.mmdb")];
    let (app, sink) = spawn_memory(s).await;
    let body = json!({"batch": [{"type": "page", "anonymousId": "a",
        "context": {"page": {"url": "not a url", "referrer": "::garbage::"}}}]});

    let res = post(&app, BROWSER_KEY, "%%%", body).await;

    assert_eq!(res.status(), 200);
    let ctx = &events(&sink)[0]["context"];
    for key in ["location", "userAgentParsed", "campaign", "referrer"] {
        assert!(ctx.get(key).is_none(), "{key} in {ctx}");
    }
    assert_eq!(ctx["ip"], "127.0.0.0");
}

#[tokio::test]
async fn sessions_continue_across_requests_and_a_client_session_is_kept() {
    let clock = fixed_clock("2024-05-01T12:00:00Z");
    let (app, sink) = spawn_memory_with_clock(settings(), clock).await;
    let at = |t: &str, id: &str| json!({"type": "track", "event": "E", "userId": "u", "messageId": id, "timestamp": t});

    post(
        &app,
        SERVER_KEY,
        "backend",
        json!({"batch": [at("2024-05-01T10:00:00Z", "1"), at("2024-05-01T10:20:00Z", "2")]}),
    )
    .await;
    post(
        &app,
        SERVER_KEY,
        "backend",
        json!({"batch": [at("2024-05-01T11:00:00Z", "3")]}),
    )
    .await;
    post(
        &app,
        BROWSER_KEY,
        CHROME,
        json!({"batch": [{"type": "page", "anonymousId": "x",
        "context": {"session": {"id": 5, "index": 9, "start": false}}}]}),
    )
    .await;

    let s: Vec<Value> = events(&sink)
        .iter()
        .map(|e| e["context"]["session"].clone())
        .collect();
    let started = 1_714_557_600_000_i64; // 2024-05-01T10:00:00Z
    assert_eq!(
        s[0],
        json!({"id": started, "index": 1, "start": true, "derived": true})
    );
    assert_eq!(
        s[1],
        json!({"id": started, "index": 1, "start": false, "derived": true})
    );
    assert_eq!(s[2]["index"], 2, "40 minutes idle start a new session");
    assert_eq!(s[2]["start"], true);
    assert_eq!(s[3], json!({"id": 5, "index": 9, "start": false}));
}

#[tokio::test]
async fn the_first_party_cookie_gives_a_stable_network_user_id_when_enabled() {
    let mut s = settings();
    s.enrich.sessions.cookie = true;
    let (app, sink) = spawn_memory(s).await;
    let body = json!({"batch": [{"type": "page", "anonymousId": "a"}]});

    let first = post(&app, BROWSER_KEY, CHROME, body.clone()).await;
    let cookie = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_owned();
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let second = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(BROWSER_KEY, Some(""))
        .header("cookie", &pair)
        .header("x-clickgate-network-user-id", "forged")
        .json(&body)
        .send()
        .await
        .expect("sent");

    assert_eq!(second.status(), 200);
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Max-Age=31536000",
        "Path=/",
    ] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let id = pair.split_once('=').expect("pair").1;
    let e = events(&sink);
    assert_eq!(e[0]["context"]["networkUserId"], id);
    assert_eq!(e[1]["context"]["networkUserId"], id);
}

#[tokio::test]
async fn no_cookie_by_default() {
    let (app, sink) = spawn_memory(settings()).await;
    let res = post(
        &app,
        BROWSER_KEY,
        CHROME,
        json!({"batch": [{"type": "page", "anonymousId": "a"}]}),
    )
    .await;
    assert!(res.headers().get("set-cookie").is_none());
    assert!(events(&sink)[0]["context"].get("networkUserId").is_none());
}

/// Against the real DB-IP Lite database (`scripts/get-geo-db.sh`), when
/// `CLICKGATE_TEST_DBIP` names its directory (CI sets it): the flat schema
/// is read from the published files, IPv4 and IPv6.
#[test]
fn the_real_dbip_lite_database_is_read_when_present() {
    let Ok(dir) = std::env::var("CLICKGATE_TEST_DBIP") else {
        eprintln!("CLICKGATE_TEST_DBIP not set: the real-database check did not run");
        return;
    };
    use clickgate::enrich::geo::{GeoDatabases, GeoLookup};
    let settings = clickgate::config::GeoSettings {
        directory: Some(PathBuf::from(dir)),
        ..Default::default()
    };
    let paths = GeoDatabases::paths(&settings);
    assert!(
        !paths.is_empty(),
        "no .mmdb files in {:?}",
        settings.directory
    );
    let db = GeoDatabases::open(paths);
    for ip in ["8.8.8.8", "2001:4860:4860::8888"] {
        let l = db
            .locate(ip.parse().expect("address"))
            .expect("lookup")
            .unwrap_or_else(|| panic!("{ip} not found"));
        // The free data moves between releases; check the shape, not a place.
        let cc = l.country_code.as_deref().unwrap_or_default();
        assert!(
            cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase()),
            "{ip}: {l:?}"
        );
        assert!(
            l.city.is_some() && l.latitude.is_some() && l.longitude.is_some(),
            "{ip}: {l:?}"
        );
    }
    assert_eq!(
        db.locate("127.0.0.1".parse().expect("address"))
            .expect("lookup"),
        None
    );
}

#[tokio::test]
async fn skew_duplicates_and_enrichment_failures_show_in_metrics() {
    let mut s = settings();
    s.enrich.geo.databases = vec![tempdir().join("absent.mmdb")];
    let (app, _sink) = spawn_memory(s).await;
    let body = json!({"batch": [{"type": "page", "anonymousId": "a", "messageId": "dup",
        "timestamp": "2024-05-01T13:00:00Z", "context": {"page": {"url": "nope"}}}],
        "sentAt": "2024-05-01T13:00:01Z"});

    post(&app, BROWSER_KEY, "%%%", body.clone()).await;
    post(&app, BROWSER_KEY, "%%%", body).await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");

    for needle in [
        "clickgate_clock_skew_seconds_bucket",
        "clickgate_duplicates_dropped_total",
        "clickgate_enrichment_failures_total{kind=\"geo_database\"}",
        "clickgate_enrichment_failures_total{kind=\"user_agent\"}",
        "clickgate_enrichment_failures_total{kind=\"url\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from /metrics");
    }
}
