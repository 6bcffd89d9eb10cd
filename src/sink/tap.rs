//! A sink decorator for dev mode: remembers the last processed events so
//! the demo page can show them arriving (the mock cluster keeps nothing
//! readable).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{EventSink, Health, RecordBatch, SinkError, TopicTable};

/// How many recent events the tap keeps.
const KEEP: usize = 50;

pub struct RecentEvents {
    inner: Arc<dyn EventSink>,
    recent: Mutex<VecDeque<serde_json::Value>>,
}

impl RecentEvents {
    pub fn new(inner: Arc<dyn EventSink>) -> Self {
        Self {
            inner,
            recent: Mutex::new(VecDeque::with_capacity(KEEP)),
        }
    }

    /// The most recent processed events, newest first.
    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().rev().cloned().collect()
    }
}

impl EventSink for RecentEvents {
    fn publish(&self, batch: RecordBatch) -> BoxFuture<'static, Result<(), SinkError>> {
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            for r in batch.records.iter().filter(|r| r.topic != TopicTable::RAW) {
                if let Ok(v) = serde_json::from_slice(batch.payload(r)) {
                    if recent.len() == KEEP {
                        recent.pop_front();
                    }
                    recent.push_back(v);
                }
            }
        }
        self.inner.publish(batch)
    }

    fn health(&self) -> Health {
        self.inner.health()
    }

    fn flush(&self, timeout: Duration) {
        self.inner.flush(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::config::Topics;
    use crate::sink::memory::MemorySink;
    use crate::sink::Record;

    #[tokio::test]
    async fn keeps_the_newest_processed_events_and_passes_everything_on() {
        let t = Topics::default();
        let topics = TopicTable::new(t.raw, t.events, t.dlq);
        let memory = MemorySink::new(topics);
        let tap = RecentEvents::new(Arc::new(memory.clone()));
        for i in 0..(KEEP + 5) {
            let raw = br#"{"raw":true}"#;
            let event = format!(r#"{{"n":{i}}}"#);
            let mut buf = raw.to_vec();
            buf.extend_from_slice(event.as_bytes());
            let batch = RecordBatch {
                records: vec![
                    Record {
                        topic: TopicTable::RAW,
                        key: None,
                        payload: 0..raw.len(),
                        kind: "raw",
                    },
                    Record {
                        topic: TopicTable::EVENTS,
                        key: None,
                        payload: raw.len()..buf.len(),
                        kind: "track",
                    },
                ],
                buf,
                ..RecordBatch::default()
            };
            tap.publish(batch).await.expect("published");
        }
        let recent = tap.snapshot();
        assert_eq!(recent.len(), KEEP);
        assert_eq!(recent[0]["n"], KEEP + 4, "newest first");
        assert!(
            recent.iter().all(|v| v.get("raw").is_none()),
            "raw records are not events"
        );
        assert_eq!(memory.records().len(), 2 * (KEEP + 5));
    }
}
