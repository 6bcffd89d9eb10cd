//! The producer seam: a request's records go out as one [`RecordBatch`]
//! through an [`EventSink`] — Kafka in production, memory in handler tests.

pub mod config;
pub mod kafka;
pub mod memory;
pub mod tap;
pub mod topics;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use config::TopicSettings;

/// Index of a topic in the [`TopicTable`].
pub type TopicId = usize;

/// All topics clickgate writes: raw, events, dlq, then one per routing rule
/// (`route::tables` builds it together with the router).
#[derive(Debug, Clone)]
pub struct TopicTable {
    topics: Vec<TopicSettings>,
}

impl TopicTable {
    pub const RAW: TopicId = 0;
    pub const EVENTS: TopicId = 1;
    pub const DLQ: TopicId = 2;

    /// A table of the three fixed topics; [`TopicTable::push`] adds more.
    pub fn new(raw: TopicSettings, events: TopicSettings, dlq: TopicSettings) -> Self {
        Self {
            topics: vec![raw, events, dlq],
        }
    }

    /// Adds a topic (a routing rule's) and returns its id.
    pub fn push(&mut self, topic: TopicSettings) -> TopicId {
        self.topics.push(topic);
        self.topics.len() - 1
    }

    pub fn name(&self, id: TopicId) -> &str {
        &self.topics[id].name
    }

    /// Distinct topics (a route may reuse a name), in table order.
    pub fn distinct(&self) -> Vec<&TopicSettings> {
        let mut out: Vec<&TopicSettings> = Vec::new();
        for t in &self.topics {
            if !out.iter().any(|o| o.name == t.name) {
                out.push(t);
            }
        }
        out
    }
}

/// One Kafka record; key and payload are ranges into the batch buffer.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: TopicId,
    pub key: Option<Range<usize>>,
    pub payload: Range<usize>,
    /// Value of the `type` header (`raw`, `dlq` or the event type).
    pub kind: &'static str,
}

/// The records of one request, sharing one buffer.
#[derive(Debug, Default)]
pub struct RecordBatch {
    pub buf: Vec<u8>,
    pub records: Vec<Record>,
    /// Source name, sent as the `source` header.
    pub source: Arc<str>,
    /// Record timestamp (receive time), milliseconds since the epoch.
    pub timestamp_ms: i64,
}

impl RecordBatch {
    pub fn key(&self, r: &Record) -> Option<&[u8]> {
        r.key.clone().map(|k| &self.buf[k])
    }
    pub fn payload(&self, r: &Record) -> &[u8] {
        &self.buf[r.payload.clone()]
    }
}

/// Why records could not be delivered; each maps to one HTTP status.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SinkError {
    #[error("Kafka is unavailable: {0}")]
    Unavailable(String),
    #[error("the producer queue is full")]
    QueueFull,
    #[error("Kafka did not acknowledge within {0:?}")]
    Timeout(Duration),
    #[error("a record of {bytes} bytes is larger than topic {topic} accepts")]
    RecordTooLarge { topic: String, bytes: usize },
}

impl SinkError {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkError::Unavailable(_) => "unavailable",
            SinkError::QueueFull => "queue_full",
            SinkError::Timeout(_) => "timeout",
            SinkError::RecordTooLarge { .. } => "too_large",
        }
    }
}

/// Readiness as the sink sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ready: bool,
    pub detail: String,
}

/// Where a request's records go.
pub trait EventSink: Send + Sync + 'static {
    /// Enqueues every record of the batch before returning (a refusal is a
    /// future that is ready at once); the future resolves `Ok` once all are
    /// acknowledged, within a bounded time.
    fn publish(&self, batch: RecordBatch) -> BoxFuture<'static, Result<(), SinkError>>;

    /// Whether the sink can take records now.
    fn health(&self) -> Health;

    /// Delivers what is queued, waiting at most `timeout`.
    fn flush(&self, timeout: Duration);
}
