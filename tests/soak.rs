//! The edge soak (docs/security.md): the real binary against a real broker
//! takes 100,000 rejected hostile requests and a burst from 100,000
//! distinct client IPs (X-Forwarded-For from a trusted loopback proxy),
//! then must be alive, within its memory bound, and still deliver a valid
//! event to Kafka.
//!
//! Needs CLICKGATE_TEST_KAFKA. `CLICKGATE_SOAK_SCALE` (default 1.0) scales
//! the request counts for quick local runs.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use helpers::{consume, SERVER_KEY};

/// The RSS the gateway must stay under after the soak (see docs).
const RSS_BOUND_MIB: u64 = 96;

struct Gateway {
    child: Child,
    addr: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("process status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

fn start(config: &str) -> Gateway {
    let dir = std::env::temp_dir().join(format!("clickgate-soak-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("clickgate.toml");
    std::fs::write(&path, config).expect("config written");
    let bin = std::env::var("CLICKGATE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_clickgate").to_owned());
    let mut command = Command::new(bin);
    // The test's own CLICKGATE_* variables are not settings for the gateway.
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("CLICKGATE_")) {
        command.env_remove(name);
    }
    let mut child = command
        .arg("--config")
        .arg(&path)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("CLICKGATE_LOG", "warn,clickgate=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gateway starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("gateway exited before listening")
            .expect("log line");
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v["message"] == "listening" {
            break v["addr"].as_str().expect("addr").to_owned();
        }
    };
    // Keep draining the log so the pipe never fills.
    std::thread::spawn(move || for _ in lines {});
    Gateway { child, addr }
}

fn scale(n: usize) -> usize {
    let factor: f64 = std::env::var("CLICKGATE_SOAK_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64) * factor).max(1.0) as usize
}

/// A small hostile request: (path, content type, body, write key place).
fn hostile(i: usize) -> (&'static str, &'static str, Vec<u8>, bool) {
    let deep = format!("{}1{}", "[".repeat(1_000), "]".repeat(1_000)).into_bytes();
    match i % 8 {
        0 => (
            "/v1/batch",
            "application/json",
            b"{\"batch\":[{".to_vec(),
            true,
        ),
        1 => ("/v1/batch", "application/json", deep, true),
        2 => (
            "/v1/batch",
            "text/plain",
            b"\xff\xfe\x00garbage".to_vec(),
            true,
        ),
        3 => ("/v1/batch", "application/xml", b"<a/>".to_vec(), true),
        4 => (
            "/v1/batch",
            "application/json",
            b"{\"batch\":[]}".to_vec(),
            true,
        ),
        5 => (
            "/v1/batch",
            "application/json",
            b"{\"batch\":7}".to_vec(),
            true,
        ),
        6 => ("/v1/track", "application/json", b"[1,2,3]".to_vec(), true),
        _ => (
            "/v1/batch",
            "application/json",
            b"{\"batch\":[{}]}".to_vec(),
            false,
        ),
    }
}

/// Runs `total` requests with `concurrency` workers; returns status counts.
async fn drive<F, Fut>(total: usize, concurrency: usize, make: F) -> Vec<(u16, usize)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = Arc::clone(&next);
        let make = Arc::clone(&make);
        workers.push(tokio::spawn(async move {
            let mut counts = std::collections::BTreeMap::<u16, usize>::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return counts;
                }
                *counts.entry(make(i).await).or_default() += 1;
            }
        }));
    }
    let mut all = std::collections::BTreeMap::<u16, usize>::new();
    for w in workers {
        for (status, n) in w.await.expect("worker") {
            *all.entry(status).or_default() += n;
        }
    }
    all.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_hostile_traffic_and_a_distinct_ip_burst_then_still_delivers() {
    let brokers = crate::kafka_or_skip!(
        "survives_hostile_traffic_and_a_distinct_ip_burst_then_still_delivers"
    );
    let run = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("soak{}", &run[..10]);
    let config = format!(
        r#"
[kafka]
brokers = "{brokers}"
create_topics = true
[kafka.topics]
raw = {{ name = "{prefix}.raw", partitions = 1 }}
events = {{ name = "{prefix}.events", partitions = 3 }}
dlq = {{ name = "{prefix}.dlq", partitions = 1 }}
[client_ip]
trusted_proxies = ["127.0.0.1"]
[rate_limits]
per_ip = {{ per_second = 1, burst = 40 }}
hot_visitor = {{ per_second = 1, burst = 100 }}
# No pruning during the run: the limiters hold every client and visitor
# seen, the worst case the memory bound must cover.
prune_interval = "1h"
# The bound covers clickgate's own state (derived sessions and the
# duplicate window included), not a geo database, which adds its file size
# (docs/enrichment.md): do not pick one up from .cache/geo.
[enrich.geo]
directory = ""
[[routes]]
pattern = "Soak Check"
topic = {{ name = "{prefix}.check", partitions = 1 }}
[[sources]]
name = "backend"
kind = "server"
keys = ["{SERVER_KEY}"]
"#
    );
    let gw = start(&config);
    let base = format!("http://{}", gw.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let rss_start = gw.rss_kib();

    // 1. Hostile requests from a pool of 5,000 untrusted client addresses.
    let hostile_total = scale(100_000);
    let started = Instant::now();
    let (c, b) = (client.clone(), base.clone());
    let hostile_counts = drive(hostile_total, 16, move |i| {
        let (path, ctype, body, basic) = hostile(i);
        let ip = format!("100.64.{}.{}", (i % 5_000) / 250, i % 250);
        let mut req = c
            .post(format!("{b}{path}"))
            .header("content-type", ctype)
            .header("x-forwarded-for", ip)
            .body(body);
        req = if basic {
            req.basic_auth(SERVER_KEY, Some(""))
        } else {
            // A server key in the URL: refused.
            c.post(format!("{b}{path}?writeKey={SERVER_KEY}"))
                .header("x-forwarded-for", format!("100.65.0.{}", i % 250))
                .body(b"{\"batch\":[{}]}".to_vec())
        };
        async move { req.send().await.map_or(0, |r| r.status().as_u16()) }
    })
    .await;
    let hostile_secs = started.elapsed().as_secs_f64();
    let rss_after_hostile = gw.rss_kib();
    eprintln!("hostile: {hostile_total} in {hostile_secs:.1}s: {hostile_counts:?}");
    for (status, n) in &hostile_counts {
        assert!(
            (400..500).contains(status),
            "hostile requests must get 4xx, got {n} × {status}"
        );
    }

    // 2. A burst of valid events from 100,000 distinct client addresses.
    let burst_total = scale(100_000);
    let started = Instant::now();
    let (c, b) = (client.clone(), base.clone());
    let burst_counts = drive(burst_total, 32, move |i| {
        let ip = format!("11.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        let req = c
            .post(format!("{b}/v1/track"))
            .basic_auth(SERVER_KEY, Some(""))
            .header("x-forwarded-for", ip)
            .json(&json!({"event": "Burst", "anonymousId": format!("v{i}")}));
        async move { req.send().await.map_or(0, |r| r.status().as_u16()) }
    })
    .await;
    let burst_secs = started.elapsed().as_secs_f64();
    let rss_after_burst = gw.rss_kib();
    eprintln!("burst: {burst_total} in {burst_secs:.1}s: {burst_counts:?}");
    assert_eq!(
        burst_counts,
        [(200, burst_total)],
        "every distinct client is under its limit"
    );

    // 3. The process is alive and within its bound.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_end = gw.rss_kib();
    eprintln!(
        "RSS MiB: start {:.1}, after hostile {:.1}, after burst {:.1}, 2 s later {:.1}",
        rss_start as f64 / 1024.0,
        rss_after_hostile as f64 / 1024.0,
        rss_after_burst as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        rss_after_burst.max(rss_end) < RSS_BOUND_MIB * 1024,
        "RSS {rss_after_burst} KiB over the {RSS_BOUND_MIB} MiB bound"
    );

    // 4. A valid request right after still lands in Kafka.
    let id = format!("{prefix}-check");
    let res = client
        .post(format!("{base}/v1/track"))
        .basic_auth(SERVER_KEY, Some(""))
        .header("x-forwarded-for", "11.0.0.1")
        .json(&json!({"event": "Soak Check", "anonymousId": "after", "messageId": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let brokers2 = brokers.clone();
    let topic = format!("{prefix}.check");
    let got = tokio::task::spawn_blocking(move || consume(&brokers2, &topic, 1))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value["messageId"], id.as_str());
}
