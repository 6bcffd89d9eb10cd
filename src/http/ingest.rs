//! The Segment-compatible ingestion endpoints: `POST /v1/batch` and the
//! single-event routes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Serialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::{body, AppState};
use crate::event::wire::{BatchBody, Shallow};
use crate::event::EventType;
use crate::limit::budget::{Reservation, COST_PER_BODY_BYTE};
use crate::limit::json::{self as shape, Shape};
use crate::pipeline::{Events, Outcome, Rejected, RequestInfo};
use crate::source::{KeyPlace, Source};
use bytes::Bytes;

#[derive(Serialize)]
struct Accepted<'a> {
    success: bool,
    accepted: usize,
    rejected: &'a [Rejected],
}

/// What arrived with the request, apart from the body.
pub struct Incoming {
    pub peer: SocketAddr,
    /// The client: the peer, or what a trusted proxy says it is.
    pub client_ip: IpAddr,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub path: String,
    /// Set by the first-party cookie layer when the cookie is on.
    pub network_user_id: Option<String>,
}

impl Incoming {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The write key from HTTP Basic auth (the username, as Segment libraries
/// send it) or the `writeKey` query parameter.
fn key_from_request(incoming: &Incoming) -> Result<Option<(String, KeyPlace)>, ApiError> {
    if let Some(auth) = incoming.header(header::AUTHORIZATION) {
        let (scheme, value) = auth.trim().split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| ApiError::Unauthorized("malformed HTTP Basic credentials".into()))?;
            let user = decoded.split(':').next().unwrap_or_default();
            if !user.is_empty() {
                return Ok(Some((user.to_owned(), KeyPlace::BasicAuth)));
            }
        }
    }
    Ok(query_param(incoming.query.as_deref(), "writeKey").map(|k| (k, KeyPlace::Query)))
}

pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

fn no_key() -> ApiError {
    ApiError::Unauthorized(
        "no write key: send it as the HTTP Basic username, `writeKey` in the body or `?writeKey=`"
            .into(),
    )
}

/// Resolves the key to a source and checks where it came from and which
/// page sent it.
pub fn authorise<'s>(
    state: &'s AppState,
    incoming: &Incoming,
    key: Option<(&str, KeyPlace)>,
) -> Result<&'s Arc<Source>, ApiError> {
    let (key, place) = key.ok_or_else(no_key)?;
    let source = state
        .sources
        .get(key)
        .ok_or_else(|| ApiError::Unauthorized("unknown write key".into()))?;
    if !source.accepts_key_from(place) {
        return Err(ApiError::Unauthorized(
            "this is a server key: send it only with HTTP Basic auth, never in a URL or body (rotate it if it leaked)"
                .into(),
        ));
    }
    if let Some(origin) = incoming.header(header::ORIGIN) {
        if source.kind == crate::config::SourceKind::Browser && !source.allows_origin(origin) {
            return Err(ApiError::Forbidden(format!(
                "origin {origin} is not allowed to send with this write key"
            )));
        }
    }
    Ok(source)
}

/// Runs the pipeline for parsed events and publishes the records.
pub async fn ingest(
    state: &AppState,
    incoming: &Incoming,
    body: &[u8],
    key: (&str, KeyPlace),
    events: Events<'_>,
) -> Result<Outcome, ApiError> {
    let source = authorise(state, incoming, Some(key))?;
    source.check_rate()?;
    let request_id = uuid::Uuid::now_v7().to_string();
    let info = RequestInfo {
        request_id: &request_id,
        received_at: (state.clock)(),
        client_ip: Some(incoming.client_ip),
        user_agent: incoming.header(header::USER_AGENT),
        write_key: key.0,
        source,
        path: &incoming.path,
        content_type: incoming.header(header::CONTENT_TYPE).unwrap_or_default(),
        network_user_id: incoming.network_user_id.as_deref(),
    };
    let mut outcome = state.pipeline.run(&info, body, events);
    let batch = std::mem::take(&mut outcome.batch);
    // Until Kafka acknowledges, the ids are only provisionally "seen": if
    // publishing fails, or this future is dropped (request timeout, client
    // gone), the client's retry must not count as a duplicate.
    let mut provisional = Provisional {
        pipeline: &state.pipeline,
        seen: std::mem::take(&mut outcome.seen),
        published: false,
    };
    state.sink.publish(batch).await?;
    provisional.published = true;
    Ok(outcome)
}

