//! The per-request pipeline, blind to HTTP and to the wire protocol:
//! validate and normalise each decoded event, enrich it, route it, and lay
//! out the request's Kafka records (raw envelope, processed events, dead
//! letters) in one buffer.

mod records;

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::config::Settings;
use crate::enrich::dedupe::Claims;
use crate::enrich::geo::NoGeo;
use crate::enrich::{AddedFields, Enricher, RequestEnrichment, Verdict};
use crate::event::time::Timestamp;
use crate::event::wire::WireEvent;
use crate::event::{self, BatchSentAt, Envelope, EventType, RejectReason, Rejection};
use crate::limit::json::{self as shape, Shape, Violation};
use crate::limit::RateLimiters;
use crate::protocol::{Events, Rejected};
use crate::request::RequestContext;
use crate::route::{PartitionKey, Router};
use crate::sink::RecordBatch;
use crate::telemetry as names;

/// The records to deliver and what to tell the client.
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
    /// Message ids claimed for duplicate checks; the delivery seam
    /// confirms them once the records are stored.
    pub claims: Claims,
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
    pub fn new(settings: &Settings) -> Self {
        Self::with_enricher(settings, Enricher::new(&settings.enrich, Arc::new(NoGeo)))
    }

    pub fn with_enricher(settings: &Settings, enricher: Enricher) -> Self {
        let l = &settings.limits;
        let (_, router) = crate::route::tables(&settings.kafka.topics, &settings.routes);
        Self {
            router,
            partition: settings.partitioning.key,
            max_event_bytes: l.max_event_bytes,
            shape: Shape {
                max_depth: l.max_json_depth,
                max_string_bytes: l.max_string_bytes,
                max_key_bytes: l.max_key_bytes,
            },
            limiters: None,
            enricher,
        }
    }

    /// Turns on hot-visitor re-keying with the application's limiters.
    pub fn with_rate_limiters(mut self, limiters: Arc<RateLimiters>) -> Self {
        self.limiters = Some(limiters);
        self
    }

    /// Builds every record of the request. `body` is the request body as
    /// received (decompressed), already known to be valid JSON.
    pub fn run(&self, ctx: &RequestContext<'_>, body: &[u8], events: Events<'_>) -> Outcome {
        let req = self.enricher.request(ctx);
        let mut run = Run {
            pipeline: self,
            ctx,
            req: &req,
            out: Outcome {
                batch: records::new_batch(ctx, body.len()),
                accepted: 0,
                rejected: Vec::new(),
                duplicates: 0,
                bots_dropped: 0,
                claims: self.enricher.claims(),
            },
            skew: SkewRecorder::default(),
            sent_at: None,
            added: AddedFields::new(),
        };
        records::write_raw(&mut run.out.batch, ctx, &req, body);
        match events {
            Events::Batch { events, sent_at } => {
                // Parsed once for the whole batch, not per event.
                run.sent_at = sent_at.as_deref().map(BatchSentAt::parse);
                run.out.batch.records.reserve(events.len());
                for (index, raw) in events.into_iter().enumerate() {
                    run.one(index, raw, None);
                }
            }
            Events::Single { event, kind } => run.one(0, event, Some(kind)),
        }
        let out = run.out;
        count(&out, &ctx.source.name);
        out
    }
}

fn count(out: &Outcome, source: &str) {
    let published = out.accepted - out.duplicates - out.bots_dropped;
    if published > 0 {
        metrics::counter!(names::EVENTS_ACCEPTED, "source" => source.to_owned())
            .increment(published as u64);
    }
    if out.duplicates > 0 {
        metrics::counter!(names::DUPLICATES_DROPPED).increment(out.duplicates as u64);
    }
    if out.bots_dropped > 0 {
        metrics::counter!(names::BOTS_DROPPED).increment(out.bots_dropped as u64);
    }
}

/// One request's state while its events go through the pipeline.
struct Run<'p, 'r> {
    pipeline: &'p Pipeline,
    ctx: &'p RequestContext<'r>,
    req: &'p RequestEnrichment,
    out: Outcome,
    skew: SkewRecorder,
    /// The batch-level `sentAt`, parsed once.
    sent_at: Option<BatchSentAt>,
    /// The current event's context additions; one buffer reused for all
    /// events of the request.
    added: AddedFields<'p>,
}

impl<'p> Run<'p, '_> {
    fn one(&mut self, index: usize, raw: &'p RawValue, implied_type: Option<EventType>) {
        let p = self.pipeline;
        let ctx = self.ctx;
        let event = match p.validate(raw, implied_type, self.sent_at, ctx.received_at) {
            Ok(event) => event,
            Err(rejection) => return self.reject(index, raw, rejection),
        };
        self.skew.observe(event.sent_at, ctx.received_at);
        self.added.clear();
        let verdict =
            p.enricher
                .event(self.req, ctx, &event, &mut self.added, &mut self.out.claims);
        match verdict {
            Verdict::Publish => {}
            Verdict::Duplicate => {
                self.out.accepted += 1;
                self.out.duplicates += 1;
                return;
            }
            Verdict::Bot => {
                self.out.accepted += 1;
                self.out.bots_dropped += 1;
                return;
            }
        }
        let hot = || {
            p.limiters
                .as_ref()
                .and_then(|l| l.hot_visitor.as_ref())
                .is_some_and(|h| h.is_hot(ctx.write_key, event.identity.visitor()))
        };
        // A hot visitor's further events go without a key, so the producer
        // spreads them over partitions.
        let keyed = p.partition == PartitionKey::Visitor && !hot();
        let topic = p.router.route(&event);
        let written =
            records::write_event(&mut self.out.batch, ctx, &event, &self.added, topic, keyed);
        match written {
            Ok(()) => self.out.accepted += 1,
            // Serialising borrowed, already-valid JSON cannot fail in
            // practice; treat it as a rejection rather than a crash.
            Err(e) => self.reject(
                index,
                raw,
                Rejection::new(RejectReason::InvalidField, e.to_string()),
            ),
        }
    }

    fn reject(&mut self, index: usize, raw: &RawValue, r: Rejection) {
        metrics::counter!(names::EVENTS_REJECTED, "reason" => r.reason.code()).increment(1);
        records::write_dead_letter(&mut self.out.batch, self.ctx, index, raw, &r);
        self.out.rejected.push(Rejected {
            index,
            reason: r.reason.code(),
            message: r.detail,
        });
    }
}

impl Pipeline {
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
