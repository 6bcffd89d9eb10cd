//! Sources and write keys: which key belongs to which source, where a
//! source's key may be presented, and which web origins may use it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::limit::config::Rate;
use crate::limit::{self, DirectLimiter, Limited};
use crate::setting::{invalid, ConfigError, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub name: String,
    pub kind: SourceKind,
    /// Accepted write keys; several so a key can be rotated without downtime.
    pub keys: Vec<Secret>,
    /// Web origins allowed to send with a browser key: `*`, exact hosts or
    /// `*.example.com` wildcards.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Requests per second this source may send, from all its clients
    /// together; none means unlimited.
    #[serde(default)]
    pub rate_limit: Option<Rate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Public key used from web pages: body, query or Basic auth.
    Browser,
    /// Secret key: only via HTTP Basic auth, never in a URL.
    Server,
}

/// Checks `[[sources]]`: names and keys unique, keys usable, limits sane.
pub fn validate(sources: &[SourceSettings]) -> Result<(), ConfigError> {
    if sources.is_empty() {
        return Err(invalid(
            "sources",
            "declare at least one source with a write key",
        ));
    }
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    for (i, s) in sources.iter().enumerate() {
        if s.name.trim().is_empty() {
            return Err(invalid(format!("sources[{i}].name"), "must not be empty"));
        }
        if !names.insert(s.name.as_str()) {
            return Err(invalid(
                format!("sources[{i}].name"),
                format!("duplicate source name {:?}", s.name),
            ));
        }
        if s.keys.is_empty() {
            return Err(invalid(
                format!("sources[{i}].keys"),
                "needs at least one key",
            ));
        }
        for key in &s.keys {
            if key.expose().is_empty() || key.expose().contains(':') {
                return Err(invalid(
                    format!("sources[{i}].keys"),
                    "keys must be non-empty and must not contain ':'",
                ));
            }
            if !keys.insert(key.expose()) {
                return Err(invalid(
                    format!("sources[{i}].keys"),
                    "a key is used by more than one source",
                ));
            }
        }
        if let Some(rate) = &s.rate_limit {
            rate.validate(&format!("sources[{i}].rate_limit"))?;
        }
        if s.kind == SourceKind::Server && !s.allowed_origins.is_empty() {
            return Err(invalid(
                format!("sources[{i}].allowed_origins"),
                "server sources are not used from web pages; remove the origins",
            ));
        }
    }
    Ok(())
}

/// Where the request presented its write key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPlace {
    BasicAuth,
    Query,
    Body,
}

pub struct Source {
    pub name: Arc<str>,
    pub kind: SourceKind,
    origins: Vec<OriginPattern>,
    /// The source's own bucket (`sources[].rate_limit`), shared by all
    /// its keys and clients.
    rate: Option<DirectLimiter>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("origins", &self.origins)
            .field("rate_limited", &self.rate.is_some())
            .finish()
    }
}

impl Source {
    /// Counts one request against the source's rate limit.
    pub fn check_rate(&self) -> Result<(), Limited> {
        self.rate.as_ref().map_or(Ok(()), limit::check_direct)
    }

    /// Whether a request from `origin` (the `Origin` header) may use this
    /// source. Requests without an `Origin` (servers, beacons from the same
    /// site) are not restricted here.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|p| p.matches(origin))
    }

    /// Server keys are secrets: only HTTP Basic auth, never a URL or body.
    pub fn accepts_key_from(&self, place: KeyPlace) -> bool {
        self.kind == SourceKind::Browser || place == KeyPlace::BasicAuth
    }
}

/// `*`, an exact host (`shop.example.com`), a wildcard (`*.example.com`,
/// which does not match `example.com` itself) or a full origin
/// (`https://shop.example.com:8443`).
#[derive(Debug, Clone)]
enum OriginPattern {
    Any,
    Host(String),
    Suffix(String),
    Exact(String),
}

impl OriginPattern {
    fn parse(p: &str) -> Self {
        let p = p.trim().to_ascii_lowercase();
        if p == "*" {
            OriginPattern::Any
        } else if p.contains("://") {
            OriginPattern::Exact(p.trim_end_matches('/').to_owned())
        } else if let Some(rest) = p.strip_prefix("*.") {
            OriginPattern::Suffix(format!(".{rest}"))
        } else {
            OriginPattern::Host(p)
        }
    }