/// Forgets a request's message ids on drop unless they were published.
struct Provisional<'p> {
    pipeline: &'p crate::pipeline::Pipeline,
    seen: Vec<crate::enrich::dedupe::Seen>,
    published: bool,
}

impl Drop for Provisional<'_> {
    fn drop(&mut self) {
        if !self.published {
            self.pipeline.forget(&self.seen);
        }
    }
}

fn parse_error(e: &serde_json::Error) -> ApiError {
    if e.is_syntax() || e.is_eof() {
        ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
    } else {
        ApiError::BadRequest(format!(
            "the body must be a JSON object with a `batch` array of events: {e}"
        ))
    }
}

/// What arrived besides the body, after the per-IP rate limit passed (so
/// a limited client costs no body read).
pub fn incoming(
    state: &AppState,
    peer: SocketAddr,
    headers: HeaderMap,
    query: Option<String>,
    uri: &Uri,
) -> Result<Incoming, ApiError> {
    let client_ip = state.client_ip.resolve(peer, &headers);
    state.rate_limits.check_ip(client_ip)?;
    Ok(Incoming {
        peer,
        client_ip,
        network_user_id: super::cookie::from_request(&headers),
        headers,
        query,
        path: uri.path().to_owned(),
    })
}

/// Refuses, before any parser walks it, a body nested far deeper than any
/// acceptable event: more than twice `limits.max_json_depth` plus the
/// `wrapping` levels around the events (2 for a batch: the body object and
/// its array). An event only somewhat too deep is rejected alone later.
pub fn check_depth(body: &[u8], state: &AppState, wrapping: usize) -> Result<(), ApiError> {
    let max = state.limits.max_json_depth.saturating_mul(2) + wrapping;
    shape::check(body, &Shape::depth_only(max)).map_err(|_| {
        ApiError::BadRequest(format!(
            "the body nests objects/arrays deeper than {max} levels (twice limits.max_json_depth, \
             which is {})",
            state.limits.max_json_depth
        ))
    })
}

/// Reads the body within the in-flight memory budget: the wire size is
/// reserved before reading (the declared length, else the body limit), the
/// inflated size once gzip is undone. Over budget: 503 at once.
async fn read_body(
    state: &AppState,
    incoming: &Incoming,
    body: Body,
) -> Result<(Bytes, Reservation), ApiError> {
    let declared = incoming
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(state.limits.max_body_bytes)
        .min(state.limits.max_body_bytes);
    let mut reserved = state
        .memory
        .try_reserve(declared * COST_PER_BODY_BYTE)
        .ok_or_else(over_budget)?;
    let bytes = body::read(&incoming.headers, body, &state.limits).await?;
    if bytes.len() > declared
        && !state
            .memory
            .try_grow(&mut reserved, (bytes.len() - declared) * COST_PER_BODY_BYTE)
    {
        return Err(over_budget());
    }
    Ok((bytes, reserved))
}

fn over_budget() -> ApiError {
    ApiError::Unavailable {
        reason: "memory",
        message: "too much request data in flight (limits.max_inflight_bytes); retry later".into(),
        retry_after_secs: 1,
    }
}

/// The steps every POST route starts with: a key in the headers or URL is
/// checked before the body is read (within the memory budget), then the
/// body's nesting is bounded (`extra_depth` levels above one event).
async fn open_request(
    state: &AppState,
    incoming: &Incoming,
    body: Body,
    extra_depth: usize,
) -> Result<(Option<(String, KeyPlace)>, Bytes, Reservation), ApiError> {
    let header_key = key_from_request(incoming)?;
    if let Some((k, place)) = &header_key {
        authorise(state, incoming, Some((k, *place)))?;
    }
    let (bytes, reserved) = read_body(state, incoming, body).await?;
    check_depth(&bytes, state, extra_depth)?;
    Ok((header_key, bytes, reserved))
}

