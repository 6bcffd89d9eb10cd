//! `[enrich]` and its subsections: geo databases, IP privacy, user agents,
//! sessions, duplicate dropping; defaults and validation.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::setting::{invalid, nonzero, positive, ConfigError};

/// `[enrich]`: what clickgate adds to each event before it leaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichSettings {
    pub geo: GeoSettings,
    pub privacy: PrivacySettings,
    pub user_agent: UserAgentSettings,
    pub sessions: SessionSettings,
    pub dedupe: DedupeSettings,
}

/// Where the binary looks for geo databases unless told otherwise.
pub const DEFAULT_GEO_DIRECTORY: &str = ".cache/geo";

/// `[enrich.geo]`: MaxMind-format databases (GeoIP2/GeoLite2 City or
/// Country, or DB-IP Lite).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoSettings {
    /// Database files, tried in order until one knows the address (DB-IP
    /// ships IPv4 and IPv6 as two files). Empty: every `*.mmdb` file in
    /// `directory`, if there are any.
    pub databases: Vec<PathBuf>,
    /// Where to look for databases when `databases` is empty. The binary
    /// defaults to `.cache/geo` (where `scripts/get-geo-db.sh` puts them);
    /// settings built in code default to none. `""` turns the search off.
    pub directory: Option<PathBuf>,
    /// How often the files are checked for replacement (hot reload).
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for GeoSettings {
    fn default() -> Self {
        Self {
            databases: Vec::new(),
            directory: None,
            reload_interval: Duration::from_secs(30),
        }
    }
}

/// What happens to the client's IP address before anything leaves clickgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpMode {
    /// Zero the host bits past `ipv4_prefix` / `ipv6_prefix`.
    Truncate,
    /// Leave the address out entirely.
    Drop,
    /// Keep the full address (only where the law and your users allow it).
    Keep,
}

/// `[enrich.privacy]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    pub ip: IpMode,
    /// Bits of an IPv4 address kept by `truncate` (24 keeps `a.b.c.0`).
    pub ipv4_prefix: u8,
    /// Bits of an IPv6 address kept by `truncate`.
    pub ipv6_prefix: u8,
    /// Cookieless mode: clickgate never sets a cookie.
    pub cookieless: bool,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            ip: IpMode::Truncate,
            ipv4_prefix: 24,
            ipv6_prefix: 48,
            cookieless: false,
        }
    }
}

/// `[enrich.user_agent]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserAgentSettings {
    /// Acknowledge but do not publish events from bots (default: flag only).
    pub drop_bots: bool,
    /// Parsed user agents kept in memory.
    pub cache_size: usize,
}

impl Default for UserAgentSettings {
    fn default() -> Self {
        Self {
            drop_bots: false,
            cache_size: 10_000,
        }
    }
}

/// `[enrich.sessions]`: sessions derived for events that carry none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    pub enabled: bool,
    /// Inactivity that ends a session.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Visitors remembered at once (older ones are forgotten first).
    pub max_visitors: usize,
    /// Set a first-party cookie with a stable network user id.
    pub cookie: bool,
    pub cookie_name: String,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout: Duration::from_secs(30 * 60),
            max_visitors: 100_000,
            cookie: false,
            cookie_name: "cg_nuid".into(),
        }
    }
}

/// `[enrich.dedupe]`: repeats of a `messageId` on this instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeSettings {
    pub enabled: bool,
    /// How long a `messageId` is remembered.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How many `messageId`s are remembered at most.
    pub max_ids: usize,
}

impl Default for DedupeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(10 * 60),
            max_ids: 200_000,
        }
    }
}

impl EnrichSettings {
    /// Checks this section on its own, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.privacy;
        if p.ipv4_prefix > 32 {
            return Err(invalid("enrich.privacy.ipv4_prefix", "must be 0 to 32"));
        }
        if p.ipv6_prefix > 128 {
            return Err(invalid("enrich.privacy.ipv6_prefix", "must be 0 to 128"));
        }
        positive([
            ("enrich.geo.reload_interval", self.geo.reload_interval),
            ("enrich.sessions.timeout", self.sessions.timeout),
            ("enrich.dedupe.window", self.dedupe.window),
        ])?;
        nonzero([
            ("enrich.user_agent.cache_size", self.user_agent.cache_size),
            ("enrich.sessions.max_visitors", self.sessions.max_visitors),
            ("enrich.dedupe.max_ids", self.dedupe.max_ids),
        ])?;
        let s = &self.sessions;
        if s.cookie && p.cookieless {
            return Err(invalid(
                "enrich.sessions.cookie",
                "cannot be on in cookieless mode (enrich.privacy.cookieless)",
            ));
        }
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
        if s.cookie_name.is_empty() || !s.cookie_name.chars().all(legal) {
            return Err(invalid(
                "enrich.sessions.cookie_name",
                "must be letters, digits, `_` or `-`",
            ));
        }
        Ok(())
    }
}
