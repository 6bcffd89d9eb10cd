//! The per-request pipeline, independent of HTTP: validate and normalise
//! each event, route it, and lay out the request's Kafka records (raw
//! envelope, processed events, dead letters) in one buffer.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::config::{PartitionKey, Settings};
use crate::enrich::dedupe::Seen;
use crate::enrich::geo::NoGeo;
use crate::enrich::{Enricher, RequestEnrichment, Verdict};
use crate::event::time::{self, Timestamp};
use crate::event::wire::WireEvent;
use crate::event::{self, EventType, RejectReason, Rejection};
use crate::event::{BatchSentAt, Envelope};
use crate::limit::json::{self as shape, Shape, Violation};
use crate::limit::RateLimiters;
use crate::route::Router;
use crate::sink::{Record, RecordBatch, TopicTable};
use crate::source::Source;
use crate::telemetry as names;

/// What the pipeline knows about the request around the events.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'r> {
    pub request_id: &'r str,
    pub received_at: Timestamp,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'r str>,
    pub write_key: &'r str,
    pub source: &'r Source,
    pub path: &'r str,
    pub content_type: &'r str,
    /// The first-party cookie's id, when clickgate sets one.
    pub network_user_id: Option<&'r str>,
}

/// The events of one request.
pub enum Events<'a> {
    /// `POST /v1/batch`: each event still raw, so one bad event cannot
    /// fail the others.
    Batch {
        events: Vec<&'a RawValue>,
        sent_at: Option<&'a str>,
    },
    /// `POST /v1/track` and friends: the body is the event.
    Single {
        event: &'a RawValue,
        kind: EventType,
    },
}

/// One rejected event of a request.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub index: usize,
    pub reason: &'static str,
    pub message: String,
}

/// The records to publish and what to tell the client.
#[derive(Debug)]
pub struct Outcome {
    pub batch: RecordBatch,
    /// Events acknowledged to the client: published, plus duplicates and
    /// dropped bots (which the client must not send again).
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
    /// Acknowledged but not published because already seen.
    pub duplicates: usize,
    /// Acknowledged but not published because bots are dropped.
    pub bots_dropped: usize,
    /// Message ids remembered for duplicate checks; forget them with
    /// [`Pipeline::forget`] if the records never reach the sink.
    pub seen: Vec<Seen>,
}

pub struct Pipeline {
    router: Router,
    partition: PartitionKey,
    max_event_bytes: usize,
    enricher: Enricher,
    shape: Shape,
    /// Hot-visitor detection (re-keys a visitor over its event rate).
    limiters: Option<Arc<RateLimiters>>,
}

impl Pipeline {
    /// A pipeline without a geo database.
    pub fn new(settings: &Settings) -> Result<Self, String> {
        Self::with_enricher(settings, Enricher::new(&settings.enrich, Arc::new(NoGeo)))
    }

    pub fn with_enricher(settings: &Settings, enricher: Enricher) -> Result<Self, String> {
        let l = &settings.limits;
        Ok(Self {
            router: Router::new(&settings.routes)?,
            partition: settings.partitioning.key,
            max_event_bytes: l.max_event_bytes,
            shape: Shape {
                max_depth: l.max_json_depth,
                max_string_bytes: l.max_string_bytes,
                max_key_bytes: l.max_key_bytes,
            },
            limiters: None,
            enricher,
        })
    }

    /// Forgets the message ids of a request that was not published.
    pub fn forget(&self, seen: &[Seen]) {
        self.enricher.forget(seen);
    }

    /// Turns on hot-visitor re-keying with the application's limiters.
    pub fn with_rate_limiters(mut self, limiters: Arc<RateLimiters>) -> Self {
        self.limiters = Some(limiters);
        self
    }