    fn matches(&self, origin: &str) -> bool {
        let origin = origin.trim();
        let Some(host) = origin_host(origin) else {
            return false;
        };
        match self {
            OriginPattern::Any => true,
            OriginPattern::Host(h) => host.eq_ignore_ascii_case(h),
            OriginPattern::Suffix(s) => {
                host.len() > s.len() && host.to_ascii_lowercase().ends_with(s.as_str())
            }
            OriginPattern::Exact(o) => origin.eq_ignore_ascii_case(o),
        }
    }
}

/// The host of `scheme://host[:port]`; `None` for `null` or garbage.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        rest.split(':').next()?
    };
    (!host.is_empty() && !host.contains('/')).then_some(host)
}

/// Write key → source, built once from config.
#[derive(Debug)]
pub struct Sources {
    by_key: HashMap<String, Arc<Source>>,
    browser: Vec<Arc<Source>>,
}

impl Sources {
    pub fn new(settings: &[SourceSettings]) -> Self {
        let mut by_key = HashMap::new();
        let mut browser = Vec::new();
        for s in settings {
            let source = Arc::new(Source {
                name: Arc::from(s.name.as_str()),
                kind: s.kind,
                origins: s
                    .allowed_origins
                    .iter()
                    .map(|o| OriginPattern::parse(o))
                    .collect(),
                rate: s.rate_limit.map(limit::direct),
            });
            if s.kind == SourceKind::Browser {
                browser.push(Arc::clone(&source));
            }
            for key in &s.keys {
                by_key.insert(key.expose().to_owned(), Arc::clone(&source));
            }
        }
        Self { by_key, browser }
    }

    pub fn get(&self, key: &str) -> Option<&Arc<Source>> {
        self.by_key.get(key)
    }

    /// Whether any browser source allows `origin` (CORS preflights carry no
    /// write key, so they are answered for the union).
    pub fn any_allows_origin(&self, origin: &str) -> bool {
        self.browser.iter().any(|s| s.allows_origin(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Sources {
        Sources::new(&[
            SourceSettings {
                name: "web".into(),
                kind: SourceKind::Browser,
                keys: vec![Secret::new("pk1"), Secret::new("pk2")],
                allowed_origins: vec![
                    "shop.example.com".into(),
                    "*.example.org".into(),
                    "http://localhost:3000".into(),
                ],
                rate_limit: None,
            },
            SourceSettings {
                name: "api".into(),
                kind: SourceKind::Server,
                keys: vec![Secret::new("sk1")],
                allowed_origins: vec![],
                rate_limit: None,
            },
        ])
    }

    #[test]
    fn rotated_keys_map_to_one_source() {
        let s = sources();
        assert_eq!(&*s.get("pk1").expect("known").name, "web");
        assert_eq!(&*s.get("pk2").expect("known").name, "web");
        assert!(s.get("nope").is_none());
    }

    #[test]
    fn origin_patterns() {
        let s = sources();
        let web = s.get("pk1").expect("known");
        assert!(web.allows_origin("https://shop.example.com"));
        assert!(web.allows_origin("https://SHOP.example.com:8443"));
        assert!(!web.allows_origin("https://evil-shop.example.com"));
        assert!(web.allows_origin("https://a.b.example.org"));
        assert!(!web.allows_origin("https://example.org"));
        assert!(!web.allows_origin("https://example.org.evil.com"));
        assert!(web.allows_origin("http://localhost:3000"));
        assert!(!web.allows_origin("http://localhost:3001"));
        assert!(!web.allows_origin("null"));
        assert!(s.any_allows_origin("https://shop.example.com"));
        assert!(!s.any_allows_origin("https://evil.com"));
    }

    #[test]
    fn server_keys_only_from_basic_auth() {
        let s = sources();
        let api = s.get("sk1").expect("known");
        assert!(api.accepts_key_from(KeyPlace::BasicAuth));
        assert!(!api.accepts_key_from(KeyPlace::Query));
        assert!(!api.accepts_key_from(KeyPlace::Body));
        assert!(s
            .get("pk1")
            .expect("known")
            .accepts_key_from(KeyPlace::Query));
    }
}
