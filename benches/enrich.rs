//! Cost of enrichment per event: geo lookup and IP truncation (once per
//! request), user agent (cached), derived session, campaign and referrer,
//! duplicate check. Run: `cargo bench --bench enrich`; the figures are in
//! docs/enrichment.md.

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::Arc;

use clickgate::config::{Secret, Settings, SourceKind, SourceSettings};
use clickgate::enrich::geo::GeoDatabases;
use clickgate::enrich::AddedFields;
use clickgate::enrich::Enricher;
use clickgate::event::wire::{BatchBody, WireEvent};
use clickgate::event::{normalise, Envelope};
use clickgate::pipeline::Pipeline;
use clickgate::protocol::Events;
use clickgate::request::RequestContext;
use clickgate::source::KeyPlace;
use clickgate::source::Sources;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::json;

#[path = "../tests/support/mmdb.rs"]
mod mmdb;

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const EVENTS: usize = 20;

/// A browser event without a client session, so one is derived.
fn event(i: usize, run: u64) -> serde_json::Value {
    json!({
        "type": "track",
        "event": "Product Clicked",
        "messageId": format!("{run:016x}-{i:08}"),
        "anonymousId": format!("visitor-{}", i % 4),
        "timestamp": "2024-05-01T12:00:00.123Z",
        "properties": {"sku": "SKU-12345", "price": 19.99, "currency": "EUR", "position": i},
        "context": {
            "page": {"url": "https://shop.example.com/products/12345?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
                     "path": "/products/12345", "title": "Blue running shoes",
                     "referrer": "https://www.google.com/"},
            "userAgent": UA,
            "locale": "de-DE",
            "library": {"name": "clickgate.js", "version": "0.1.0"}
        }
    })
}

fn body(run: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "batch": (0..EVENTS).map(|i| event(i, run)).collect::<Vec<_>>(),
        "sentAt": "2024-05-01T12:00:00.500Z",
    }))
    .expect("body")
}

fn settings() -> Settings {
    Settings {
        sources: vec![SourceSettings {
            name: "web".into(),
            kind: SourceKind::Browser,
            keys: vec![Secret::new("pk_bench")],
            allowed_origins: vec!["*".into()],
            rate_limit: None,
        }],
        ..Settings::default()
    }
}

/// A City database built here (no third-party data), holding the client.
fn geo() -> Arc<GeoDatabases> {
    let mut w = mmdb::Writer::new("GeoIP2-City", 6, 1_700_000_000);
    let record = mmdb::geoip2_city(
        "DE",
        "Land Berlin",
        "Berlin",
        "10115",
        52.52,
        13.41,
        "Europe/Berlin",
    );
    // Some neighbours so the lookup walks a tree, not a single branch.
    for net in 0..64u8 {
        w.insert(&format!("203.0.{net}.0/24"), &record);
    }
    w.insert("203.0.113.0/24", &record);
    let path = std::env::temp_dir().join(format!("clickgate-bench-{}.mmdb", std::process::id()));
    std::fs::write(&path, w.to_bytes()).expect("write database");
    Arc::new(GeoDatabases::open(vec![path]))
}

fn info<'a>(source: &'a clickgate::source::Source, ua: Option<&'a str>) -> RequestContext<'a> {
    RequestContext {
        key_place: KeyPlace::Body,
        request_id: "0193a4c2-7d1e-7000-8000-000000000000",
        received_at: clickgate::event::time::parse("2024-05-01T12:00:01Z").expect("time"),
        client_ip: Some([203, 0, 113, 9].into()),
        user_agent: ua,
        write_key: "pk_bench",
        source,
        path: "/v1/batch",
        content_type: "text/plain",
        network_user_id: None,
    }
}

/// The enricher alone: one request step and the per-event steps.
fn enricher_only(c: &mut Criterion) {
    let settings = settings();
    let sources = Sources::new(&settings.sources);
    let source = sources.get("pk_bench").expect("source");
    let enricher = Enricher::new(&settings.enrich, geo());
    let body = body(0);
    let parsed: BatchBody<'_> = serde_json::from_slice(&body).expect("parses");
    let raw = parsed.batch.expect("batch");
    let info = info(source, Some(UA));
    let mut run = 0u64;

    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("per_event_all_features", |b| {
        b.iter_batched(
            || {
                run += 1;
                raw.iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let wire: WireEvent<'_> = serde_json::from_str(r.get()).expect("event");
                        let mut e = normalise(
                            wire,
                            Envelope {
                                implied_type: None,
                                batch_sent_at: None,
                                received_at: info.received_at,
                            },
                        )
                        .expect("valid");
                        // Fresh ids, so the duplicate check inserts.
                        e.message_id = Cow::Owned(format!("{run}-{i}"));
                        e
                    })
                    .collect::<Vec<_>>()
            },
            |events| {
                // Dropping the enriched events is inside the measurement.
                let req = enricher.request(&info);
                let mut claims = enricher.claims();
                for e in events {
                    let mut added = AddedFields::new();
                    black_box(enricher.event(&req, &info, &e, &mut added, &mut claims));
                    black_box(&added);
                }
                claims.confirm();
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The whole pipeline per event (parse, validate, enrich, serialise),
/// with every enrichment on and with none at all.
fn pipeline(c: &mut Criterion) {
    let full_settings = settings();
    let sources = Sources::new(&full_settings.sources);
    let source = sources.get("pk_bench").expect("source");
    let full = Pipeline::with_enricher(&full_settings, Enricher::new(&full_settings.enrich, geo()));
    let bare = Pipeline::with_enricher(&full_settings, Enricher::passthrough());

    let mut group = c.benchmark_group("pipeline_20_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    for (name, pipeline, ua) in [("enriched", &full, Some(UA)), ("not_enriched", &bare, None)] {
        let mut run = 0u64;
        let info = info(source, ua);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    run += 1;
                    body(run)
                },
                |body| {
                    let parsed: BatchBody<'_> = serde_json::from_slice(&body).expect("parses");
                    let events = parsed.batch.expect("batch");
                    let outcome = pipeline.run(
                        &info,
                        &body,
                        Events::Batch {
                            events,
                            sent_at: parsed.sent_at,
                        },
                    );
                    assert_eq!(outcome.accepted, EVENTS);
                    black_box(outcome.batch.buf.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, enricher_only, pipeline);
criterion_main!(benches);
