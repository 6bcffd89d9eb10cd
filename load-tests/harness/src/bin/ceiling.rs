//! ceiling: the Kafka ceiling. A plain librdkafka producer writes the records
//! clickgate would write for the same traffic — per request one raw envelope
//! holding the body plus one normalised record per event, keyed
//! `<writeKey>:<anonymousId>` with `source`/`type` headers — with the same
//! producer settings (idempotent, acks=all, lz4, linger 5 ms, the same queue
//! bounds). Records are built before the clock starts: this measures only
//! the producer and the broker.
//!
//! Options: --brokers [127.0.0.1:9092] --topic-events --topic-raw
//!   --partitions [6] --batch [20] --duration [10] --warmup [2]
//!   --rate [0] (requests/s; 0 = as fast as the producer queue allows)
//!   --set key=value[,key=value]  extra producer properties
//!   --out [-]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clickgate_harness::payload::{batch_body, Rng, Visitor};
use clickgate_harness::{cpu_seconds, histogram, latency_json, peak_rss_mib, write_json, Args};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

/// Counts deliveries and their latency. The opaque is the enqueue time in
/// µs since `base`, shifted left once; the low bit marks event records.
struct Ctx {
    base: Instant,
    events_ok: AtomicU64,
    records_ok: AtomicU64,
    errors: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    measuring: std::sync::atomic::AtomicBool,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.records_ok.fetch_add(1, Ordering::Relaxed);
        if opaque & 1 == 1 {
            self.events_ok.fetch_add(1, Ordering::Relaxed);
        }
        if self.measuring.load(Ordering::Relaxed) {
            let now = self.base.elapsed().as_micros() as u64;
            let us = now.saturating_sub((opaque >> 1) as u64).max(1);
            let _ = self.hist.lock().expect("histogram lock").record(us);
        }
    }
}

struct Request {
    raw: Vec<u8>,
    events: Vec<(String, Vec<u8>)>,
}

/// The records of `n` requests of `batch` events, sized like clickgate's.
fn build_requests(n: usize, batch: usize) -> Vec<Request> {
    let mut rng = Rng::new(7);
    let visitors: Vec<Visitor> = (0..500).map(|i| Visitor::new(&mut rng, i)).collect();
    let now = clickgate_harness::now_rfc3339();
    (0..n)
        .map(|r| {
            let v = &visitors[rng.below(visitors.len())];
            let body = batch_body(&mut rng, v, &format!("ceil-{r}"), batch, "pk_bench");
            let raw = format!(
                r#"{{"requestId":"019ab5c4-7f1e-7c3a-9a1b-3c5d7e9f1a2b","receivedAt":"{now}","clientIp":"127.0.0.1","userAgent":"loadgen","writeKey":"pk_bench","source":"web","path":"/v1/batch","contentType":"text/plain;charset=UTF-8","body":{body}}}"#
            );
            let parsed: serde_json::Value = serde_json::from_str(&body).expect("own JSON");
            let events = parsed["batch"]
                .as_array()
                .expect("batch array")
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e["receivedAt"] = now.clone().into();
                    e["originalTimestamp"] = now.clone().into();
                    e["source"] = "web".into();
                    (format!("pk_bench:{}", v.anonymous_id), serde_json::to_vec(&e).expect("JSON"))
                })
                .collect();
            Request { raw: raw.into_bytes(), events }
        })
        .collect()
}

fn create_topics(brokers: &str, names: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)).set("max.message.bytes", "4194304"))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let results = rt
        .block_on(admin.create_topics(&new, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))))
        .expect("create topics");
    for r in results {
        if let Err((name, code)) = r {
            if code != RDKafkaErrorCode::TopicAlreadyExists {
                eprintln!("cannot create topic {name}: {code:?}");
                std::process::exit(1);
            }
        }
    }
}

