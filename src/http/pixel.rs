//! `GET /v1/pixel.gif`: events from pages without JavaScript and e-mail
//! opens. Always answers the 1×1 GIF; the outcome is in a header.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::ingest::{check_depth, incoming, ingest, query_param, Incoming};
use super::AppState;
use crate::event::wire::Shallow;
use crate::event::EventType;
use crate::pipeline::Events;
use crate::source::KeyPlace;

/// A transparent 1×1 GIF.
const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Query parameters that are event fields; all others become properties.
const FIELDS: &[&str] = &[
    "type",
    "event",
    "name",
    "anonymousId",
    "userId",
    "messageId",
    "timestamp",
    "groupId",
];

fn gif(outcome: &str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, must-revalidate, private",
            ),
            (header::PRAGMA, "no-cache"),
        ],
        GIF,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(outcome) {
        response.headers_mut().insert("x-clickgate-status", v);
    }
    response
}

/// The event the query describes, as JSON text: either `data` (base64url
/// JSON) or plain parameters.
fn event_from_query(query: &str) -> Result<Vec<u8>, ApiError> {
    if let Some(data) = query_param(Some(query), "data") {
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(data.trim_end_matches('='))
            .map_err(|_| ApiError::BadRequest("`data` is not base64url".into()))?;
        return Ok(decoded);
    }
    let mut event = Map::new();
    let mut properties = Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "writeKey" {
            continue;
        }
        if FIELDS.contains(&k.as_ref()) {
            event.insert(k.into_owned(), Value::String(v.into_owned()));
        } else {
            properties.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    if !event.contains_key("type") {
        let kind = if event.contains_key("event") {
            "track"
        } else {
            "page"
        };
        event.insert("type".into(), Value::String(kind.into()));
    }
    if !properties.is_empty() {
        event.insert("properties".into(), Value::Object(properties));
    }
    serde_json::to_vec(&event).map_err(|_| ApiError::BadRequest("unusable query".into()))
}

async fn track_pixel(state: &AppState, incoming: &Incoming) -> Result<&'static str, ApiError> {
    let query = incoming.query.as_deref().unwrap_or_default();
    let body = event_from_query(query)?;
    check_depth(&body, state, 0)?;
    let event: &serde_json::value::RawValue = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the event is not valid JSON: {e}")))?;
    let top: Shallow<'_> = serde_json::from_str(event.get())
        .map_err(|_| ApiError::BadRequest("the event must be a JSON object".into()))?;
    let kind = top
        .get("type")
        .and_then(|t| serde_json::from_str::<&str>(t.get()).ok())
        .and_then(EventType::parse)
        .unwrap_or(EventType::Page);
    let key = query_param(Some(query), "writeKey")
        .or_else(|| {
            top.get("writeKey")
                .and_then(|v| serde_json::from_str(v.get()).ok())
        })
        .ok_or_else(|| ApiError::Unauthorized("no write key".into()))?;
    let outcome = ingest(
        state,
        incoming,
        &body,
        (&key, KeyPlace::Query),
        Events::Single { event, kind },
    )
    .await?;
    Ok(if outcome.accepted > 0 {
        "accepted"
    } else {
        "rejected"
    })
}

pub async fn pixel(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    _body: Body,
) -> Response {
    let incoming = match incoming(&state, peer, headers, query, &uri) {
        Ok(incoming) => incoming,
        Err(e) => return gif(e.code()),
    };
    match track_pixel(&state, &incoming).await {
        Ok(outcome) => gif(outcome),
        Err(e) => gif(e.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_becomes_an_event() {
        let body =
            event_from_query("writeKey=k&event=Opened&anonymousId=a1&campaign=spring").expect("ok");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["type"], "track");
        assert_eq!(v["event"], "Opened");
        assert_eq!(v["anonymousId"], "a1");
        assert_eq!(v["properties"]["campaign"], "spring");
        assert!(v.get("writeKey").is_none());
    }

    #[test]
    fn data_parameter_is_base64url_json() {
        let json = r#"{"type":"page","userId":"u?>"}"#;
        let data = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let body = event_from_query(&format!("data={data}&writeKey=k")).expect("ok");
        assert_eq!(body, json.as_bytes());
    }
}
