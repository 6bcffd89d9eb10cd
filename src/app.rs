//! The application: binds its listener first (so tests can ask for port 0
//! and learn the real port), wires state, serves, and shuts down cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::enrich::geo::GeoDatabases;
use crate::enrich::Enricher;
use crate::http::{self, AppState, Clock};
use crate::pipeline::Pipeline;
use crate::sink::kafka::KafkaSink;
use crate::sink::tap::RecentEvents;
use crate::sink::{EventSink, TopicTable};
use crate::source::Sources;
use crate::telemetry;

pub struct Application {
    listener: TcpListener,
    router: Router,
    sink: Arc<dyn EventSink>,
    settings: Settings,
}

impl Application {
    /// Connects to Kafka (checking or creating the topics) and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Install the recorder before anything records (the sink sets gauges
        // while connecting).
        telemetry::metrics_handle();
        let topics = TopicTable::new(&settings.kafka, &settings.routes);
        let kafka = KafkaSink::connect(&settings.kafka, topics).await?;
        let alive = {
            let kafka = Arc::clone(&kafka);
            Arc::new(move || !kafka.is_fatal())
        };
        if settings.demo_dir.is_some() {
            // Dev mode: remember recent events for the demo page's live view.
            let tap = Arc::new(RecentEvents::new(kafka));
            let mut app =
                Self::with_sink(settings, tap.clone(), alive, http::system_clock()).await?;
            app.router = app.router.merge(http::recent_events_route(tap));
            return Ok(app);
        }
        Self::with_sink(settings, kafka, alive, http::system_clock()).await
    }

    /// Builds around any sink (tests use the memory sink) and clock.
    pub async fn with_sink(
        settings: Settings,
        sink: Arc<dyn EventSink>,
        alive: Arc<dyn Fn() -> bool + Send + Sync>,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let metrics = telemetry::metrics_handle();
        // Reading the databases is blocking file I/O (tens of MB).
        let paths = GeoDatabases::paths(&settings.enrich.geo);
        let geo = Arc::new(
            tokio::task::spawn_blocking(move || GeoDatabases::open(paths))
                .await
                .context("loading the geo databases")?,
        );
        geo.spawn_reloader(settings.enrich.geo.reload_interval);
        let enricher = Enricher::new(&settings.enrich, geo);
        let pipeline = Pipeline::with_enricher(&settings, enricher).map_err(anyhow::Error::msg)?;
        let state = AppState {
            pipeline: Arc::new(pipeline),
            sources: Arc::new(Sources::new(&settings.sources)),
            sink: Arc::clone(&sink),
            limits: Arc::new(settings.limits.clone()),
            clock,
            metrics,
            alive,
        };
        let router = http::router(state, &settings);
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        Ok(Self {
            listener,
            router,
            sink,
            settings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.listen)
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets
    /// in-flight requests finish and flushes the producer, all within
    /// `shutdown_timeout`.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(addr = %addr, "listening");
        let budget = self.settings.shutdown_timeout;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
            let _ = stopping_tx.send(());
        };
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let deadline = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(budget).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = deadline => tracing::warn!("in-flight requests did not finish within shutdown_timeout"),
        }
        let sink = self.sink;
        tokio::task::spawn_blocking(move || sink.flush(budget))
            .await
            .context("flushing the producer")?;
        tracing::info!("stopped");
        Ok(())
    }
}
