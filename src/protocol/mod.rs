//! The protocol seam: a wire protocol turns what arrived (headers, query,
//! body) into a [`Decoded`] request — the write key it presented and its
//! events, still raw — and renders the answer. Everything after decoding
//! (authorisation, limits, validation, enrichment, routing, records,
//! delivery) is protocol-blind. To add a protocol, add a module here that
//! implements [`Protocol`] and mount its routes in `http::router`.

pub mod segment;

use std::borrow::Cow;

use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::event::EventType;
use crate::source::KeyPlace;

/// A write key as the request presented it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub key: Cow<'a, str>,
    pub place: KeyPlace,
}

/// The events of one request.
pub enum Events<'a> {
    /// Each event still raw, so one bad event cannot fail the others.
    Batch {
        events: Vec<&'a RawValue>,
        /// The batch-level send time, for clock-skew correction.
        sent_at: Option<Cow<'a, str>>,
    },
    /// The body is one event of the type the endpoint names.
    Single {
        event: &'a RawValue,
        kind: EventType,
    },
}

/// A decoded request: the key found in the body (if any) and the events.
pub struct Decoded<'a> {
    pub body_key: Option<PresentedKey<'a>>,
    pub events: Events<'a>,
}

/// Why a request could not be decoded; the HTTP layer maps each to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// 400.
    #[error("{0}")]
    Malformed(String),
    /// 401.
    #[error("{0}")]
    BadCredentials(String),
    /// 413.
    #[error("{0}")]
    TooLarge(String),
}

/// One rejected event of a request.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub index: usize,
    pub reason: &'static str,
    pub message: String,
}

/// What the client is told about its events.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'o> {
    /// Events acknowledged (stored, or dropped as duplicates or bots).
    pub accepted: usize,
    pub rejected: &'o [Rejected],
}

/// What decoding is told about the request.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Most events one batch may hold (`limits.max_batch_events`).
    pub max_batch_events: usize,
    /// A key came with the headers or URL: the body's is not needed.
    pub has_outer_key: bool,
}

/// What a request's protocol needs from the HTTP layer.
pub struct Parts<'a> {
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
}

/// A wire protocol endpoint.
pub trait Protocol: Send + Sync + 'static {
    /// Levels of JSON nesting around one event in this endpoint's body (2
    /// for a batch: the body object and its array); bounds the body's depth
    /// before any parser walks it.
    fn wrapping_depth(&self) -> usize;

    /// The key presented outside the body (headers, URL), checked before
    /// the body is read.
    fn outer_key<'p>(&self, parts: &Parts<'p>) -> Result<Option<PresentedKey<'p>>, DecodeError>;

    /// The body's events (and the key in it, if one is needed).
    fn decode<'b>(&self, body: &'b [u8], limits: DecodeLimits) -> Result<Decoded<'b>, DecodeError>;

    /// The answer to a request whose events were stored as the delivery
    /// mode promises.
    fn respond(&self, summary: Summary<'_>) -> Response;

    /// The answer to a request that failed before or during delivery;
    /// `None` leaves it to the HTTP layer's JSON error.
    fn respond_error(&self, _code: &'static str) -> Option<Response> {
        None
    }
}
