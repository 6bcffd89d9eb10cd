//! JSON shape limits: nesting depth, string and key lengths, checked by
//! one linear, non-recursive scan before anything parses the text.
//!
//! serde_json stops full parses at 128 levels, but capturing a value as
//! `RawValue` skips it without counting depth, so a 100,000-level value
//! would pass through to Kafka (and to every consumer that parses it
//! recursively). This scan bounds depth for every path.

/// The limits one scan enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub max_depth: usize,
    pub max_string_bytes: usize,
    pub max_key_bytes: usize,
}

impl Shape {
    /// Depth only: strings are still skipped correctly (a `[` inside a
    /// string does not count) but their length is not limited.
    pub fn depth_only(max_depth: usize) -> Self {
        Self {
            max_depth,
            max_string_bytes: usize::MAX,
            max_key_bytes: usize::MAX,
        }
    }
}

/// The first limit the text breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Nesting passed `max_depth`.
    TooDeep { max: usize },
    /// A string value of at least `len` bytes (as sent).
    StringTooLong { len: usize, max: usize },
    /// An object key of `len` bytes (as sent).
    KeyTooLong { len: usize, max: usize },
}

impl Violation {
    /// A message naming the setting, for the client.
    pub fn message(&self, scope: &str) -> String {
        match self {
            Violation::TooDeep { max } => format!(
                "{scope} nests objects/arrays deeper than {max} levels (limits.max_json_depth)"
            ),
            Violation::StringTooLong { len, max } => format!(
                "{scope} has a string of {len} bytes; the limit is {max} bytes (limits.max_string_bytes)"
            ),
            Violation::KeyTooLong { len, max } => format!(
                "{scope} has an object key of {len} bytes; the limit is {max} bytes (limits.max_key_bytes)"
            ),
        }
    }
}

/// Scans `text` once. Invalid JSON is not reported here (the parser does
/// that); the scan only guarantees it stops at the first broken limit and
/// never recurses or allocates.
pub fn check(text: &[u8], shape: &Shape) -> Result<(), Violation> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' | b'[' => {
                depth += 1;
                if depth > shape.max_depth {
                    return Err(Violation::TooDeep {
                        max: shape.max_depth,
                    });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = i + 1;
                let end = string_end(text, start);
                let len = end - start;
                if is_key(text, end + 1) {
                    if len > shape.max_key_bytes {
                        return Err(Violation::KeyTooLong {
                            len,
                            max: shape.max_key_bytes,
                        });
                    }
                } else if len > shape.max_string_bytes {
                    return Err(Violation::StringTooLong {
                        len,
                        max: shape.max_string_bytes,
                    });
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Index of the closing quote of the string whose content starts at
/// `start` (or `text.len()` when unterminated).
fn string_end(text: &[u8], start: usize) -> usize {
    let mut j = start;
    while let Some(found) = text
        .get(j..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        j += found;
        if text[j] == b'"' {
            return j;
        }
        j += 2; // an escape: skip the escaped byte
    }
    text.len()
}

/// Whether the next non-blank byte from `from` is `:` (the string before
/// it was a key).
fn is_key(text: &[u8], from: usize) -> bool {
    text.get(from..)
        .and_then(|rest| rest.iter().find(|b| !b.is_ascii_whitespace()))
        == Some(&b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        max_depth: 3,
        max_string_bytes: 5,
        max_key_bytes: 3,
    };

    #[test]
    fn within_limits_passes() {
        let text = br#"{"ab":{"c":["12345",1,{"d":true}]}}"#;
        assert_eq!(check(text, &SHAPE), Err(Violation::TooDeep { max: 3 }));
        let text = br#"{"ab":{"c":["12345",1,true]}}"#;
        assert_eq!(check(text, &SHAPE), Ok(()));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert_eq!(check(br#"{"a":"[[[["}"#, &SHAPE), Ok(()));
        assert_eq!(check(br#"{"a":"\"[[["}"#, &SHAPE), Ok(()));
    }

    #[test]
    fn long_strings_and_keys_are_named() {
        assert_eq!(
            check(br#"{"a":"123456"}"#, &SHAPE),
            Err(Violation::StringTooLong { len: 6, max: 5 })
        );
        assert_eq!(
            check(br#"{"abcd" : 1}"#, &SHAPE),
            Err(Violation::KeyTooLong { len: 4, max: 3 })
        );
        assert_eq!(
            check(br#"["abcd"]"#, &SHAPE),
            Ok(()),
            "array items are values"
        );
        let msg = Violation::KeyTooLong { len: 4, max: 3 }.message("event");
        assert!(msg.contains("limits.max_key_bytes"), "{msg}");
    }

    #[test]
    fn a_hundred_thousand_levels_stop_at_the_limit() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            check(deep.as_bytes(), &Shape::depth_only(32)),
            Err(Violation::TooDeep { max: 32 })
        );
    }

    #[test]
    fn raw_value_captures_do_not_count_depth_so_the_scan_must() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let text = format!(r#"{{"batch":[{{"type":"track","properties":{deep}}}]}}"#);
        // A raw capture skips the value iteratively and accepts any depth...
        let body: crate::event::wire::BatchBody<'_> =
            serde_json::from_str(&text).expect("raw capture");
        assert_eq!(body.batch.expect("batch").len(), 1);
        // ...while a full parse stops at 128 levels.
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
        assert!(check(text.as_bytes(), &Shape::depth_only(66)).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            &b"\""[..],
            b"\"\\",
            b"\\\"",
            b"]]]]}}}",
            b"{\"a\"",
            b"\xff\xfe\"\x00",
        ] {
            let _ = check(text, &SHAPE);
        }
    }
}
