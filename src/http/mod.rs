//! The HTTP surface: shared state, the router and its layer stack.

pub mod body;
pub mod client_ip;
pub mod cookie;
mod cors;
pub mod error;
pub mod ingest;
mod ops;
mod pixel;

use std::sync::Arc;
use std::time::Instant;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{BoxError, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::ServeDir;

use crate::config::{Limits, Settings};
use crate::event::time::Timestamp;
use crate::limit::RateLimiters;
use crate::pipeline::Pipeline;
use crate::sink::EventSink;
use crate::source::Sources;
use crate::telemetry as names;
use error::ApiError;

/// The clock requests are stamped with (injected so tests are exact).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(chrono::Utc::now)
}

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub sources: Arc<Sources>,
    pub sink: Arc<dyn EventSink>,
    pub limits: Arc<Limits>,
    pub clock: Clock,
    /// Who the client is (socket peer or trusted-proxy header).
    pub client_ip: Arc<client_ip::ClientIpRule>,
    /// Per-IP and hot-visitor limiters (per-source ones live on sources).
    pub rate_limits: Arc<RateLimiters>,
    pub metrics: PrometheusHandle,
    /// Bytes of request data allowed in flight (limits.max_inflight_bytes).
    pub memory: crate::limit::budget::MemoryBudget,
    /// Send `Access-Control-Allow-Credentials` (the first-party cookie is on).
    pub cors_credentials: bool,
    /// Liveness: false once the sink can never recover (fatal producer error).
    pub alive: Arc<dyn Fn() -> bool + Send + Sync>,
}

/// Builds the router with its layers, outermost first:
/// panic guard → metrics → CORS → (ingest only) load shedding → concurrency limit → timeout → first-party cookie.
pub fn router(state: AppState, settings: &Settings) -> Router {
    let limits = &settings.limits;
    let ingest = Router::new()
        .route("/v1/batch", post(ingest::batch))
        .route("/v1/track", post(ingest::track))
        .route("/v1/page", post(ingest::page))
        .route("/v1/screen", post(ingest::screen))
        .route("/v1/identify", post(ingest::identify))
        .route("/v1/group", post(ingest::group))
        .route("/v1/alias", post(ingest::alias))
        .route("/v1/pixel.gif", get(pixel::pixel))
        .layer(middleware::from_fn_with_state(
            cookie_name(settings),
            cookie::network_user_id,
        ))
        .layer(
            ServiceBuilder::new()
                // Over the concurrency cap, new requests are refused with
                // 503 at once instead of queueing.
                .layer(HandleErrorLayer::new(shed))
                .load_shed()
                .concurrency_limit(limits.max_concurrent_requests)
                .timeout(limits.request_timeout),
        );
    let mut app = Router::new()
        .merge(ingest)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/snippet/clickgate.min.js", get(snippet));
    if let Some(dir) = &settings.demo_dir {
        app = app.nest_service("/demo", ServeDir::new(dir.join("demo")));
    }
    app.layer(middleware::from_fn_with_state(state.clone(), cors::cors))
        .layer(middleware::from_fn(record_request))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }))
        .with_state(state)
}

/// The first-party cookie's name when it is on (and not cookieless).
fn cookie_name(settings: &Settings) -> Option<Arc<str>> {
    let e = &settings.enrich;
    (e.sessions.cookie && !e.privacy.cookieless).then(|| Arc::from(e.sessions.cookie_name.as_str()))
}

/// The browser tracker, built into the binary so a site can load it from
/// its own clickgate (first party; no third-party script host).
const SNIPPET: &[u8] = include_bytes!("../../js-snippet/dist/clickgate.min.js");

async fn snippet() -> impl IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SNIPPET,
    )
}

async fn shed(err: BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::RequestTimeout(
            "the request took longer than limits.request_timeout to arrive and be served".into(),
        )
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError::Unavailable {
            reason: "concurrency",
            message: "too many requests in flight (limits.max_concurrent_requests); retry later"
                .into(),
            retry_after_secs: 1,
        }
    } else {
        ApiError::Unavailable {
            reason: "internal",
            message: "the request could not be served; retry later".into(),
            retry_after_secs: 1,
        }
    }
}

/// Counts requests by matched route (never the raw URI) and status.
async fn record_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| route_label(p.as_str()));
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(names::HTTP_REQUESTS, "route" => route, "status" => status).increment(1);
    metrics::histogram!(names::HTTP_DURATION, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Maps a matched path to a static label so the label set stays bounded.
fn route_label(path: &str) -> &'static str {
    const ROUTES: &[&str] = &[
        "/v1/batch",
        "/v1/track",
        "/v1/page",
        "/v1/screen",
        "/v1/identify",
        "/v1/group",
        "/v1/alias",
        "/v1/pixel.gif",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other")
}

/// `GET /dev/recent`: the newest processed events, for the demo page.
pub fn recent_events_route(tap: Arc<crate::sink::tap::RecentEvents>) -> Router {
    Router::new().route(
        "/dev/recent",
        get(move || {
            let tap = Arc::clone(&tap);
            async move { axum::Json(tap.snapshot()) }
        }),
    )
}

/// Keeps the state type in one place for handlers that only need it.
pub(crate) type AppStateRef = State<AppState>;
