//! Per-event cost of the request pipeline: decode the body, validate and
//! normalise each event, and serialise the Kafka records (raw envelope,
//! processed events). Run: `cargo bench --bench pipeline`.

use std::hint::black_box;

use clickgate::config::{Secret, Settings, SourceKind, SourceSettings};
use clickgate::event::wire::BatchBody;
use clickgate::pipeline::Pipeline;
use clickgate::protocol::Events;
use clickgate::request::RequestContext;
use clickgate::source::KeyPlace;
use clickgate::source::Sources;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

/// A browser-like event of realistic size (~700 bytes).
fn event(i: usize) -> serde_json::Value {
    let kind = ["page", "track", "track"][i % 3];
    json!({
        "type": kind,
        "event": if kind == "track" { Some("Product Clicked") } else { None },
        "name": if kind == "page" { Some("Product") } else { None },
        "messageId": format!("0193a4c2-7d1e-7000-8000-{i:012}"),
        "anonymousId": "2f0c6a0e-3b8e-4a57-9b1e-5c3f0d6e8a91",
        "timestamp": "2024-05-01T12:00:00.123Z",
        "properties": {"sku": "SKU-12345", "price": 19.99, "currency": "EUR", "position": i, "list": "search results"},
        "context": {
            "page": {"url": "https://shop.example.com/products/12345?utm_source=newsletter&utm_medium=email",
                     "path": "/products/12345", "title": "Blue running shoes – Example Shop",
                     "referrer": "https://www.google.com/", "search": "?utm_source=newsletter&utm_medium=email"},
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "locale": "de-DE", "timezone": "Europe/Berlin",
            "screen": {"width": 1920, "height": 1080},
            "session": {"id": "s-1714564800000", "index": 3, "start": false},
            "library": {"name": "clickgate.js", "version": "0.1.0"}
        }
    })
}

fn bench(c: &mut Criterion) {
    let mut settings = Settings {
        sources: vec![SourceSettings {
            name: "web".into(),
            kind: SourceKind::Browser,
            keys: vec![Secret::new("pk_bench")],
            allowed_origins: vec!["*".into()],
            rate_limit: None,
        }],
        ..Settings::default()
    };
    // Every iteration sends the same message ids; with duplicate dropping
    // on, all but the first would be dropped (benches/enrich.rs measures
    // it with fresh ids).
    settings.enrich.dedupe.enabled = false;
    let pipeline = Pipeline::new(&settings);
    let sources = Sources::new(&settings.sources);
    let source = sources.get("pk_bench").expect("source");
    let received_at = clickgate::event::time::parse("2024-05-01T12:00:01Z").expect("time");

    let mut group = c.benchmark_group("pipeline");
    for size in [1usize, 20, 100] {
        let body = serde_json::to_vec(&json!({
            "batch": (0..size).map(event).collect::<Vec<_>>(),
            "sentAt": "2024-05-01T12:00:00.500Z",
            "writeKey": "pk_bench",
        }))
        .expect("body");
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("batch", size), &body, |b, body| {
            b.iter(|| {
                let parsed: BatchBody<'_> =
                    serde_json::from_slice(black_box(body)).expect("parses");
                let events = parsed.batch.expect("batch");
                let info = RequestContext {
                    key_place: KeyPlace::Body,
                    request_id: "0193a4c2-7d1e-7000-8000-000000000000",
                    received_at,
                    client_ip: Some([203, 0, 113, 9].into()),
                    user_agent: Some("Mozilla/5.0"),
                    write_key: "pk_bench",
                    source,
                    path: "/v1/batch",
                    content_type: "text/plain",
                    network_user_id: None,
                };
                let outcome = pipeline.run(
                    &info,
                    body,
                    Events::Batch {
                        events,
                        sent_at: parsed.sent_at,
                    },
                );
                assert_eq!(outcome.accepted, size);
                black_box(outcome.batch.buf.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
