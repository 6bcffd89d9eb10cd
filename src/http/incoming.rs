//! What arrived with a request apart from its body, extracted once: the
//! client address (after the per-IP rate limit, so a limited client costs
//! no body read), headers, query, path, request id and cookie id.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::cookie::NetworkUserId;
use super::error::ApiError;
use super::AppState;
use crate::request::RequestId;

pub struct Incoming {
    /// The client: the peer, or what a trusted proxy says it is.
    pub client_ip: IpAddr,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub path: String,
    pub request_id: RequestId,
    /// Set by the first-party cookie layer when the cookie is on.
    pub network_user_id: Option<String>,
}

impl Incoming {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl FromRequestParts<AppState> for Incoming {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let client_ip = state.client_ip.resolve(peer, &parts.headers);
        state.rate_limits.check_ip(client_ip)?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_default();
        let network_user_id = parts
            .extensions
            .remove::<NetworkUserId>()
            .map(|NetworkUserId(id)| id);
        Ok(Self {
            client_ip,
            headers: std::mem::take(&mut parts.headers),
            query: parts.uri.query().map(str::to_owned),
            path: parts.uri.path().to_owned(),
            request_id,
            network_user_id,
        })
    }
}
