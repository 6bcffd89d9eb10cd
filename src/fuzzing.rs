//! Fuzz harnesses shared by the cargo-fuzz targets (`fuzz/`) and by
//! `tests/fuzz_corpus.rs`, which replays the seed corpus and every kept
//! crasher as a regression test. Each harness takes arbitrary bytes and
//! must return without panicking; they also check a few invariants.

use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderMap, HeaderValue};

use crate::config::{Limits, Settings, SourceKind, SourceSettings};
use crate::event::EventType;
use crate::http::body;
use crate::limit::json::{self, Shape};
use crate::pipeline::Pipeline;
use crate::protocol::segment::{Batch, Single};
use crate::protocol::{DecodeLimits, Protocol};
use crate::request::RequestContext;
use crate::source::{KeyPlace, Source, Sources};

/// Small limits so the fuzzer reaches them often.
fn limits() -> Limits {
    Limits {
        max_body_bytes: 64 * 1024,
        max_decompressed_bytes: 256 * 1024,
        max_event_bytes: 4 * 1024,
        max_batch_events: 64,
        max_json_depth: 8,
        max_string_bytes: 512,
        max_key_bytes: 64,
        ..Limits::default()
    }
}

/// Body decoding: the first byte picks the `Content-Encoding` and
/// `Content-Type`, the rest is the body. Gzip output never passes the
/// decompressed limit.
pub fn body_decoding(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let limits = limits();
    let mut headers = HeaderMap::new();
    match selector % 4 {
        1 => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        2 => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        3 => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        }
        _ => {}
    }
    let runtime = runtime();
    let body = axum::body::Body::from(rest.to_vec());
    if let Ok(bytes) = runtime.block_on(body::read(&headers, body, &limits)) {
        assert!(bytes.len() <= limits.max_decompressed_bytes);
    }
    if let Ok(bytes) = body::inflate(rest, limits.max_decompressed_bytes) {
        assert!(bytes.len() <= limits.max_decompressed_bytes);
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}

struct Fixture {
    pipeline: Pipeline,
    source: Arc<Source>,
    shape: Shape,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let source = SourceSettings {
            name: "fuzz".into(),
            kind: SourceKind::Browser,
            keys: vec![crate::config::Secret::new("k")],
            allowed_origins: vec!["*".into()],
            rate_limit: None,
        };
        let settings = Settings {
            limits: limits(),
            sources: vec![source.clone()],
            ..Settings::default()
        };
        let sources = Sources::new(&[source]);
        let l = &settings.limits;
        Fixture {
            pipeline: Pipeline::new(&settings),
            source: Arc::clone(sources.get("k").unwrap_or_else(|| panic!("source"))),
            shape: Shape {
                max_depth: l.max_json_depth,
                max_string_bytes: l.max_string_bytes,
                max_key_bytes: l.max_key_bytes,
            },
        }
    })
}

/// Event parsing and validation, the way the handlers drive it: the
/// first byte picks a batch body or a single event of some type; every
/// record the pipeline lays out must be valid JSON.
pub fn event_parsing(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let f = fixture();
    // The handler's depth guard (twice the event limit plus wrapping).
    if json::check(body, &Shape::depth_only(f.shape.max_depth * 2 + 2)).is_err() {
        return;
    }
    let _ = json::check(body, &f.shape);
    let ctx = RequestContext {
        request_id: "fuzz",
        received_at: chrono::DateTime::UNIX_EPOCH,
        client_ip: None,
        user_agent: Some("fuzz"),
        write_key: "k",
        key_place: KeyPlace::BasicAuth,
        source: &f.source,
        path: "/v1/batch",
        content_type: "application/json",
        network_user_id: None,
    };
    let limits = DecodeLimits {
        max_batch_events: 64,
        has_outer_key: true,
    };
    let kind = EventType::ALL[usize::from(selector / 2) % EventType::ALL.len()];
    let decoded = if selector % 2 == 0 {
        Batch.decode(body, limits)
    } else {
        Single(kind).decode(body, limits)
    };
    let Ok(decoded) = decoded else {
        return;
    };
    let outcome = f.pipeline.run(&ctx, body, decoded.events);
    for record in &outcome.batch.records {
        let payload = outcome.batch.payload(record);
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(payload) {
            panic!(
                "record for topic {} is not JSON ({e}): {}",
                record.topic,
                String::from_utf8_lossy(payload)
            );
        }
    }
}
