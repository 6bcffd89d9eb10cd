//! The wire format: Segment-compatible request bodies and events, parsed
//! without copying (strings and nested objects borrow from the body).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A JSON object read one level deep: keys and the raw text of each value.
#[derive(Debug, Default, Clone)]
pub struct Shallow<'a> {
    pub fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Shallow<'a> {
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| *value)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Shallow<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShallowVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ShallowVisitor<'a> {
            type Value = Shallow<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::new();
                let mut keys = RepeatCheck::default();
                while let Some(key) = map.next_key::<Cow<'a, str>>()? {
                    if keys.is_repeat(&fields, &key) {
                        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    let value: &'a RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(Shallow { fields })
            }
        }
        deserializer.deserialize_map(ShallowVisitor(std::marker::PhantomData))
    }
}

/// Finds repeated keys: a scan of the few keys so far for small objects,
/// a hash set once an object grows, so an object with a huge number of
/// keys costs linear, not quadratic, time.
#[derive(Default)]
struct RepeatCheck {
    large: Option<std::collections::HashSet<String>>,
}

impl RepeatCheck {
    const SCAN_UP_TO: usize = 16;

    fn is_repeat(&mut self, fields: &[(Cow<'_, str>, &RawValue)], key: &str) -> bool {
        if let Some(set) = &mut self.large {
            return !set.insert(key.to_owned());
        }
        if fields.iter().any(|(k, _)| k == key) {
            return true;
        }
        if fields.len() >= Self::SCAN_UP_TO {
            let mut set: std::collections::HashSet<String> =
                fields.iter().map(|(k, _)| k.to_string()).collect();
            set.insert(key.to_owned());
            self.large = Some(set);
        }
        false
    }
}

/// An identifier that clients send as a string or, sometimes, a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for IdVisitor<'a> {
            type Value = Id<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Id(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Id(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Id(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Id(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Id(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_any(IdVisitor(std::marker::PhantomData))
    }
}

/// One event as sent by a client. Unknown top-level fields are kept in
/// `extra` and passed through; a repeated key is an error.
#[derive(Debug, Default)]
pub struct WireEvent<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub message_id: Option<Id<'a>>,
    pub anonymous_id: Option<Id<'a>>,
    pub user_id: Option<Id<'a>>,
    pub group_id: Option<Id<'a>>,
    pub previous_id: Option<Id<'a>>,
    pub event: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub properties: Option<&'a RawValue>,
    pub traits: Option<&'a RawValue>,
    pub integrations: Option<&'a RawValue>,
    pub context: Option<Shallow<'a>>,
    pub timestamp: Option<Cow<'a, str>>,
    pub original_timestamp: Option<Cow<'a, str>>,
    pub sent_at: Option<Cow<'a, str>>,
    pub write_key: Option<Cow<'a, str>>,
    pub extra: Vec<(Cow<'a, str>, &'a RawValue)>,
}

/// Fields clickgate sets itself; a client's value for them is dropped.
const RESERVED: &[&str] = &["receivedAt", "source", "requestId"];

impl<'de: 'a, 'a> Deserialize<'de> for WireEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor(std::marker::PhantomData))
    }
}

struct EventVisitor<'a>(std::marker::PhantomData<&'a ()>);

/// Stores `value` in `slot` unless the key was already seen.
fn set_once<'de, T, M: MapAccess<'de>>(
    slot: &mut Option<T>,
    key: &str,
    map: &mut M,
) -> Result<(), M::Error>
where
    T: Deserialize<'de>,
{
    if slot.is_some() {
        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
    }
    // `null` counts as absent, as the Segment libraries send it.
    *slot = map.next_value::<Option<T>>()?;
    Ok(())
}

