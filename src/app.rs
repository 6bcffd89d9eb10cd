//! The application: binds its listener first (so tests can ask for port 0
//! and learn the real port), wires state, serves, and shuts down cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::client_ip::ClientIpRule;
use crate::config::Settings;
use crate::delivery::{Delivery, Direct};
use crate::enrich::geo::GeoDatabases;
use crate::enrich::Enricher;
use crate::http::{self, AppState, Clock};
use crate::limit::budget::MemoryBudget;
use crate::limit::RateLimiters;
use crate::pipeline::Pipeline;
use crate::sink::kafka::KafkaSink;
use crate::sink::tap::RecentEvents;
use crate::sink::EventSink;
use crate::source::Sources;
use crate::{dev, route, telemetry};

/// Liveness as the sink sees it: false once it can never recover.
pub type Alive = Arc<dyn Fn() -> bool + Send + Sync>;

pub struct Application {
    listener: TcpListener,
    router: Router,
    delivery: Arc<dyn Delivery>,
    settings: Settings,
}

impl Application {
    /// Connects to Kafka (checking or creating the topics) and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let (kafka, alive) = Self::connect(&settings).await?;
        Self::with_sink(settings, kafka, alive, http::system_clock()).await
    }

    /// Dev mode (`--dev`): as [`Application::build`] (against the mock
    /// cluster `dev::prepare` started), plus the dev-only routes that show
    /// recent events and the demo page. No setting reaches this.
    pub async fn build_dev(settings: Settings) -> anyhow::Result<Self> {
        let (kafka, alive) = Self::connect(&settings).await?;
        let tap = Arc::new(RecentEvents::new(kafka));
        let mut app = Self::with_sink(settings, tap.clone(), alive, http::system_clock()).await?;
        let demo = dev::demo_dir();
        app.router = app.router.merge(dev::routes(tap, demo.as_deref()));
        Ok(app)
    }

    async fn connect(settings: &Settings) -> anyhow::Result<(Arc<dyn EventSink>, Alive)> {
        // Install the recorder before anything records (the sink sets gauges
        // while connecting).
        telemetry::metrics_handle();
        let (topics, _) = route::tables(&settings.kafka.topics, &settings.routes);
        let kafka = KafkaSink::connect(&settings.kafka, topics).await?;
        let alive: Alive = {
            let kafka = Arc::clone(&kafka);
            Arc::new(move || !kafka.is_fatal())
        };
        Ok((kafka, alive))
    }

    /// Builds around any sink (tests use the memory sink) and clock.
    pub async fn with_sink(
        settings: Settings,
        sink: Arc<dyn EventSink>,
        alive: Alive,
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
        let rate_limits = Arc::new(RateLimiters::new(&settings.rate_limits));
        rate_limits.spawn_pruning();
        let pipeline = Pipeline::with_enricher(&settings, enricher)
            .with_rate_limiters(Arc::clone(&rate_limits));
        let delivery: Arc<dyn Delivery> = Arc::new(Direct::new(sink, settings.kafka.ack));
        let e = &settings.enrich;
        let cookie = e.sessions.cookie && !e.privacy.cookieless;
        let state = AppState {
            pipeline: Arc::new(pipeline),
            sources: Arc::new(Sources::new(&settings.sources)),
            delivery: Arc::clone(&delivery),
            limits: Arc::new(settings.limits.clone()),
            clock,
            client_ip: Arc::new(ClientIpRule::new(&settings.client_ip)),
            rate_limits,
            metrics,
            memory: MemoryBudget::new(settings.limits.max_inflight_bytes),
            cors_credentials: cookie,
            alive,
        };
        let cookie_name = cookie.then(|| Arc::from(e.sessions.cookie_name.as_str()));
        let router = http::router(state, &settings.limits, cookie_name);
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        Ok(Self {
            listener,
            router,
            delivery,
            settings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.listen)
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets
    /// in-flight requests finish and flushes the producer, all within
    /// `shutdown_timeout`.
    ///
    /// Connections are served by hyper directly (not `axum::serve`) because
    /// that is where the header-read timeout lives: a client that opens a
    /// connection and trickles its headers (slow-loris), or idles between
    /// keep-alive requests, is dropped after `limits.header_read_timeout`.
    /// At most `limits.max_connections` are open at once.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(addr = %addr, "listening");
        let budget = self.settings.shutdown_timeout;
        let limits = &self.settings.limits;
        // HTTP/1 only: with HTTP/2 enabled the builder first waits for the
        // protocol preface with no timeout at all. TLS and HTTP/2 end at
        // the load balancer in front.
        let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => slot.context("connection slots")?,
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Usually out of file descriptors: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let router = self.router.clone();
            let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req)
            });
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                // Errors here are clients going away or timing out.
                let _ = conn.await;
                drop(slot);
            });
        }
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        let deadline = tokio::time::Instant::now() + budget;
        drop(self.listener);
        tokio::select! {
            () = graceful.shutdown() => {},
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!("in-flight requests did not finish within shutdown_timeout");
            }
        }
        // The flush gets what is left of the one budget (at least a moment,
        // so records of requests that just finished still go out).
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(std::time::Duration::from_millis(500));
        let delivery = self.delivery;
        tokio::task::spawn_blocking(move || delivery.flush(left))
            .await
            .context("flushing the producer")?;
        tracing::info!("stopped");
        Ok(())
    }
}
