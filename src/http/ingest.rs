//! The one request path every ingestion endpoint shares, whatever its wire
//! protocol: authorise the key presented outside the body before reading
//! it, read the body within the memory budget, bound its nesting, decode
//! it with the endpoint's protocol, authorise once, run the pipeline,
//! deliver the records, and let the protocol render the answer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::error::ApiError;
use super::incoming::Incoming;
use super::{body, AppState};
use crate::limit::budget::{Reservation, COST_PER_BODY_BYTE};
use crate::limit::json::{self as shape, Shape};
use crate::pipeline::Outcome;
use crate::protocol::segment::{self, Pixel};
use crate::protocol::{DecodeLimits, Parts, PresentedKey, Protocol, Summary};
use crate::request::RequestContext;
use crate::source::{Source, SourceKind};

/// Where the body comes from: the HTTP request, or made by the endpoint
/// (the pixel's query).
pub enum Payload {
    Http(Body),
    Ready(Vec<u8>),
}

/// Serves one ingestion request with `protocol`; errors are rendered by
/// the protocol when it has its own form (the pixel's GIF), else as JSON.
pub async fn serve<P: Protocol>(
    state: &AppState,
    protocol: &P,
    incoming: Incoming,
    payload: Payload,
) -> Response {
    match accept(state, protocol, &incoming, payload).await {
        Ok(response) => response,
        Err(e) => match protocol.respond_error(e.code()) {
            Some(response) => response,
            None => e.into_response(),
        },
    }
}

async fn accept<P: Protocol>(
    state: &AppState,
    protocol: &P,
    incoming: &Incoming,
    payload: Payload,
) -> Result<Response, ApiError> {
    let parts = Parts {
        headers: &incoming.headers,
        query: incoming.query.as_deref(),
    };
    let outer = protocol.outer_key(&parts)?;
    // A key outside the body is checked, and its source's rate counted,
    // before the body is read: a refused client costs no body read or parse.
    let outer_source = match &outer {
        Some(key) => Some(admit(state, incoming, key)?),
        None => None,
    };
    let (bytes, _reserved) = match payload {
        Payload::Http(body) => read_body(state, incoming, body).await?,
        Payload::Ready(bytes) => (Bytes::from(bytes), None),
    };
    check_depth(&bytes, state, protocol.wrapping_depth())?;
    let limits = DecodeLimits {
        max_batch_events: state.limits.max_batch_events,
        has_outer_key: outer.is_some(),
    };
    let decoded = protocol.decode(&bytes, limits)?;
    let key = outer
        .or(decoded.body_key)
        .filter(|k| !k.key.is_empty())
        .ok_or_else(no_key)?;
    let source = match outer_source {
        Some(source) => source,
        None => admit(state, incoming, &key)?,
    };
    let ctx = RequestContext {
        request_id: incoming.request_id.as_str(),
        received_at: (state.clock)(),
        client_ip: Some(incoming.client_ip),
        user_agent: incoming.header(header::USER_AGENT),
        write_key: &key.key,
        key_place: key.place,
        source: &source,
        path: &incoming.path,
        content_type: incoming.header(header::CONTENT_TYPE).unwrap_or_default(),
        network_user_id: incoming.network_user_id.as_deref(),
    };
    let Outcome {
        batch,
        claims,
        accepted,
        rejected,
        ..
    } = state.pipeline.run(&ctx, &bytes, decoded.events);
    state.delivery.deliver(batch, claims).await?;
    Ok(protocol.respond(Summary {
        accepted,
        rejected: &rejected,
    }))
}

fn no_key() -> ApiError {
    ApiError::Unauthorized(
        "no write key: send it as the HTTP Basic username, `writeKey` in the body or `?writeKey=`"
            .into(),
    )
}

/// Resolves the key to a source, checks where it came from and which page
/// sent it, and counts the request against the source's rate limit.
fn admit(
    state: &AppState,
    incoming: &Incoming,
    key: &PresentedKey<'_>,
) -> Result<Arc<Source>, ApiError> {
    let source = state
        .sources
        .get(&key.key)
        .ok_or_else(|| ApiError::Unauthorized("unknown write key".into()))?;
    if !source.accepts_key_from(key.place) {
        return Err(ApiError::Unauthorized(
            "this is a server key: send it only with HTTP Basic auth, never in a URL or body (rotate it if it leaked)"
                .into(),
        ));
    }
    if let Some(origin) = incoming.header(header::ORIGIN) {
        if source.kind == SourceKind::Browser && !source.allows_origin(origin) {
            return Err(ApiError::Forbidden(format!(
                "origin {origin} is not allowed to send with this write key"
            )));
        }
    }
    source.check_rate()?;
    Ok(Arc::clone(source))
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
) -> Result<(Bytes, Option<Reservation>), ApiError> {
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
    Ok((bytes, Some(reserved)))
}

fn over_budget() -> ApiError {
    ApiError::Unavailable {
        reason: "memory",
        message: "too much request data in flight (limits.max_inflight_bytes); retry later".into(),
        retry_after_secs: 1,
    }
}

/// `POST /v1/batch`.
pub async fn batch(State(state): State<AppState>, incoming: Incoming, body: Body) -> Response {
    serve(&state, &segment::Batch, incoming, Payload::Http(body)).await
}

/// `GET /v1/pixel.gif`: always a GIF, the outcome in a header.
pub async fn pixel(
    State(state): State<AppState>,
    incoming: Result<Incoming, ApiError>,
) -> Response {
    let made = incoming.and_then(|incoming| {
        let query = incoming.query.as_deref().unwrap_or_default();
        let event = segment::event_from_query(query)?;
        Ok((incoming, event))
    });
    match made {
        Ok((incoming, event)) => serve(&state, &Pixel, incoming, Payload::Ready(event)).await,
        Err(e) => Pixel
            .respond_error(e.code())
            .unwrap_or_else(|| e.into_response()),
    }
}
