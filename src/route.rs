//! Where a valid event goes: the `[[routes]]` rules (first match wins,
//! else the processed topic) and the `[partitioning]` key. Builds the
//! topic table and the rule table together, so a rule's topic id is
//! assigned in one place.

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventType};
use crate::setting::{invalid, ConfigError};
use crate::sink::config::{validate_topic, TopicSettings, Topics};
use crate::sink::{TopicId, TopicTable};

/// Sends events whose `type` or name matches `pattern` to `topic`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// Glob over the event name (`event` for track, `name` for page/screen,
    /// else the type); `*` matches any run of characters.
    pub pattern: String,
    /// Restrict the rule to one event type (`track`, `page`, ...).
    #[serde(default)]
    pub r#type: Option<EventType>,
    pub topic: TopicSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Partitioning {
    pub key: PartitionKey,
}

impl Default for Partitioning {
    fn default() -> Self {
        Self {
            key: PartitionKey::Visitor,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionKey {
    /// `writeKey:anonymousId` (or userId): one visitor's events stay ordered.
    Visitor,
    /// No key: records spread over partitions.
    Random,
}

/// Checks `[[routes]]`, naming the first bad key.
pub fn validate(rules: &[RouteRule]) -> Result<(), ConfigError> {
    for (i, rule) in rules.iter().enumerate() {
        if rule.pattern.is_empty() {
            return Err(invalid(format!("routes[{i}].pattern"), "must not be empty"));
        }
        validate_topic(&format!("routes[{i}].topic"), &rule.topic)?;
    }
    Ok(())
}

struct Rule {
    pattern: String,
    kind: Option<EventType>,
    topic: TopicId,
}

/// Ordered rules; the first match wins, else the processed topic.
pub struct Router {
    rules: Vec<Rule>,
}

/// The topic table (raw, events, dlq, then each rule's topic) and the
/// router whose ids point into it, built from one place.
pub fn tables(topics: &Topics, rules: &[RouteRule]) -> (TopicTable, Router) {
    let mut table = TopicTable::new(
        topics.raw.clone(),
        topics.events.clone(),
        topics.dlq.clone(),
    );
    let rules = rules
        .iter()
        .map(|r| Rule {
            pattern: r.pattern.clone(),
            kind: r.r#type,
            topic: table.push(r.topic.clone()),
        })
        .collect();
    (table, Router { rules })
}

impl Router {
    pub fn route(&self, event: &Event<'_>) -> TopicId {
        let name = event.route_name();
        self.rules
            .iter()
            .find(|r| r.kind.is_none_or(|k| k == event.kind) && glob_match(&r.pattern, name))
            .map_or(TopicTable::EVENTS, |r| r.topic)
    }
}

/// `*` matches any run of characters (including none); everything else
/// matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("Order *", "Order Completed"));
        assert!(glob_match("Order *", "Order "));
        assert!(!glob_match("Order *", "Orders"));
        assert!(glob_match("*", ""));
        assert!(glob_match("Page", "Page"));
        assert!(!glob_match("Page", "Pages"));
        assert!(glob_match("*Completed", "Checkout Completed"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxcyyb"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