    /// Builds every record of the request. `body` is the request body as
    /// received (decompressed), already known to be valid JSON.
    pub fn run(&self, info: &RequestInfo<'_>, body: &[u8], events: Events<'_>) -> Outcome {
        let mut out = Outcome {
            batch: RecordBatch {
                buf: Vec::with_capacity(body.len() * 2 + 512),
                records: Vec::new(),
                source: Arc::clone(&info.source.name),
                timestamp_ms: info.received_at.timestamp_millis(),
            },
            accepted: 0,
            rejected: Vec::new(),
            duplicates: 0,
            bots_dropped: 0,
            seen: Vec::new(),
        };
        let req = self.enricher.request(info);
        write_raw(&mut out.batch, info, &req, body);
        let mut skew = SkewRecorder::default();
        match events {
            Events::Batch { events, sent_at } => {
                // Parsed once for the whole batch, not per event.
                let sent_at = sent_at.map(BatchSentAt::parse);
                out.batch.records.reserve(events.len());
                for (index, raw) in events.into_iter().enumerate() {
                    self.one(&mut out, info, &req, &mut skew, index, raw, None, sent_at);
                }
            }
            Events::Single { event, kind } => {
                self.one(&mut out, info, &req, &mut skew, 0, event, Some(kind), None)
            }
        }
        let published = out.accepted - out.duplicates - out.bots_dropped;
        if published > 0 {
            metrics::counter!(names::EVENTS_ACCEPTED, "source" => info.source.name.to_string())
                .increment(published as u64);
        }
        if out.duplicates > 0 {
            metrics::counter!(names::DUPLICATES_DROPPED).increment(out.duplicates as u64);
        }
        if out.bots_dropped > 0 {
            metrics::counter!(names::BOTS_DROPPED).increment(out.bots_dropped as u64);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn one(
        &self,
        out: &mut Outcome,
        info: &RequestInfo<'_>,
        req: &RequestEnrichment,
        skew: &mut SkewRecorder,
        index: usize,
        raw: &RawValue,
        implied_type: Option<EventType>,
        batch_sent_at: Option<BatchSentAt>,
    ) {
        match self.validate(raw, implied_type, batch_sent_at, info.received_at) {
            Ok(mut event) => {
                skew.observe(event.sent_at, info.received_at);
                match self.enricher.event(req, info, &mut event) {
                    Verdict::Publish(seen) => out.seen.extend(seen),
                    Verdict::Duplicate => {
                        out.accepted += 1;
                        out.duplicates += 1;
                        return;
                    }
                    Verdict::Bot => {
                        out.accepted += 1;
                        out.bots_dropped += 1;
                        return;
                    }
                }
                if let Err(e) = self.write_event(&mut out.batch, info, &event) {
                    // Serialising borrowed, already-valid JSON cannot fail in
                    // practice; treat it as a rejection rather than a crash.
                    self.reject(
                        out,
                        info,
                        index,
                        raw,
                        Rejection::new(RejectReason::InvalidField, e.to_string()),
                    );
                } else {
                    out.accepted += 1;
                }
            }
            Err(rejection) => self.reject(out, info, index, raw, rejection),
        }
    }

    fn validate<'a>(
        &self,
        raw: &'a RawValue,
        implied_type: Option<EventType>,
        batch_sent_at: Option<BatchSentAt>,
        received_at: Timestamp,
    ) -> Result<event::Event<'a>, Rejection> {
        let text = raw.get();
        if text.len() > self.max_event_bytes {
            return Err(Rejection::new(
                RejectReason::TooLarge,
                format!(
                    "event is {} bytes; the limit is {} bytes (limits.max_event_bytes)",
                    text.len(),
                    self.max_event_bytes
                ),
            ));
        }
        if !text.starts_with('{') {
            return Err(Rejection::new(
                RejectReason::NotAnObject,
                "an event must be a JSON object",
            ));
        }
        shape::check(text.as_bytes(), &self.shape).map_err(|v| {
            let reason = match v {
                Violation::TooDeep { .. } => RejectReason::TooDeep,
                _ => RejectReason::TooLong,
            };
            Rejection::new(reason, v.message("the event"))
        })?;
        let wire: WireEvent<'a> =
            serde_json::from_str(text).map_err(|e| Rejection::from_parse_error(&e))?;
        event::normalise(
            wire,
            Envelope {
                implied_type,
                batch_sent_at,
                received_at,
            },
        )
    }

