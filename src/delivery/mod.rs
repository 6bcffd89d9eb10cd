//! The delivery seam: the one place that owns "publish this request's
//! records, wait as the delivery mode says, and tell the caller whether
//! they are stored". The duplicate-check claims of the request ride along
//! and are confirmed only once the records are stored as the mode
//! promises; otherwise they are forgotten, so a client's retry lands.
//!
//! Today's mode is [`Direct`]: straight to the sink (Kafka in
//! production), answering after the broker acknowledged every record
//! (`kafka.ack = "kafka"`) or once they are queued (`"enqueue"`). A
//! durable local spool or Kafka transactions are further implementations
//! of [`Delivery`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use crate::enrich::dedupe::Claims;
use crate::sink::config::AckMode;
use crate::sink::{EventSink, Health, RecordBatch, SinkError};

/// Delivers a request's records as its mode promises.
pub trait Delivery: Send + Sync + 'static {
    /// Resolves `Ok` once the records are stored as the mode promises; the
    /// claims are confirmed then, and forgotten if it fails or is dropped.
    fn deliver(
        &self,
        batch: RecordBatch,
        claims: Claims,
    ) -> BoxFuture<'static, Result<(), SinkError>>;

    /// Whether records can be delivered now (readiness).
    fn health(&self) -> Health;

    /// Delivers what is still queued, waiting at most `timeout` (shutdown).
    fn flush(&self, timeout: Duration);
}

/// Straight to the sink; answer after its acknowledgement or on enqueue.
pub struct Direct {
    sink: Arc<dyn EventSink>,
    wait: AckMode,
}

impl Direct {
    pub fn new(sink: Arc<dyn EventSink>, wait: AckMode) -> Self {
        Self { sink, wait }
    }
}

impl Delivery for Direct {
    fn deliver(
        &self,
        batch: RecordBatch,
        claims: Claims,
    ) -> BoxFuture<'static, Result<(), SinkError>> {
        let acked = self.sink.publish(batch);
        match self.wait {
            AckMode::Kafka => async move {
                acked.await?;
                claims.confirm();
                Ok(())
            }
            .boxed(),
            // The sink enqueues inside `publish`: a refusal is ready at
            // once; a pending future only waits for the acknowledgement.
            AckMode::Enqueue => {
                let result = acked.now_or_never().unwrap_or(Ok(()));
                if result.is_ok() {
                    claims.confirm();
                }
                async move { result }.boxed()
            }
        }
    }

    fn health(&self) -> Health {
        self.sink.health()
    }

    fn flush(&self, timeout: Duration) {
        self.sink.flush(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::dedupe::Dedupe;
    use crate::sink::config::Topics;
    use crate::sink::memory::MemorySink;
    use crate::sink::TopicTable;

    fn memory() -> MemorySink {
        let t = Topics::default();
        MemorySink::new(TopicTable::new(t.raw, t.events, t.dlq))
    }

    async fn claim_and_deliver(sink: &MemorySink, dedupe: &Arc<Dedupe>, id: &str) -> bool {
        let delivery = Direct::new(Arc::new(sink.clone()), AckMode::Kafka);
        let mut claims = Claims::new(Some(Arc::clone(dedupe)));
        if !dedupe.claim(&mut claims, "web", id, 0) {
            return false;
        }
        let _ = delivery.deliver(RecordBatch::default(), claims).await;
        true
    }

    #[tokio::test]
    async fn ids_are_kept_only_when_the_records_are_stored() {
        let sink = memory();
        let dedupe = Arc::new(Dedupe::new(Duration::from_secs(60), 1000));
        sink.fail_with(Some(SinkError::QueueFull));
        assert!(claim_and_deliver(&sink, &dedupe, "m1").await);
        assert!(
            claim_and_deliver(&sink, &dedupe, "m1").await,
            "a failed delivery forgets the id, so the retry is not a duplicate"
        );
        sink.fail_with(None);
        assert!(claim_and_deliver(&sink, &dedupe, "m2").await);
        assert!(
            !claim_and_deliver(&sink, &dedupe, "m2").await,
            "a stored id is remembered"
        );
    }
}