fn main() {
    let args = Args::parse();
    let brokers = args.str("brokers", "127.0.0.1:9092");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let topic_events = args.str("topic-events", &format!("bench.ceiling.events.{stamp}"));
    let topic_raw = args.str("topic-raw", &format!("bench.ceiling.raw.{stamp}"));
    let batch = args.num("batch", 20.0) as usize;
    let rate = args.num("rate", 0.0);
    let warmup = args.secs("warmup", 2.0);
    let duration = args.secs("duration", 10.0);
    create_topics(&brokers, &[&topic_events, &topic_raw], args.num("partitions", 6.0) as i32);

    let requests = build_requests((20_000 / batch).clamp(64, 2_000), batch);
    let mut cfg = ClientConfig::new();
    // The same settings as clickgate's producer (src/sink/kafka.rs).
    cfg.set("bootstrap.servers", &brokers)
        .set("client.id", "clickgate-ceiling")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("message.timeout.ms", "5000")
        .set("message.max.bytes", "4194304")
        .set("queue.buffering.max.messages", "100000")
        .set("queue.buffering.max.kbytes", "65536");
    for kv in args.str("set", "").split(',').filter(|s| !s.is_empty()) {
        if let Some((k, v)) = kv.split_once('=') {
            cfg.set(k, v);
        }
    }
    let ctx = Ctx {
        base: Instant::now(),
        events_ok: AtomicU64::new(0),
        records_ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        hist: Mutex::new(histogram()),
        measuring: false.into(),
    };
    let producer: ThreadedProducer<Ctx> = cfg.create_with_context(ctx).expect("producer");
    let ctx = producer.context();
    let base = ctx.base;

    let start = Instant::now();
    let warm_end = start + warmup;
    let end = warm_end + duration;
    let period = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let mut window_start: Option<(u64, f64)> = None;
    let mut queue_full_waits: u64 = 0;
    let mut sent_requests: u64 = 0;
    let mut k: u64 = 0;
    'outer: loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window_start.is_none() && now >= warm_end {
            ctx.measuring.store(true, Ordering::Relaxed);
            window_start = Some((ctx.events_ok.load(Ordering::Relaxed), cpu_seconds("self")));
        }
        if let Some(p) = period {
            let due = start + p * (k as u32);
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let req = &requests[(k as usize) % requests.len()];
        k += 1;
        let records = std::iter::once((None, &req.raw, 0usize))
            .chain(req.events.iter().map(|(key, v)| (Some(key), v, 1usize)));
        for (key, payload, is_event) in records {
            let headers = OwnedHeaders::new_with_capacity(2)
                .insert(Header { key: "source", value: Some("web") })
                .insert(Header { key: "type", value: Some(if is_event == 1 { "track" } else { "raw" }) });
            let topic = if is_event == 1 { &topic_events } else { &topic_raw };
            let mut record = BaseRecord::with_opaque_to(topic, 0usize).payload(payload).headers(headers);
            if let Some(key) = key {
                record = record.key(key);
            }
            loop {
                record.delivery_opaque = ((base.elapsed().as_micros() as usize) << 1) | is_event;
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        queue_full_waits += 1;
                        std::thread::sleep(Duration::from_micros(500));
                        if Instant::now() >= end + Duration::from_secs(5) {
                            break 'outer;
                        }
                    }
                    Err((e, _)) => {
                        eprintln!("produce failed: {e}");
                        std::process::exit(1);
                    }
                }
            }
        }
        sent_requests += 1;
    }
    let (ev0, cpu0) = window_start.unwrap_or((0, cpu_seconds("self")));
    let events = ctx.events_ok.load(Ordering::Relaxed) - ev0;
    let cpu = cpu_seconds("self") - cpu0;
    ctx.measuring.store(false, Ordering::Relaxed);
    let window = duration.as_secs_f64();
    if let Err(e) = producer.flush(Duration::from_secs(30)) {
        eprintln!("flush incomplete: {e}");
    }
    let hist = ctx.hist.lock().expect("histogram lock").clone();
    let report = serde_json::json!({
        "batch": batch,
        "offered_rate_rps": rate,
        "window_s": window,
        "requests_sent": sent_requests,
        "events_delivered_in_window": events,
        "events_per_s": events as f64 / window,
        "records_ok": ctx.records_ok.load(Ordering::Relaxed),
        "delivery_errors": ctx.errors.load(Ordering::Relaxed),
        "queue_full_waits": queue_full_waits,
        "latency_ms": latency_json(&hist),
        "cpu_s": cpu,
        "cpu_s_per_million_events": if events > 0 { cpu / events as f64 * 1e6 } else { f64::NAN },
        "peak_rss_mib": peak_rss_mib("self"),
        "topics": [topic_events, topic_raw],
    });
    write_json(&args.str("out", "-"), &report);
}
