//! The Segment-compatible protocol: `POST /v1/batch`, the single-event
//! routes (`/v1/track`, `/v1/page`, ...) and the `GET /v1/pixel.gif`
//! tracking pixel. The write key is the HTTP Basic username (as Segment's
//! and RudderStack's libraries send it), `?writeKey=`, or `writeKey` in
//! the body.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{DecodeError, DecodeLimits, Decoded, Events, Parts, PresentedKey, Protocol, Summary};
use crate::event::wire::{BatchBody, Shallow};
use crate::event::EventType;
use crate::source::KeyPlace;

/// `POST /v1/batch`.
pub struct Batch;

/// `POST /v1/track` and friends: the body is one event of the path's type.
pub struct Single(pub EventType);

/// `GET /v1/pixel.gif`: one event in the query; always answers a GIF.
pub struct Pixel;

#[derive(Serialize)]
struct Accepted<'a> {
    success: bool,
    accepted: usize,
    rejected: &'a [super::Rejected],
}

fn accepted(summary: Summary<'_>, single: bool) -> Response {
    let status = if single && summary.accepted == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = Accepted {
        success: summary.accepted > 0 || summary.rejected.is_empty(),
        accepted: summary.accepted,
        rejected: summary.rejected,
    };
    (status, Json(body)).into_response()
}

/// The write key from HTTP Basic auth (the username) or `?writeKey=`.
fn outer_key<'p>(parts: &Parts<'p>) -> Result<Option<PresentedKey<'p>>, DecodeError> {
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(auth) = auth {
        let (scheme, value) = auth.trim().split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| {
                    DecodeError::BadCredentials("malformed HTTP Basic credentials".into())
                })?;
            let user = decoded.split(':').next().unwrap_or_default();
            if !user.is_empty() {
                return Ok(Some(PresentedKey {
                    key: Cow::Owned(user.to_owned()),
                    place: KeyPlace::BasicAuth,
                }));
            }
        }
    }
    Ok(query_param(parts.query, "writeKey").map(|k| PresentedKey {
        key: Cow::Owned(k),
        place: KeyPlace::Query,
    }))
}

/// The first non-empty value of query parameter `name`.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

fn parse_error(e: &serde_json::Error) -> DecodeError {
    if e.is_syntax() || e.is_eof() {
        DecodeError::Malformed(format!("the body is not valid JSON: {e}"))
    } else {
        DecodeError::Malformed(format!(
            "the body must be a JSON object with a `batch` array of events: {e}"
        ))
    }
}

/// `writeKey` at the top of one event object.
fn body_key<'b>(
    event: &'b RawValue,
    place: KeyPlace,
) -> Result<Option<PresentedKey<'b>>, DecodeError> {
    let top: Shallow<'b> = serde_json::from_str(event.get())
        .map_err(|_| DecodeError::Malformed("the body must be one event object".into()))?;
    Ok(top
        .get("writeKey")
        .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
        .map(|key| PresentedKey {
            key: Cow::Owned(key),
            place,
        }))
}

impl Protocol for Batch {
    fn wrapping_depth(&self) -> usize {
        2
    }

    fn outer_key<'p>(&self, parts: &Parts<'p>) -> Result<Option<PresentedKey<'p>>, DecodeError> {
        outer_key(parts)
    }

    fn decode<'b>(&self, body: &'b [u8], limits: DecodeLimits) -> Result<Decoded<'b>, DecodeError> {
        let max_batch_events = limits.max_batch_events;
        let parsed: BatchBody<'b> = serde_json::from_slice(body).map_err(|e| parse_error(&e))?;
        let events: Vec<&RawValue> = parsed
            .batch
            .ok_or_else(|| DecodeError::Malformed("`batch` must be an array of events".into()))?;
        if events.is_empty() {
            return Err(DecodeError::Malformed("`batch` is empty".into()));
        }
        if events.len() > max_batch_events {
            return Err(DecodeError::TooLarge(format!(
                "the batch has {} events; the limit is {max_batch_events} (limits.max_batch_events)",
                events.len(),
            )));
        }
        Ok(Decoded {
            body_key: parsed.write_key.map(|key| PresentedKey {
                key,
                place: KeyPlace::Body,
            }),
            events: Events::Batch {
                events,
                sent_at: parsed.sent_at,
            },
        })
    }

    fn respond(&self, summary: Summary<'_>) -> Response {
        accepted(summary, false)
    }
}

impl Protocol for Single {
    fn wrapping_depth(&self) -> usize {
        0
    }

    fn outer_key<'p>(&self, parts: &Parts<'p>) -> Result<Option<PresentedKey<'p>>, DecodeError> {
        outer_key(parts)
    }

    fn decode<'b>(&self, body: &'b [u8], limits: DecodeLimits) -> Result<Decoded<'b>, DecodeError> {
        let event: &RawValue = serde_json::from_slice(body).map_err(|e| parse_error(&e))?;
        Ok(Decoded {
            // Only looked for when none came with the headers or URL.
            body_key: match limits.has_outer_key {
                true => None,
                false => body_key(event, KeyPlace::Body)?,
            },
            events: Events::Single {
                event,
                kind: self.0,
            },
        })
    }

    fn respond(&self, summary: Summary<'_>) -> Response {
        accepted(summary, true)
    }
}

impl Protocol for Pixel {
    fn wrapping_depth(&self) -> usize {
        0
    }

    fn outer_key<'p>(&self, parts: &Parts<'p>) -> Result<Option<PresentedKey<'p>>, DecodeError> {
        Ok(query_param(parts.query, "writeKey").map(|k| PresentedKey {
            key: Cow::Owned(k),
            place: KeyPlace::Query,
        }))
    }

    /// `body` is the event [`event_from_query`] made of the query.
    fn decode<'b>(&self, body: &'b [u8], limits: DecodeLimits) -> Result<Decoded<'b>, DecodeError> {
        let event: &RawValue = serde_json::from_slice(body)
            .map_err(|e| DecodeError::Malformed(format!("the event is not valid JSON: {e}")))?;
        let top: Shallow<'_> = serde_json::from_str(event.get())
            .map_err(|_| DecodeError::Malformed("the event must be a JSON object".into()))?;
        let kind = top
            .get("type")
            .and_then(|t| serde_json::from_str::<&str>(t.get()).ok())
            .and_then(EventType::parse)
            .unwrap_or(EventType::Page);
        let body_key = match limits.has_outer_key {
            true => None,
            false => body_key(event, KeyPlace::Query)?,
        };
        Ok(Decoded {
            body_key,
            events: Events::Single { event, kind },
        })
    }

    fn respond(&self, summary: Summary<'_>) -> Response {
        gif(if summary.accepted > 0 {
            "accepted"
        } else {
            "rejected"
        })
    }

    fn respond_error(&self, code: &'static str) -> Option<Response> {
        Some(gif(code))
    }
}

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

/// The GIF, with the outcome in `X-Clickgate-Status`.
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
pub fn event_from_query(query: &str) -> Result<Vec<u8>, DecodeError> {
    if let Some(data) = query_param(Some(query), "data") {
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(data.trim_end_matches('='))
            .map_err(|_| DecodeError::Malformed("`data` is not base64url".into()))?;
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
    serde_json::to_vec(&event).map_err(|_| DecodeError::Malformed("unusable query".into()))
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
