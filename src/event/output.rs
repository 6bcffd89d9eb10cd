//! The normalised JSON form of an event on the processed topic.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::time::{self, Timestamp};
use super::Event;

/// A value clickgate adds to an event's context (enrichment makes them);
/// it replaces the client's value of the same key, or removes it.
pub trait ContextValue: Serialize {
    /// True when the client's value of this key is to be left out.
    fn is_omitted(&self) -> bool;
}

/// Appends the event's normalised JSON to `buf`, with `added` merged into
/// its context.
pub fn write_event<A: ContextValue>(
    buf: &mut Vec<u8>,
    event: &Event<'_>,
    added: &[(&'static str, A)],
    source: &str,
) -> Result<(), serde_json::Error> {
    Out {
        event,
        added,
        source,
    }
    .serialize(&mut serde_json::Serializer::new(buf))
}

struct Out<'e, 'a, A> {
    event: &'e Event<'a>,
    added: &'e [(&'static str, A)],
    source: &'e str,
}

struct Time<'t>(&'t Timestamp);

impl Serialize for Time<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 24];
        s.serialize_str(time::format_into(self.0, &mut buf))
    }
}

/// The client's context with clickgate's additions replacing same-named keys.
struct Context<'e, 'a, A>(&'e Event<'a>, &'e [(&'static str, A)]);

impl<A: ContextValue> Serialize for Context<'_, '_, A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (e, added) = (self.0, self.1);
        let mut map = s.serialize_map(None)?;
        for (k, v) in &e.context.fields {
            if !added.iter().any(|(a, _)| a == k) {
                map.serialize_entry(k, v)?;
            }
        }
        for (k, v) in added {
            if !v.is_omitted() {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl<A: ContextValue> Serialize for Out<'_, '_, A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.event;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("messageId", &e.message_id)?;
        map.serialize_entry("type", e.kind.as_str())?;
        if let Some(v) = &e.identity.anonymous_id {
            map.serialize_entry("anonymousId", v)?;
        }
        if let Some(v) = &e.identity.user_id {
            map.serialize_entry("userId", v)?;
        }
        if let Some(v) = &e.group_id {
            map.serialize_entry("groupId", v)?;
        }
        if let Some(v) = &e.previous_id {
            map.serialize_entry("previousId", v)?;
        }
        if let Some(v) = &e.event {
            map.serialize_entry("event", v)?;
        }
        if let Some(v) = &e.name {
            map.serialize_entry("name", v)?;
        }
        if let Some(v) = e.properties {
            map.serialize_entry("properties", v)?;
        }
        if let Some(v) = e.traits {
            map.serialize_entry("traits", v)?;
        }
        map.serialize_entry("context", &Context(e, self.added))?;
        if let Some(v) = e.integrations {
            map.serialize_entry("integrations", v)?;
        }
        map.serialize_entry("timestamp", &Time(&e.timestamp))?;
        if let Some(t) = &e.original_timestamp {
            map.serialize_entry("originalTimestamp", &Time(t))?;
        }
        if let Some(t) = &e.sent_at {
            map.serialize_entry("sentAt", &Time(t))?;
        }
        map.serialize_entry("receivedAt", &Time(&e.received_at))?;
        map.serialize_entry("source", self.source)?;
        for (k, v) in &e.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::normalise;
    use crate::event::wire::WireEvent;
    use crate::event::Envelope;
    use serde_json::{json, Value};

    /// A context value for the test: `None` omits the key.
    #[derive(Serialize)]
    struct Added(Option<Value>);

    impl ContextValue for Added {
        fn is_omitted(&self) -> bool {
            self.0.is_none()
        }
    }

    #[test]
    fn round_trips_as_segment_json() {
        let text = r#"{"type":"track","event":"Clicked","anonymousId":"a","messageId":"m",
            "properties":{"n":1.5},"context":{"ip":"x","locale":"de"},"extraField":[1]}"#;
        let wire: WireEvent<'_> = serde_json::from_str(text).expect("parses");
        let event = normalise(
            wire,
            Envelope {
                implied_type: None,
                batch_sent_at: None,
                received_at: time::parse("2024-05-01T12:00:00Z").expect("time"),
            },
        )
        .expect("valid");
        let added = [
            ("ip", Added(Some(json!("1.2.3.0")))),
            ("locale", Added(None)),
        ];
        let mut buf = Vec::new();
        write_event(&mut buf, &event, &added, "web").expect("serialises");
        let v: Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(v["messageId"], "m");
        assert_eq!(v["type"], "track");
        assert_eq!(v["properties"]["n"], 1.5);
        assert_eq!(v["context"], json!({"ip":"1.2.3.0"}));
        assert_eq!(v["receivedAt"], "2024-05-01T12:00:00.000Z");
        assert_eq!(v["timestamp"], "2024-05-01T12:00:00.000Z");
        assert_eq!(v["source"], "web");
        assert_eq!(v["extraField"], json!([1]));
        assert!(v.get("userId").is_none());
    }
}
