//! The Kafka sink: an idempotent librdkafka producer, one delivery tracker
//! per request, and a background probe that decides readiness.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use metrics::Counter;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use tokio::sync::oneshot;

use super::config::{KafkaSettings, MAX_MESSAGE_BYTES};
use super::{topics, EventSink, Health, RecordBatch, SinkError, TopicTable};
use crate::telemetry as names;

/// Producer queue capacity in messages (librdkafka
/// `queue.buffering.max.messages`), unless overridden.
const DEFAULT_QUEUE_MESSAGES: &str = "100000";
/// Producer queue capacity in KiB: bounds memory under overload.
const DEFAULT_QUEUE_KBYTES: &str = "65536";

/// The librdkafka configuration for clickgate's producer.
pub fn producer_config(kafka: &KafkaSettings) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.brokers)
        .set("client.id", "clickgate")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set(
            "message.timeout.ms",
            kafka.delivery_timeout.as_millis().to_string(),
        )
        .set("message.max.bytes", MAX_MESSAGE_BYTES.to_string())
        .set("queue.buffering.max.messages", DEFAULT_QUEUE_MESSAGES)
        .set("queue.buffering.max.kbytes", DEFAULT_QUEUE_KBYTES)
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("reconnect.backoff.max.ms", "1000");
    for (k, v) in &kafka.producer {
        cfg.set(k, v);
    }
    cfg
}

/// Tracks one request's records until the last one is acknowledged.
pub struct Pending {
    /// Records not yet reported, plus one guard held while enqueueing.
    remaining: AtomicUsize,
    error: Mutex<Option<SinkError>>,
    done: Mutex<Option<oneshot::Sender<Result<(), SinkError>>>>,
}

impl Pending {
    fn report(&self, result: Result<(), SinkError>) {
        if let Err(e) = result {
            let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let error = self.error.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(tx) = self.done.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(error.map_or(Ok(()), Err));
            }
        }
    }
}

/// librdkafka callbacks: delivery reports, errors, logs.
pub struct GatewayContext {
    /// `clickgate_kafka_delivered_total` handles by topic and partition;
    /// only the producer's polling thread touches it.
    delivered: Mutex<HashMap<String, Vec<Counter>>>,
}

impl GatewayContext {
    fn count_delivery(&self, topic: &str, partition: i32) {
        let Ok(p) = usize::try_from(partition) else {
            return;
        };
        let mut map = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        let counters = match map.get_mut(topic) {
            Some(c) => c,
            None => map.entry(topic.to_owned()).or_default(),
        };
        while counters.len() <= p {
            let label = counters.len().to_string();
            counters.push(metrics::counter!(names::KAFKA_DELIVERED, "topic" => topic.to_owned(), "partition" => label));
        }
        counters[p].increment(1);
    }
}

impl ClientContext for GatewayContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

impl ProducerContext for GatewayContext {
    type DeliveryOpaque = Arc<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Arc<Pending>) {
        match result {
            Ok(msg) => {
                self.count_delivery(msg.topic(), msg.partition());
                pending.report(Ok(()));
            }
            Err((err, msg)) => {
                let error = delivery_error(err, msg.topic(), msg.payload_len());
                metrics::counter!(names::KAFKA_DELIVERY_ERRORS, "topic" => msg.topic().to_owned(), "kind" => error.kind())
                    .increment(1);
                pending.report(Err(error));
            }
        }
    }
}

fn delivery_error(err: &KafkaError, topic: &str, bytes: usize) -> SinkError {
    match err.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => SinkError::RecordTooLarge {
            topic: topic.to_owned(),
            bytes,
        },
        Some(RDKafkaErrorCode::QueueFull) => SinkError::QueueFull,
        Some(RDKafkaErrorCode::MessageTimedOut) => {
            SinkError::Unavailable("delivery timed out".into())
        }
        _ => SinkError::Unavailable(err.to_string()),
    }
}

/// Readiness shared between the probe and request handlers.
struct Status {
    up: AtomicBool,
    detail: Mutex<String>,
}

pub struct KafkaSink {
    producer: ThreadedProducer<GatewayContext>,
    topics: TopicTable,
    delivery_timeout: Duration,
    status: Arc<Status>,
}

