//! The request's Kafka records laid out in its one buffer: the raw
//! envelope, each processed event with its partition key, dead letters.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::enrich::{AddedFields, RequestEnrichment};
use crate::event::{self, time, Event, Rejection};
use crate::request::RequestContext;
use crate::sink::{Record, RecordBatch, TopicId, TopicTable};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeadLetter<'a> {
    reason: &'static str,
    message: &'a str,
    index: usize,
    request_id: &'a str,
    received_at: String,
    source: &'a str,
    event: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope<'a> {
    request_id: &'a str,
    received_at: String,
    client_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    write_key: &'a str,
    source: &'a str,
    path: &'a str,
    content_type: &'a str,
}

/// An empty batch for one request's records (`body_len` sizes the buffer:
/// the raw envelope holds the body, the events about as much again).
pub(super) fn new_batch(ctx: &RequestContext<'_>, body_len: usize) -> RecordBatch {
    RecordBatch {
        buf: Vec::with_capacity(body_len * 2 + 512),
        records: Vec::new(),
        source: Arc::clone(&ctx.source.name),
        timestamp_ms: ctx.received_at.timestamp_millis(),
    }
}

/// The raw record: the envelope with the body embedded verbatim as its
/// last field, `"body": <body as received>`.
pub(super) fn write_raw(
    batch: &mut RecordBatch,
    ctx: &RequestContext<'_>,
    req: &RequestEnrichment,
    body: &[u8],
) {
    let envelope = RawEnvelope {
        request_id: ctx.request_id,
        received_at: time::format(&ctx.received_at),
        client_ip: req.client_ip.as_deref(),
        user_agent: ctx.user_agent,
        write_key: ctx.write_key,
        source: &ctx.source.name,
        path: ctx.path,
        content_type: ctx.content_type,
    };
    let start = batch.buf.len();
    if serde_json::to_writer(&mut batch.buf, &envelope).is_err() {
        batch.buf.truncate(start);
        return;
    }
    batch.buf.pop(); // the closing brace
    batch.buf.extend_from_slice(b",\"body\":");
    batch.buf.extend_from_slice(body.trim_ascii());
    batch.buf.push(b'}');
    batch.records.push(Record {
        topic: TopicTable::RAW,
        key: None,
        payload: start..batch.buf.len(),
        kind: "raw",
    });
}

/// A processed event to `topic`; keyed by `writeKey:visitor` when `keyed`.
pub(super) fn write_event(
    batch: &mut RecordBatch,
    ctx: &RequestContext<'_>,
    event: &Event<'_>,
    added: &AddedFields<'_>,
    topic: TopicId,
    keyed: bool,
) -> Result<(), serde_json::Error> {
    let key = keyed.then(|| {
        let start = batch.buf.len();
        batch.buf.extend_from_slice(ctx.write_key.as_bytes());
        batch.buf.push(b':');
        batch
            .buf
            .extend_from_slice(event.identity.visitor().as_bytes());
        start..batch.buf.len()
    });
    let start = batch.buf.len();
    if let Err(e) = event::write_event(&mut batch.buf, event, added, &ctx.source.name) {
        batch.buf.truncate(key.as_ref().map_or(start, |k| k.start));
        return Err(e);
    }
    batch.records.push(Record {
        topic,
        key,
        payload: start..batch.buf.len(),
        kind: event.kind.as_str(),
    });
    Ok(())
}

/// A rejected event, as received, with why, to the dead-letter topic.
pub(super) fn write_dead_letter(
    batch: &mut RecordBatch,
    ctx: &RequestContext<'_>,
    index: usize,
    raw: &RawValue,
    r: &Rejection,
) {
    let dead = DeadLetter {
        reason: r.reason.code(),
        message: &r.detail,
        index,
        request_id: ctx.request_id,
        received_at: time::format(&ctx.received_at),
        source: &ctx.source.name,
        event: raw,
    };
    let start = batch.buf.len();
    if serde_json::to_writer(&mut batch.buf, &dead).is_ok() {
        batch.records.push(Record {
            topic: TopicTable::DLQ,
            key: None,
            payload: start..batch.buf.len(),
            kind: "dlq",
        });
    } else {
        batch.buf.truncate(start);
    }
}
