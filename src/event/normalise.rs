//! Validation: a wire event becomes a normalised [`Event`] or a
//! [`Rejection`] with a reason that goes to the dead-letter topic.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::time::{self, Timestamp};
use super::wire::{Id, Shallow, WireEvent};
use super::EventType;

/// Why an event was rejected; `code()` is its bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    InvalidJson,
    NotAnObject,
    DuplicateKey,
    InvalidField,
    TooLarge,
    /// Nested deeper than `limits.max_json_depth`.
    TooDeep,
    /// A string or key longer than `limits.max_string_bytes` / `max_key_bytes`.
    TooLong,
    MissingType,
    UnknownType,
    MissingIdentity,
    MissingEventName,
    MissingGroupId,
    MissingPreviousId,
    InvalidTimestamp,
}

impl RejectReason {
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::DuplicateKey => "duplicate_key",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::TooLarge => "event_too_large",
            RejectReason::TooDeep => "too_deep",
            RejectReason::TooLong => "too_long",
            RejectReason::MissingType => "missing_type",
            RejectReason::UnknownType => "unknown_type",
            RejectReason::MissingIdentity => "missing_identity",
            RejectReason::MissingEventName => "missing_event_name",
            RejectReason::MissingGroupId => "missing_group_id",
            RejectReason::MissingPreviousId => "missing_previous_id",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    /// A human-readable explanation (never contains event payload values).
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    /// Classifies a serde error from parsing one event.
    pub fn from_parse_error(err: &serde_json::Error) -> Self {
        let text = err.to_string();
        let reason = if text.contains("duplicate key") {
            RejectReason::DuplicateKey
        } else if err.is_syntax() || err.is_eof() {
            RejectReason::InvalidJson
        } else {
            RejectReason::InvalidField
        };
        Self::new(reason, text)
    }
}

/// Who the event is about: at least one of the two is present.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    pub anonymous_id: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
}

impl Identity<'_> {
    /// The id events are keyed and sessionised by: anonymousId, else userId.
    pub fn visitor(&self) -> &str {
        self.anonymous_id
            .as_deref()
            .or(self.user_id.as_deref())
            .unwrap_or_default()
    }
}

/// A valid, normalised event, still borrowing from the request body.
#[derive(Debug)]
pub struct Event<'a> {
    pub kind: EventType,
    pub message_id: Cow<'a, str>,
    pub identity: Identity<'a>,
    pub group_id: Option<Cow<'a, str>>,
    pub previous_id: Option<Cow<'a, str>>,
    pub event: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub properties: Option<&'a RawValue>,
    pub traits: Option<&'a RawValue>,
    pub integrations: Option<&'a RawValue>,
    /// The client's context, one level deep.
    pub context: Shallow<'a>,
    /// When it happened, corrected for client clock skew.
    pub timestamp: Timestamp,
    /// The client's own timestamp for the event, as sent.
    pub original_timestamp: Option<Timestamp>,
    pub sent_at: Option<Timestamp>,
    pub received_at: Timestamp,
    pub extra: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl Event<'_> {
    /// The name routing rules match: `event` for track, `name` for
    /// page/screen, else the type.
    pub fn route_name(&self) -> &str {
        self.event
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(self.kind.as_str())
    }
}

/// What validation needs from the request.
#[derive(Debug, Clone, Copy)]
pub struct Envelope {
    /// The type implied by the endpoint (`/v1/track`), if any.
    pub implied_type: Option<EventType>,
    /// The batch-level `sentAt`, used when the event has none.
    pub batch_sent_at: Option<BatchSentAt>,
    pub received_at: Timestamp,
}

