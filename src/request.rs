//! One request's context, built once at the HTTP boundary after the write
//! key is authorised and shared by the protocol decoders, the pipeline,
//! enrichment and the records (raw envelope, dead letters).

use std::net::IpAddr;

use crate::event::time::Timestamp;
use crate::source::{KeyPlace, Source};

/// The request id: a UUIDv7, returned as `X-Request-Id`, on the request's
/// log span and in the raw envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

/// What clickgate knows about the request around its events.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'r> {
    pub request_id: &'r str,
    pub received_at: Timestamp,
    /// The client: the socket peer, or what a trusted proxy says it is.
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'r str>,
    /// The write key as presented, and where.
    pub write_key: &'r str,
    pub key_place: KeyPlace,
    /// The source the key belongs to (already authorised).
    pub source: &'r Source,
    pub path: &'r str,
    pub content_type: &'r str,
    /// The first-party cookie's id, when clickgate sets one.
    pub network_user_id: Option<&'r str>,
}
