//! The one error type at the HTTP boundary and its mapping to statuses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::protocol::DecodeError;
use crate::sink::SinkError;
use crate::telemetry as names;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    TooManyRequests {
        /// Which limit refused the request (`ip`, `source`): in the body and
        /// the `clickgate_rate_limited_total` label.
        limit: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    #[error("{message}")]
    Unavailable {
        /// Bounded label for `clickgate_requests_shed_total`.
        reason: &'static str,
        message: String,
        retry_after_secs: u64,
    },
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Unavailable { .. } => "unavailable",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            }
            | ApiError::Unavailable {
                retry_after_secs, ..
            } => Some((*retry_after_secs).max(1)),
            _ => None,
        }
    }
}

impl From<crate::limit::Limited> for ApiError {
    fn from(l: crate::limit::Limited) -> Self {
        ApiError::TooManyRequests {
            limit: l.limit.as_str(),
            message: format!(
                "rate limit exceeded ({}); retry after {} s",
                l.limit.setting(),
                l.retry_after_secs
            ),
            retry_after_secs: l.retry_after_secs,
        }
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Malformed(m) => ApiError::BadRequest(m),
            DecodeError::BadCredentials(m) => ApiError::Unauthorized(m),
            DecodeError::TooLarge(m) => ApiError::PayloadTooLarge(m),
        }
    }
}

impl From<SinkError> for ApiError {
    fn from(e: SinkError) -> Self {
        // The client gets a generic message; the cause goes to the debug log
        // on the request's span (the sink logs outages once, when they
        // start, and counts every failure).
        tracing::debug!(error = %e, kind = e.kind(), "records not delivered");
        match e {
            SinkError::RecordTooLarge { topic, bytes } => ApiError::PayloadTooLarge(format!(
                "the request makes a Kafka record of {bytes} bytes, more than topic {topic} accepts"
            )),
            SinkError::QueueFull => ApiError::Unavailable {
                reason: "queue_full",
                message: "clickgate is overloaded (producer queue full); retry later".into(),
                retry_after_secs: 1,
            },
            SinkError::Unavailable(_) | SinkError::Timeout(_) => ApiError::Unavailable {
                reason: "kafka_unavailable",
                message: "events could not be stored right now; retry later".into(),
                retry_after_secs: 5,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unavailable { reason, .. } = &self {
            metrics::counter!(names::REQUESTS_SHED, "reason" => *reason).increment(1);
        }
        let mut body = json!({
            "success": false,
            "error": self.code(),
            "message": self.to_string(),
        });
        if let ApiError::TooManyRequests { limit, .. } = &self {
            metrics::counter!(names::RATE_LIMITED, "limit" => *limit).increment(1);
            body["limit"] = json!(limit);
        }
        let retry_after = self.retry_after();
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