    fn write_event(
        &self,
        batch: &mut RecordBatch,
        info: &RequestInfo<'_>,
        event: &event::Event<'_>,
    ) -> Result<(), serde_json::Error> {
        let visitor = event.identity.visitor();
        let hot = || {
            self.limiters
                .as_ref()
                .and_then(|l| l.hot_visitor.as_ref())
                .is_some_and(|h| h.is_hot(info.write_key, visitor))
        };
        let key = match self.partition {
            // A hot visitor's further events go without a key, so the
            // producer spreads them over partitions.
            PartitionKey::Visitor if hot() => None,
            PartitionKey::Visitor => {
                let start = batch.buf.len();
                batch.buf.extend_from_slice(info.write_key.as_bytes());
                batch.buf.push(b':');
                batch.buf.extend_from_slice(visitor.as_bytes());
                Some(start..batch.buf.len())
            }
            PartitionKey::Random => None,
        };
        let start = batch.buf.len();
        if let Err(e) = event::write_event(&mut batch.buf, event, &info.source.name) {
            batch.buf.truncate(key.as_ref().map_or(start, |k| k.start));
            return Err(e);
        }
        batch.records.push(Record {
            topic: self.router.route(event),
            key,
            payload: start..batch.buf.len(),
            kind: event.kind.as_str(),
        });
        Ok(())
    }

    fn reject(
        &self,
        out: &mut Outcome,
        info: &RequestInfo<'_>,
        index: usize,
        raw: &RawValue,
        r: Rejection,
    ) {
        metrics::counter!(names::EVENTS_REJECTED, "reason" => r.reason.code()).increment(1);
        let dead = DeadLetter {
            reason: r.reason.code(),
            message: &r.detail,
            index,
            request_id: info.request_id,
            received_at: time::format(&info.received_at),
            source: &info.source.name,
            event: raw,
        };
        let start = out.batch.buf.len();
        if serde_json::to_writer(&mut out.batch.buf, &dead).is_ok() {
            out.batch.records.push(Record {
                topic: TopicTable::DLQ,
                key: None,
                payload: start..out.batch.buf.len(),
                kind: "dlq",
            });
        } else {
            out.batch.buf.truncate(start);
        }
        out.rejected.push(Rejected {
            index,
            reason: r.reason.code(),
            message: r.detail,
        });
    }
}

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

/// The raw record: the envelope with the body embedded verbatim as its
/// last field, `"body": <body as received>`.
fn write_raw(
    batch: &mut RecordBatch,
    info: &RequestInfo<'_>,
    req: &RequestEnrichment,
    body: &[u8],
) {
    let envelope = RawEnvelope {
        request_id: info.request_id,
        received_at: time::format(&info.received_at),
        client_ip: req.client_ip.as_deref(),
        user_agent: info.user_agent,
        write_key: info.write_key,
        source: &info.source.name,
        path: info.path,
        content_type: info.content_type,
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

/// Observes client clock skew (`sentAt` − `receivedAt`, absolute) once per
/// distinct `sentAt` of a request, not once per event.
#[derive(Default)]
struct SkewRecorder {
    last: Option<Timestamp>,
}

impl SkewRecorder {
    fn observe(&mut self, sent_at: Option<Timestamp>, received_at: Timestamp) {
        let Some(sent) = sent_at else { return };
        if self.last == Some(sent) {
            return;
        }
        self.last = Some(sent);
        let skew = (sent - received_at).num_milliseconds().unsigned_abs() as f64 / 1000.0;
        metrics::histogram!(names::CLOCK_SKEW).record(skew);
    }
}
