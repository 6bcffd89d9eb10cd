//! Operations endpoints: liveness, readiness, Prometheus metrics.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::AppStateRef;

/// 200 while the process can serve; 503 once the producer is beyond repair.
pub async fn healthz(state: AppStateRef) -> impl IntoResponse {
    if (state.alive)() {
        (StatusCode::OK, Json(json!({"status": "ok"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "failed", "detail": "the Kafka producer hit a fatal error; restart"}),
            ),
        )
    }
}

/// 200 only while Kafka is reachable and every topic exists.
pub async fn readyz(state: AppStateRef) -> impl IntoResponse {
    let health = state.delivery.health();
    let status = if health.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"ready": health.ready, "kafka": health.detail})),
    )
}

pub async fn metrics(state: AppStateRef) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
