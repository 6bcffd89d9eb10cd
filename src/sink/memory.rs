//! An in-memory sink for handler tests: keeps every record, and can be told
//! to fail the way Kafka fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::{EventSink, Health, RecordBatch, SinkError, TopicTable};

/// A record as the memory sink stored it.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub source: String,
    pub kind: String,
}

impl StoredRecord {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct State {
    records: Vec<StoredRecord>,
    failure: Option<SinkError>,
}

#[derive(Clone)]
pub struct MemorySink {
    topics: TopicTable,
    state: Arc<Mutex<State>>,
}

impl MemorySink {
    pub fn new(topics: TopicTable) -> Self {
        Self {
            topics,
            state: Arc::default(),
        }
    }

    /// Every later publish fails with `error` (None: succeed again).
    pub fn fail_with(&self, error: Option<SinkError>) {
        self.lock().failure = error;
    }

    pub fn records(&self) -> Vec<StoredRecord> {
        self.lock().records.clone()
    }

    pub fn records_in(&self, topic: &str) -> Vec<StoredRecord> {
        self.lock()
            .records
            .iter()
            .filter(|r| r.topic == topic)
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking test thread must not hide the records from the others.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl EventSink for MemorySink {
    fn publish(&self, batch: RecordBatch) -> BoxFuture<'static, Result<(), SinkError>> {
        let mut state = self.lock();
        let result = match &state.failure {
            Some(err) => Err(err.clone()),
            None => {
                for r in &batch.records {
                    state.records.push(StoredRecord {
                        topic: self.topics.name(r.topic).to_owned(),
                        key: batch.key(r).map(<[u8]>::to_vec),
                        payload: batch.payload(r).to_vec(),
                        source: batch.source.to_string(),
                        kind: r.kind.to_owned(),
                    });
                }
                Ok(())
            }
        };
        async move { result }.boxed()
    }

    fn health(&self) -> Health {
        match &self.lock().failure {
            Some(err) => Health {
                ready: false,
                detail: err.to_string(),
            },
            None => Health {
                ready: true,
                detail: "memory sink".into(),
            },
        }
    }

    fn flush(&self, _timeout: Duration) {}
}