impl<'de: 'a, 'a> Visitor<'de> for EventVisitor<'a> {
    type Value = WireEvent<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut e = WireEvent::default();
        let mut extra_keys = RepeatCheck::default();
        while let Some(key) = map.next_key::<Cow<'a, str>>()? {
            match key.as_ref() {
                "type" => set_once(&mut e.kind, &key, &mut map)?,
                "messageId" => set_once(&mut e.message_id, &key, &mut map)?,
                "anonymousId" => set_once(&mut e.anonymous_id, &key, &mut map)?,
                "userId" => set_once(&mut e.user_id, &key, &mut map)?,
                "groupId" => set_once(&mut e.group_id, &key, &mut map)?,
                "previousId" => set_once(&mut e.previous_id, &key, &mut map)?,
                "event" => set_once(&mut e.event, &key, &mut map)?,
                "name" => set_once(&mut e.name, &key, &mut map)?,
                "properties" => set_once(&mut e.properties, &key, &mut map)?,
                "traits" => set_once(&mut e.traits, &key, &mut map)?,
                "integrations" => set_once(&mut e.integrations, &key, &mut map)?,
                "context" => set_once(&mut e.context, &key, &mut map)?,
                "timestamp" => set_once(&mut e.timestamp, &key, &mut map)?,
                "originalTimestamp" => set_once(&mut e.original_timestamp, &key, &mut map)?,
                "sentAt" => set_once(&mut e.sent_at, &key, &mut map)?,
                "writeKey" => set_once(&mut e.write_key, &key, &mut map)?,
                k if RESERVED.contains(&k) => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    if extra_keys.is_repeat(&e.extra, &key) {
                        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    let value: &'a RawValue = map.next_value()?;
                    e.extra.push((key, value));
                }
            }
        }
        Ok(e)
    }
}

/// The body of `POST /v1/batch`: events stay unparsed until validation so
/// one bad event cannot fail the others.
#[derive(Debug, Deserialize)]
pub struct BatchBody<'a> {
    /// Each event captured raw in one pass over the body.
    #[serde(borrow)]
    pub batch: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow, rename = "sentAt")]
    pub sent_at: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "writeKey")]
    pub write_key: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub context: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_fields_and_keeps_unknown() {
        let text = r#"{"type":"track","event":"Clicked","userId":42,"properties":{"a":[1,2]},
            "context":{"ip":"1.2.3.4","page":{"url":"https://x/"}},"custom":{"k":true},"receivedAt":"x"}"#;
        let e: WireEvent<'_> = serde_json::from_str(text).expect("parses");
        assert_eq!(e.kind.as_deref(), Some("track"));
        assert_eq!(e.user_id, Some(Id("42".into())));
        assert_eq!(e.properties.map(RawValue::get), Some(r#"{"a":[1,2]}"#));
        let ctx = e.context.expect("context");
        assert_eq!(ctx.get("ip").map(RawValue::get), Some(r#""1.2.3.4""#));
        assert_eq!(e.extra.len(), 1, "receivedAt is reserved, custom is kept");
        assert_eq!(e.extra[0].0, "custom");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err =
            serde_json::from_str::<WireEvent<'_>>(r#"{"userId":"a","userId":"b"}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate key `userId`"), "{err}");
        let err = serde_json::from_str::<WireEvent<'_>>(r#"{"x":1,"x":2}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate key `x`"), "{err}");
        let err =
            serde_json::from_str::<WireEvent<'_>>(r#"{"context":{"a":1,"a":1}}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate key `a`"), "{err}");
    }

    #[test]
    fn many_keys_are_checked_for_repeats_in_linear_time() {
        let mut obj: Vec<String> = (0..50_000).map(|i| format!("\"k{i}\":1")).collect();
        let distinct = format!("{{\"context\":{{{}}}}}", obj.join(","));
        let e: WireEvent<'_> = serde_json::from_str(&distinct).expect("distinct keys parse");
        assert_eq!(e.context.expect("context").fields.len(), 50_000);
        obj.push("\"k49999\":2".into());
        let repeated = format!("{{{}}}", obj.join(","));
        let err = serde_json::from_str::<WireEvent<'_>>(&repeated).expect_err("repeat found");
        assert!(err.to_string().contains("duplicate key `k49999`"), "{err}");
    }

    #[test]
    fn nulls_are_absent() {
        let e: WireEvent<'_> =
            serde_json::from_str(r#"{"userId":null,"anonymousId":"x"}"#).expect("parses");
        assert!(e.user_id.is_none());
        assert_eq!(e.anonymous_id, Some(Id("x".into())));
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(serde_json::from_str::<WireEvent<'_>>(r#"{"event":5}"#).is_err());
        assert!(serde_json::from_str::<WireEvent<'_>>(r#"{"userId":{"a":1}}"#).is_err());
        assert!(serde_json::from_str::<WireEvent<'_>>(r#"[1,2]"#).is_err());
        assert!(serde_json::from_str::<WireEvent<'_>>(r#"{"context":"str"}"#).is_err());
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let e: WireEvent<'_> = serde_json::from_str(r#"{"event":"Say \"hi\"\n"}"#).expect("parses");
        assert_eq!(e.event.as_deref(), Some("Say \"hi\"\n"));
    }
}