/// `POST /v1/batch`.
pub async fn batch(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let incoming = incoming(&state, peer, headers, query, &uri)?;
    let (header_key, bytes, _reserved) = open_request(&state, &incoming, body, 2).await?;
    let parsed: BatchBody<'_> = serde_json::from_slice(&bytes).map_err(|e| parse_error(&e))?;
    let events: Vec<&RawValue> = parsed
        .batch
        .ok_or_else(|| ApiError::BadRequest("`batch` must be an array of events".into()))?;
    if events.is_empty() {
        return Err(ApiError::BadRequest("`batch` is empty".into()));
    }
    if events.len() > state.limits.max_batch_events {
        return Err(ApiError::PayloadTooLarge(format!(
            "the batch has {} events; the limit is {} (limits.max_batch_events)",
            events.len(),
            state.limits.max_batch_events
        )));
    }
    let key = match &header_key {
        Some((k, place)) => (k.as_str(), *place),
        None => (
            parsed.write_key.as_deref().unwrap_or_default(),
            KeyPlace::Body,
        ),
    };
    if key.0.is_empty() {
        return Err(no_key());
    }
    let sent_at = parsed.sent_at.as_deref();
    let outcome = ingest(
        &state,
        &incoming,
        &bytes,
        key,
        Events::Batch { events, sent_at },
    )
    .await?;
    Ok(accepted_response(&outcome, false))
}

fn accepted_response(outcome: &Outcome, single: bool) -> Response {
    let status = if single && outcome.accepted == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = Accepted {
        success: outcome.accepted > 0 || outcome.rejected.is_empty(),
        accepted: outcome.accepted,
        rejected: &outcome.rejected,
    };
    (status, Json(body)).into_response()
}

/// `POST /v1/track`, `/v1/page`, ...: the body is one event of the type the
/// path names. An invalid event is a 400 (and a dead letter).
pub async fn single(
    state: AppState,
    kind: EventType,
    peer: SocketAddr,
    query: Option<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let incoming = incoming(&state, peer, headers, query, &uri)?;
    let (header_key, bytes, _reserved) = open_request(&state, &incoming, body, 0).await?;
    let event: &RawValue = serde_json::from_slice(&bytes).map_err(|e| parse_error(&e))?;
    let body_key = if header_key.is_none() {
        let top: Shallow<'_> = serde_json::from_str(event.get())
            .map_err(|_| ApiError::BadRequest("the body must be one event object".into()))?;
        top.get("writeKey")
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
    } else {
        None
    };
    let key = match (&header_key, &body_key) {
        (Some((k, place)), _) => (k.as_str(), *place),
        (None, Some(k)) => (k.as_str(), KeyPlace::Body),
        (None, None) => return Err(no_key()),
    };
    let outcome = ingest(
        &state,
        &incoming,
        &bytes,
        key,
        Events::Single { event, kind },
    )
    .await?;
    Ok(accepted_response(&outcome, true))
}

macro_rules! single_route {
    ($name:ident, $kind:expr) => {
        pub async fn $name(
            State(state): State<AppState>,
            ConnectInfo(peer): ConnectInfo<SocketAddr>,
            RawQuery(query): RawQuery,
            uri: Uri,
            headers: HeaderMap,
            body: Body,
        ) -> Result<Response, ApiError> {
            single(state, $kind, peer, query, uri, headers, body).await
        }
    };
}

single_route!(track, EventType::Track);
single_route!(page, EventType::Page);
single_route!(screen, EventType::Screen);
single_route!(identify, EventType::Identify);
single_route!(group, EventType::Group);
single_route!(alias, EventType::Alias);
