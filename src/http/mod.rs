//! The HTTP surface: shared state, the router and its layer stack.

pub mod body;
pub mod cookie;
mod cors;
pub mod error;
pub mod incoming;
pub mod ingest;
mod ops;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{BoxError, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument as _;

use crate::client_ip::ClientIpRule;
use crate::delivery::Delivery;
use crate::event::time::Timestamp;
use crate::event::EventType;
use crate::limit::config::Limits;
use crate::limit::RateLimiters;
use crate::pipeline::Pipeline;
use crate::protocol::segment;
use crate::request::RequestId;
use crate::source::Sources;
use crate::telemetry as names;
use error::ApiError;
use incoming::Incoming;
use ingest::{serve, Payload};

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
    /// Where a request's records go, and how long its answer waits.
    pub delivery: Arc<dyn Delivery>,
    pub limits: Arc<Limits>,
    pub clock: Clock,
    /// Who the client is (socket peer or trusted-proxy header).
    pub client_ip: Arc<ClientIpRule>,
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

/// Builds the router with its layers, outermost first: panic guard →
/// request id and span → metrics → CORS → (ingest only) load shedding →
/// concurrency limit → timeout → first-party cookie. `cookie` is the
/// first-party cookie's name when it is on.
pub fn router(state: AppState, limits: &Limits, cookie: Option<Arc<str>>) -> Router {
    let ingest = Router::new()
        .route("/v1/batch", post(ingest::batch))
        .route("/v1/track", single(EventType::Track))
        .route("/v1/page", single(EventType::Page))
        .route("/v1/screen", single(EventType::Screen))
        .route("/v1/identify", single(EventType::Identify))
        .route("/v1/group", single(EventType::Group))
        .route("/v1/alias", single(EventType::Alias))
        .route("/v1/pixel.gif", get(ingest::pixel))
        .layer(middleware::from_fn_with_state(
            cookie,
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
    Router::new()
        .merge(ingest)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/snippet/clickgate.min.js", get(snippet))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), cors::cors))
        .layer(middleware::from_fn(record_request))
        .layer(middleware::from_fn(request_id))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }))
        .with_state(state)
}

/// A single-event route of the Segment protocol.
fn single(kind: EventType) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>, incoming: Incoming, body: Body| async move {
            serve(
                &state,
                &segment::Single(kind),
                incoming,
                Payload::Http(body),
            )
            .await
        },
    )
}

/// Gives every request an id: in its extensions (the raw envelope carries
/// it), on its log span, and returned as `X-Request-Id`.
async fn request_id(mut req: Request, next: Next) -> Response {
    let id = RequestId::new();
    let span = tracing::info_span!("request", request_id = %id.as_str());
    let header = HeaderValue::from_str(id.as_str()).ok();
    req.extensions_mut().insert(id);
    let mut response = next.run(req).instrument(span).await;
    if let Some(v) = header {
        response.headers_mut().insert("x-request-id", v);
    }
    response
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

/// Unknown paths: 404 with the same JSON error body as every other error.
async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
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

/// Keeps the state type in one place for handlers that only need it.
pub(crate) type AppStateRef = State<AppState>;
