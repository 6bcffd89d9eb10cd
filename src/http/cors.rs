//! CORS for browser sources: preflights are answered only for origins some
//! browser source allows, and responses echo only an allowed origin.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

const ALLOW_METHODS: &str = "POST, GET, OPTIONS";
const ALLOW_HEADERS: &str = "Content-Type, Authorization, Content-Encoding";
const MAX_AGE_SECS: &str = "86400";

pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let is_api = req.uri().path().starts_with("/v1/");
    let Some(origin) = origin.filter(|_| is_api) else {
        return next.run(req).await;
    };
    let allowed = origin
        .to_str()
        .is_ok_and(|o| state.sources.any_allows_origin(o));
    if req.method() == Method::OPTIONS {
        if !allowed {
            return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECS),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if state.cors_credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        return response;
    }
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
        if state.cors_credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
    response
}