fn non_empty(id: Option<Id<'_>>) -> Option<Cow<'_, str>> {
    id.map(|Id(v)| v).filter(|v| !v.trim().is_empty())
}

/// The batch-level `sentAt`, parsed once per request.
#[derive(Debug, Clone, Copy)]
pub enum BatchSentAt {
    Valid(Timestamp),
    /// Present but unparseable: events that rely on it are rejected.
    Invalid,
}

impl BatchSentAt {
    pub fn parse(text: &str) -> Self {
        time::parse(text).map_or(BatchSentAt::Invalid, BatchSentAt::Valid)
    }
}

fn invalid_time(field: &str) -> Rejection {
    Rejection::new(
        RejectReason::InvalidTimestamp,
        format!("`{field}` is not an ISO 8601 date-time with a time zone"),
    )
}

fn timestamp(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, Rejection> {
    match text {
        None => Ok(None),
        Some(t) => time::parse(t).map(Some).ok_or_else(|| invalid_time(field)),
    }
}

fn require_object(field: &str, value: Option<&RawValue>) -> Result<(), Rejection> {
    match value {
        Some(v) if !v.get().starts_with('{') => Err(Rejection::new(
            RejectReason::InvalidField,
            format!("`{field}` must be an object"),
        )),
        _ => Ok(()),
    }
}

/// When the event happened and when it was sent, as the client says.
fn times(
    original: Option<&str>,
    timestamp_field: Option<&str>,
    sent_at: Option<&str>,
    env: &Envelope,
) -> Result<(Option<Timestamp>, Option<Timestamp>), Rejection> {
    // Clients send the event time as `timestamp` (Segment libraries) or
    // `originalTimestamp` (analytics.js family).
    let happened =
        timestamp("originalTimestamp", original)?.or(timestamp("timestamp", timestamp_field)?);
    let sent_at = match sent_at {
        Some(s) => timestamp("sentAt", Some(s))?,
        None => match env.batch_sent_at {
            None => None,
            Some(BatchSentAt::Valid(t)) => Some(t),
            Some(BatchSentAt::Invalid) => return Err(invalid_time("sentAt")),
        },
    };
    Ok((happened, sent_at))
}

/// Validates a parsed wire event and turns it into a normalised event.
pub fn normalise<'a>(wire: WireEvent<'a>, env: Envelope) -> Result<Event<'a>, Rejection> {
    let kind = match (&wire.kind, env.implied_type) {
        (_, Some(implied)) => implied,
        (Some(t), None) => EventType::parse(t).ok_or_else(|| {
            Rejection::new(
                RejectReason::UnknownType,
                "`type` must be one of track, page, screen, identify, group, alias",
            )
        })?,
        (None, None) => {
            return Err(Rejection::new(
                RejectReason::MissingType,
                "`type` is required",
            ));
        }
    };
    let identity = Identity {
        anonymous_id: non_empty(wire.anonymous_id),
        user_id: non_empty(wire.user_id),
    };
    if identity.anonymous_id.is_none() && identity.user_id.is_none() {
        return Err(Rejection::new(
            RejectReason::MissingIdentity,
            "every event needs `anonymousId` or `userId`",
        ));
    }
    let event = wire.event.filter(|e| !e.trim().is_empty());
    if kind == EventType::Track && event.is_none() {
        return Err(Rejection::new(
            RejectReason::MissingEventName,
            "a track event needs a non-empty `event`",
        ));
    }
    let group_id = non_empty(wire.group_id);
    if kind == EventType::Group && group_id.is_none() {
        return Err(Rejection::new(
            RejectReason::MissingGroupId,
            "a group event needs `groupId`",
        ));
    }
    let previous_id = non_empty(wire.previous_id);
    if kind == EventType::Alias && previous_id.is_none() {
        return Err(Rejection::new(
            RejectReason::MissingPreviousId,
            "an alias event needs `previousId`",
        ));
    }
    require_object("properties", wire.properties)?;
    require_object("traits", wire.traits)?;
    require_object("integrations", wire.integrations)?;

    let (happened, sent_at) = times(
        wire.original_timestamp.as_deref(),
        wire.timestamp.as_deref(),
        wire.sent_at.as_deref(),
        &env,
    )?;

    let message_id = match non_empty(wire.message_id) {
        Some(id) => id,
        None => Cow::Owned(uuid::Uuid::now_v7().to_string()),
    };
    Ok(Event {
        kind,
        message_id,
        identity,
        group_id,
        previous_id,
        event,
        name: wire.name,
        properties: wire.properties,
        traits: wire.traits,
        integrations: wire.integrations,
        context: wire.context.unwrap_or_default(),
        timestamp: time::corrected(happened, sent_at, env.received_at),
        original_timestamp: happened,
        sent_at,
        received_at: env.received_at,
        extra: wire.extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        Envelope {
            implied_type: None,
            batch_sent_at: None,
            received_at: time::parse("2024-05-01T12:00:00Z").expect("time"),
        }
    }

    fn run(text: &str) -> Result<Event<'_>, Rejection> {
        let wire: WireEvent<'_> =
            serde_json::from_str(text).map_err(|e| Rejection::from_parse_error(&e))?;
        normalise(wire, env())
    }

    fn reason(text: &str) -> RejectReason {
        run(text).expect_err("rejected").reason
    }

    #[test]
    fn valid_track_keeps_message_id() {
        let e = run(r#"{"type":"track","event":"Signed Up","anonymousId":"a1","messageId":"m1"}"#)
            .expect("valid");
        assert_eq!(e.kind, EventType::Track);
        assert_eq!(e.message_id, "m1");
        assert_eq!(e.identity.visitor(), "a1");
    }

    #[test]
    fn missing_message_id_gets_a_uuid_v7() {
        let e = run(r#"{"type":"page","userId":"u1"}"#).expect("valid");
        let id = uuid::Uuid::parse_str(&e.message_id).expect("uuid");
        assert_eq!(id.get_version_num(), 7);
    }

    #[test]
    fn each_rule_has_its_reason() {
        assert_eq!(
            reason(r#"{"event":"x","userId":"u"}"#),
            RejectReason::MissingType
        );
        assert_eq!(
            reason(r#"{"type":"bogus","userId":"u"}"#),
            RejectReason::UnknownType
        );
        assert_eq!(
            reason(r#"{"type":"track","event":"x"}"#),
            RejectReason::MissingIdentity
        );
        assert_eq!(
            reason(r#"{"type":"track","event":"x","userId":"  "}"#),
            RejectReason::MissingIdentity
        );
        assert_eq!(
            reason(r#"{"type":"track","userId":"u"}"#),
            RejectReason::MissingEventName
        );
        assert_eq!(
            reason(r#"{"type":"group","userId":"u"}"#),
            RejectReason::MissingGroupId
        );
        assert_eq!(
            reason(r#"{"type":"alias","userId":"u"}"#),
            RejectReason::MissingPreviousId
        );
        assert_eq!(
            reason(r#"{"type":"page","userId":"u","properties":[1]}"#),
            RejectReason::InvalidField
        );
        assert_eq!(
            reason(r#"{"type":"page","userId":"u","timestamp":"soon"}"#),
            RejectReason::InvalidTimestamp
        );
        assert_eq!(
            reason(r#"{"type":"page","userId":"u","userId":"v"}"#),
            RejectReason::DuplicateKey
        );
        assert_eq!(
            reason(r#"{"type":"page","userId":true}"#),
            RejectReason::InvalidField
        );
    }

    #[test]
    fn implied_type_wins() {
        let wire: WireEvent<'_> =
            serde_json::from_str(r#"{"userId":"u","name":"Home"}"#).expect("parses");
        let e = normalise(
            wire,
            Envelope {
                implied_type: Some(EventType::Page),
                ..env()
            },
        )
        .expect("valid");
        assert_eq!(e.kind, EventType::Page);
        assert_eq!(e.route_name(), "Home");
    }

    #[test]
    fn skew_uses_batch_sent_at() {
        let wire: WireEvent<'_> = serde_json::from_str(
            r#"{"type":"page","userId":"u","timestamp":"2024-05-01T13:00:00Z"}"#,
        )
        .expect("parses");
        let e = normalise(
            wire,
            Envelope {
                batch_sent_at: Some(BatchSentAt::parse("2024-05-01T13:00:01Z")),
                ..env()
            },
        )
        .expect("valid");
        assert_eq!(time::format(&e.timestamp), "2024-05-01T11:59:59.000Z");
        assert_eq!(
            time::format(&e.original_timestamp.expect("kept")),
            "2024-05-01T13:00:00.000Z"
        );
    }
}