impl KafkaSink {
    /// Connects, checks (or creates) the topics, and starts the readiness
    /// probe. Fails when the cluster cannot be reached within
    /// `kafka.startup_timeout` or a topic is missing and may not be created.
    pub async fn connect(kafka: &KafkaSettings, topics: TopicTable) -> anyhow::Result<Arc<Self>> {
        topics::ensure(kafka, &topics)
            .await
            .context("checking Kafka topics")?;
        let config = producer_config(kafka);
        let producer: ThreadedProducer<GatewayContext> = config
            .create_with_context(GatewayContext {
                delivered: Mutex::default(),
            })
            .context("creating the Kafka producer")?;
        let queue_max: f64 = config
            .get("queue.buffering.max.messages")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000.0);
        metrics::gauge!(names::KAFKA_QUEUE_MAX).set(queue_max);
        let sink = Arc::new(Self {
            producer,
            topics,
            delivery_timeout: kafka.delivery_timeout,
            status: Arc::new(Status {
                up: AtomicBool::new(true),
                detail: Mutex::new("connected".into()),
            }),
        });
        metrics::gauge!(names::KAFKA_UP).set(1.0);
        spawn_probe(Arc::downgrade(&sink), kafka.health_interval);
        Ok(sink)
    }

    fn set_status(&self, up: bool, detail: String) {
        let was = self.status.up.swap(up, Ordering::AcqRel);
        if was != up {
            if up {
                tracing::info!(detail = %detail, "kafka is reachable again");
            } else {
                tracing::error!(detail = %detail, "kafka is unavailable");
            }
        }
        metrics::gauge!(names::KAFKA_UP).set(if up { 1.0 } else { 0.0 });
        *self.status.detail.lock().unwrap_or_else(|p| p.into_inner()) = detail;
    }

    /// One readiness check: the cluster answers and every topic exists.
    fn probe(&self, timeout: Duration) -> (bool, String) {
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            return (false, format!("fatal producer error {code:?}: {reason}"));
        }
        match self.producer.client().fetch_metadata(None, timeout) {
            Err(e) => (false, format!("metadata request failed: {e}")),
            Ok(md) => {
                for t in self.topics.distinct() {
                    let found = md.topics().iter().find(|m| m.name() == t.name);
                    match found {
                        Some(m) if m.error().is_none() && !m.partitions().is_empty() => {}
                        _ => return (false, format!("topic {} is missing", t.name)),
                    }
                }
                (true, format!("{} broker(s) reachable", md.brokers().len()))
            }
        }
    }

    /// True when the producer hit an unrecoverable error; the process
    /// should be restarted (liveness fails).
    pub fn is_fatal(&self) -> bool {
        self.producer.client().fatal_error().is_some()
    }

    fn enqueue(&self, batch: &RecordBatch, pending: &Arc<Pending>) -> Result<(), SinkError> {
        let source = batch.source.as_ref();
        for r in &batch.records {
            let headers = OwnedHeaders::new_with_capacity(2)
                .insert(Header {
                    key: "source",
                    value: Some(source),
                })
                .insert(Header {
                    key: "type",
                    value: Some(r.kind),
                });
            let topic = self.topics.name(r.topic);
            let payload = batch.payload(r);
            let mut record = BaseRecord::with_opaque_to(topic, Arc::clone(pending))
                .payload(payload)
                .headers(headers)
                .timestamp(batch.timestamp_ms);
            let key = batch.key(r);
            if let Some(k) = key {
                record = record.key(k);
            }
            pending.remaining.fetch_add(1, Ordering::AcqRel);
            if let Err((err, _record)) = self.producer.send(record) {
                pending.remaining.fetch_sub(1, Ordering::AcqRel);
                let error = delivery_error(&err, topic, payload.len());
                metrics::counter!(names::KAFKA_DELIVERY_ERRORS, "topic" => topic.to_owned(), "kind" => error.kind())
                    .increment(1);
                return Err(error);
            }
        }
        Ok(())
    }
}

impl EventSink for KafkaSink {
    fn publish(&self, batch: RecordBatch) -> BoxFuture<'static, Result<(), SinkError>> {
        if !self.status.up.load(Ordering::Acquire) {
            let detail = self
                .status
                .detail
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            return async move { Err(SinkError::Unavailable(detail)) }.boxed();
        }
        let (tx, rx) = oneshot::channel();
        let pending = Arc::new(Pending {
            remaining: AtomicUsize::new(1),
            error: Mutex::new(None),
            done: Mutex::new(Some(tx)),
        });
        let started = Instant::now();
        let enqueued = self.enqueue(&batch, &pending);
        // Release the guard: from here the last delivery report completes `rx`.
        pending.report(Ok(()));
        if let Err(e) = enqueued {
            return async move { Err(e) }.boxed();
        }
        // librdkafka gives up at message.timeout.ms; the margin covers the
        // report's trip through the polling thread.
        let limit = self.delivery_timeout + Duration::from_secs(1);
        async move {
            let result = match tokio::time::timeout(limit, rx).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(SinkError::Unavailable("producer shut down".into())),
                Err(_) => Err(SinkError::Timeout(limit)),
            };
            metrics::histogram!(names::PRODUCE_DURATION).record(started.elapsed().as_secs_f64());
            result
        }
        .boxed()
    }

    fn health(&self) -> Health {
        Health {
            ready: self.status.up.load(Ordering::Acquire),
            detail: self
                .status
                .detail
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, queued = self.producer.in_flight_count(), "producer flush incomplete");
        }
    }
}

/// Re-checks the cluster every `interval` until the sink is dropped.
fn spawn_probe(sink: std::sync::Weak<KafkaSink>, interval: Duration) {
    let timeout = interval
        .min(Duration::from_secs(2))
        .max(Duration::from_millis(200));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(s) = sink.upgrade() else { return };
            metrics::gauge!(names::KAFKA_QUEUE).set(f64::from(s.producer.in_flight_count()));
            let probe = tokio::task::spawn_blocking(move || {
                let (up, detail) = s.probe(timeout);
                s.set_status(up, detail);
            });
            let _ = probe.await;
        }
    });
}
