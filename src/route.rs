//! Routing rules: which topic a valid event goes to.

use crate::config::RouteRule;
use crate::event::{Event, EventType};
use crate::sink::{TopicId, TopicTable};

struct Rule {
    pattern: String,
    kind: Option<EventType>,
    topic: TopicId,
}

/// Ordered rules; the first match wins, else the processed topic.
pub struct Router {
    rules: Vec<Rule>,
}

impl Router {
    /// Builds from validated config; an unknown `type` is refused.
    pub fn new(rules: &[RouteRule]) -> Result<Self, String> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let kind = match &r.r#type {
                    None => None,
                    Some(t) => Some(
                        EventType::parse(t)
                            .ok_or_else(|| format!("routes[{i}].type: unknown event type {t:?}"))?,
                    ),
                };
                Ok(Rule {
                    pattern: r.pattern.clone(),
                    kind,
                    topic: TopicTable::route(i),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { rules })
    }

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
