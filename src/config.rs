//! The typed settings tree: defaults, then a TOML file, then `CLICKGATE_*`
//! environment variables, then CLI flags; validated once at start-up.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Top-level sections whose env vars use one `_` between section and key,
/// e.g. `CLICKGATE_KAFKA_BROKERS` → `kafka.brokers`.
const ENV_SECTIONS: &[&str] = &[
    "kafka",
    "limits",
    "partitioning",
    "client_ip",
    "rate_limits",
    "enrich",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP server binds, `host:port`.
    pub listen: SocketAddr,
    /// Time allowed for in-flight requests and the producer flush on shutdown.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub kafka: KafkaSettings,
    pub limits: Limits,
    /// Where the client address comes from (socket or trusted proxies).
    pub client_ip: ClientIpSettings,
    /// Per-IP limits, hot-visitor re-keying and limiter housekeeping.
    pub rate_limits: RateLimitSettings,
    pub partitioning: Partitioning,
    /// Ordered routing rules for the processed topic; first match wins.
    pub routes: Vec<RouteRule>,
    pub sources: Vec<SourceSettings>,
    /// Directory served at `/demo/` and `/snippet/` (dev mode sets it).
    pub demo_dir: Option<PathBuf>,
    /// Geo, IP privacy, user agent, sessions and duplicate dropping.
    pub enrich: EnrichSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_timeout: Duration::from_secs(10),
            kafka: KafkaSettings::default(),
            limits: Limits::default(),
            client_ip: ClientIpSettings::default(),
            rate_limits: RateLimitSettings::default(),
            partitioning: Partitioning::default(),
            routes: Vec::new(),
            sources: Vec::new(),
            demo_dir: None,
            enrich: EnrichSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    /// Create missing topics at start-up; otherwise refuse to start.
    pub create_topics: bool,
    pub replication_factor: i32,
    /// When a request is answered: after the broker acknowledged every
    /// record (`kafka`), or as soon as the records are queued (`enqueue`).
    pub ack: AckMode,
    /// Longest wait for Kafka to acknowledge a request's records before
    /// answering 503; also librdkafka's `message.timeout.ms`.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// How often broker reachability and topic presence are checked.
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
    /// How long start-up waits for the cluster before giving up.
    #[serde(with = "humantime_serde")]
    pub startup_timeout: Duration,
    pub topics: Topics,
    /// Extra librdkafka properties, applied last (e.g. `"linger.ms" = "20"`,
    /// `"security.protocol" = "SASL_SSL"`).
    pub producer: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            create_topics: false,
            replication_factor: 1,
            ack: AckMode::Kafka,
            delivery_timeout: Duration::from_secs(5),
            health_interval: Duration::from_secs(2),
            startup_timeout: Duration::from_secs(30),
            topics: Topics::default(),
            producer: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    Kafka,
    Enqueue,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    pub raw: TopicSettings,
    pub events: TopicSettings,
    pub dlq: TopicSettings,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            raw: TopicSettings::new("clickstream.raw", 6),
            events: TopicSettings::new("clickstream.events", 6),
            dlq: TopicSettings::new("clickstream.dlq", 1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSettings {
    pub name: String,
    #[serde(default = "default_partitions")]
    pub partitions: i32,
}

fn default_partitions() -> i32 {
    6
}

impl TopicSettings {
    pub fn new(name: &str, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
        }
    }
}

/// Sends events whose `type` or name matches `pattern` to `topic`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// Glob over the event name (`event` for track, `name` for page/screen,
    /// else the type); `*` matches any run of characters.
    pub pattern: String,
    /// Restrict the rule to one event type (`track`, `page`, ...).
    #[serde(default)]
    pub r#type: Option<String>,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted on the wire.
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression.
    pub max_decompressed_bytes: usize,
    /// Largest single event (its JSON text).
    pub max_event_bytes: usize,
    pub max_batch_events: usize,
    /// Longest a whole request may take, body read included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Requests served at once; above it new requests get 503.
    pub max_concurrent_requests: usize,
    /// Deepest nesting of objects and arrays inside one event (the event
    /// object itself is level 1).
    pub max_json_depth: usize,
    /// Longest JSON string value in an event, in bytes as sent (escaped).
    pub max_string_bytes: usize,
    /// Longest object key in an event, in bytes as sent (escaped).
    pub max_key_bytes: usize,
    /// Longest a client may take to send a request's headers, from the
    /// moment the connection is ready for them (slow-loris); an idle
    /// keep-alive connection is closed after the same time. Behind a load
    /// balancer, set it above the balancer's idle timeout for upstream
    /// connections (the balancer then absorbs slow clients).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Open client connections at once; above it new connections wait in
    /// the listen backlog.
    pub max_connections: usize,
    /// Request data held at once across all requests (bodies, inflated
    /// bodies and their Kafka records); above it new requests get 503, so
    /// memory stays bounded under overload.
    pub max_inflight_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 500 * 1024,
            max_decompressed_bytes: 2 * 1024 * 1024,
            max_event_bytes: 32 * 1024,
            max_batch_events: 2_500,
            request_timeout: Duration::from_secs(10),
            max_concurrent_requests: 1_024,
            max_json_depth: 32,
            max_string_bytes: 16 * 1024,
            max_key_bytes: 256,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_inflight_bytes: 64 * 1024 * 1024,
        }
    }
}

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
    fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.privacy;
        if p.ipv4_prefix > 32 {
            return Err(invalid("enrich.privacy.ipv4_prefix", "must be 0 to 32"));
        }
        if p.ipv6_prefix > 128 {
            return Err(invalid("enrich.privacy.ipv6_prefix", "must be 0 to 128"));
        }
        for (key, d) in [
            ("enrich.geo.reload_interval", self.geo.reload_interval),
            ("enrich.sessions.timeout", self.sessions.timeout),
            ("enrich.dedupe.window", self.dedupe.window),
        ] {
            if d.is_zero() {
                return Err(invalid(key, "must be greater than zero"));
            }
        }
        for (key, v) in [
            ("enrich.user_agent.cache_size", self.user_agent.cache_size),
            ("enrich.sessions.max_visitors", self.sessions.max_visitors),
            ("enrich.dedupe.max_ids", self.dedupe.max_ids),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be greater than zero"));
            }
        }
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

/// A token-bucket quota: `per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.per_second == 0 {
            return Err(invalid(format!("{key}.per_second"), "must be at least 1"));
        }
        if self.burst == 0 {
            return Err(invalid(format!("{key}.burst"), "must be at least 1"));
        }
        Ok(())
    }
}

/// Which forwarding header the trusted proxies set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientIpSettings {
    /// Networks of the proxies in front of clickgate (`10.0.0.0/8`,
    /// `::1/128`, or a bare address). Only a peer in one of them may name
    /// the client in a forwarding header.
    pub trusted_proxies: Vec<IpNetwork>,
    /// The header those proxies append to.
    pub header: ForwardedHeader,
}

impl Default for ClientIpSettings {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            header: ForwardedHeader::XForwardedFor,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Requests per second one client IP may send; none means unlimited.
    pub per_ip: Option<Rate>,
    /// Events per second one visitor (write key + anonymousId or userId)
    /// may send before their further events are keyed at random, so one
    /// visitor cannot overload one partition; none turns re-keying off.
    pub hot_visitor: Option<Rate>,
    /// How often idle limiter state (clients back at a full bucket) is
    /// dropped.
    #[serde(with = "humantime_serde")]
    pub prune_interval: Duration,
    /// Most clients (or visitors) one keyed limiter tracks; past it the
    /// state is pruned at once and, if still over, reset.
    pub max_tracked_keys: usize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_ip: None,
            hot_visitor: Some(Rate {
                per_second: 100,
                burst: 1_000,
            }),
            prune_interval: Duration::from_secs(10),
            max_tracked_keys: 200_000,
        }
    }
}

/// An IP network in CIDR notation; a bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl TryFrom<String> for IpNetwork {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("{text:?} is not an IP address or CIDR network");
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl From<IpNetwork> for String {
    fn from(n: IpNetwork) -> String {
        format!("{}/{}", n.addr, n.prefix)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Public key used from web pages: body, query or Basic auth.
    Browser,
    /// Secret key: only via HTTP Basic auth, never in a URL.
    Server,
}

/// A string that never prints.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Overrides given on the command line; `None` leaves the lower layers.
#[derive(Debug, Default, Clone)]
pub struct CliOverrides {
    pub listen: Option<SocketAddr>,
    pub kafka_brokers: Option<String>,
    /// Sources to use when the layers above declare none (dev mode).
    pub dev_sources: Option<Vec<SourceSettings>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

impl Settings {
    /// Layers defaults, the optional TOML file, `CLICKGATE_*` env vars and
    /// CLI flags, then validates.
    pub fn load(file: Option<&Path>, cli: &CliOverrides) -> Result<Self, ConfigError> {
        let mut defaults = Settings::default();
        defaults.enrich.geo.directory = Some(PathBuf::from(DEFAULT_GEO_DIRECTORY));
        let mut figment = Figment::from(Serialized::defaults(defaults));
        if let Some(path) = file {
            if !path.exists() {
                return Err(invalid(
                    "config",
                    format!("file {} does not exist", path.display()),
                ));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(env_provider());
        if let Some(listen) = cli.listen {
            figment = figment.merge(("listen", listen));
        }
        if let Some(brokers) = &cli.kafka_brokers {
            figment = figment.merge(("kafka.brokers", brokers));
        }
        let mut settings: Settings = figment.extract().map_err(Box::new)?;
        if settings.sources.is_empty() {
            if let Some(dev) = &cli.dev_sources {
                settings.sources = dev.clone();
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Parses a TOML document on top of the defaults (tests and examples).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Fails on the first bad value, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let k = &self.kafka;
        if k.brokers.trim().is_empty() {
            return Err(invalid("kafka.brokers", "must not be empty"));
        }
        if k.replication_factor < 1 {
            return Err(invalid("kafka.replication_factor", "must be at least 1"));
        }
        for (key, d) in [
            ("kafka.delivery_timeout", k.delivery_timeout),
            ("kafka.health_interval", k.health_interval),
            ("limits.request_timeout", self.limits.request_timeout),
            (
                "limits.header_read_timeout",
                self.limits.header_read_timeout,
            ),
            (
                "rate_limits.prune_interval",
                self.rate_limits.prune_interval,
            ),
        ] {
            if d.is_zero() {
                return Err(invalid(key, "must be greater than zero"));
            }
        }
        // A request must be able to wait for Kafka's answer (delivery_timeout
        // plus the report's 1 s margin) before the request timeout cuts it off.
        if self.limits.request_timeout <= k.delivery_timeout + Duration::from_secs(1) {
            return Err(invalid(
                "limits.request_timeout",
                "must be longer than kafka.delivery_timeout + 1s",
            ));
        }
        if self.limits.max_decompressed_bytes + 64 * 1024 > crate::sink::topics::MAX_MESSAGE_BYTES {
            return Err(invalid(
                "limits.max_decompressed_bytes",
                format!(
                    "must leave room for the raw envelope in a {} byte Kafka record",
                    crate::sink::topics::MAX_MESSAGE_BYTES
                ),
            ));
        }
        let mut topics = vec![
            ("kafka.topics.raw", &k.topics.raw),
            ("kafka.topics.events", &k.topics.events),
            ("kafka.topics.dlq", &k.topics.dlq),
        ];
        let route_keys: Vec<String> = (0..self.routes.len())
            .map(|i| format!("routes[{i}].topic"))
            .collect();
        topics.extend(
            route_keys
                .iter()
                .map(String::as_str)
                .zip(self.routes.iter().map(|r| &r.topic)),
        );
        for (key, topic) in topics {
            validate_topic(key, topic)?;
        }
        for (i, rule) in self.routes.iter().enumerate() {
            if rule.pattern.is_empty() {
                return Err(invalid(format!("routes[{i}].pattern"), "must not be empty"));
            }
        }
        let l = &self.limits;
        for (key, v) in [
            ("limits.max_body_bytes", l.max_body_bytes),
            ("limits.max_decompressed_bytes", l.max_decompressed_bytes),
            ("limits.max_event_bytes", l.max_event_bytes),
            ("limits.max_batch_events", l.max_batch_events),
            ("limits.max_concurrent_requests", l.max_concurrent_requests),
            ("limits.max_inflight_bytes", l.max_inflight_bytes),
            ("limits.max_json_depth", l.max_json_depth),
            ("limits.max_string_bytes", l.max_string_bytes),
            ("limits.max_key_bytes", l.max_key_bytes),
            ("limits.max_connections", l.max_connections),
            (
                "rate_limits.max_tracked_keys",
                self.rate_limits.max_tracked_keys,
            ),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be greater than zero"));
            }
        }
        if l.max_decompressed_bytes < l.max_body_bytes {
            return Err(invalid(
                "limits.max_decompressed_bytes",
                "must be at least limits.max_body_bytes",
            ));
        }
        if l.max_json_depth > 1_000 {
            return Err(invalid("limits.max_json_depth", "must be at most 1000"));
        }
        if let Some(rate) = &self.rate_limits.per_ip {
            rate.validate("rate_limits.per_ip")?;
        }
        if let Some(rate) = &self.rate_limits.hot_visitor {
            rate.validate("rate_limits.hot_visitor")?;
        }
        self.enrich.validate()?;
        self.validate_sources()
    }

    fn validate_sources(&self) -> Result<(), ConfigError> {
        if self.sources.is_empty() {
            return Err(invalid(
                "sources",
                "declare at least one source with a write key",
            ));
        }
        let mut names = HashSet::new();
        let mut keys = HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
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
}

fn validate_topic(key: &str, topic: &TopicSettings) -> Result<(), ConfigError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.name.is_empty() || topic.name.len() > 249 || !topic.name.chars().all(legal) {
        return Err(invalid(
            format!("{key}.name"),
            format!("{:?} is not a legal Kafka topic name", topic.name),
        ));
    }
    if topic.partitions < 1 {
        return Err(invalid(format!("{key}.partitions"), "must be at least 1"));
    }
    Ok(())
}

/// `CLICKGATE_LISTEN` → `listen`, `CLICKGATE_KAFKA_BROKERS` → `kafka.brokers`,
/// `CLICKGATE_LIMITS_MAX_BODY_BYTES` → `limits.max_body_bytes`; `__` nests
/// deeper. `CLICKGATE_CONFIG` names the file and is not a setting.
fn env_provider() -> Env {
    // CLICKGATE_CONFIG names the file, CLICKGATE_LOG filters logs; BIN and
    // TEST_* are used by the project's scripts and tests, not settings.
    Env::prefixed("CLICKGATE_")
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            !matches!(key.as_str(), "config" | "log" | "bin") && !key.starts_with("test_")
        })
        .map(|key| env_key(key.as_str()).into())
}

/// The settings path an env var name (without the prefix) stands for.
fn env_key(name: &str) -> String {
    let key = name.to_ascii_lowercase().replace("__", ".");
    for section in ENV_SECTIONS {
        if let Some(rest) = key.strip_prefix(section).and_then(|r| r.strip_prefix('_')) {
            return format!("{section}.{rest}");
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [[sources]]
        name = "web"
        kind = "browser"
        keys = ["k1"]
        allowed_origins = ["*"]
    "#;

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let s = Settings::from_toml(MINIMAL).expect("valid");
        assert_eq!(s.kafka.topics.raw.name, "clickstream.raw");
        assert_eq!(s.kafka.topics.events.name, "clickstream.events");
        assert_eq!(s.kafka.topics.dlq.name, "clickstream.dlq");
        assert_eq!(s.limits.max_body_bytes, 512_000);
        assert_eq!(s.limits.max_event_bytes, 32_768);
        assert_eq!(s.kafka.ack, AckMode::Kafka);
        assert_eq!(s.partitioning.key, PartitionKey::Visitor);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Settings::from_toml("bogus = 1\n").unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn bad_topic_name_is_named() {
        let text = format!("{MINIMAL}\n[kafka.topics.raw]\nname = \"bad name\"\n");
        let err = Settings::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("kafka.topics.raw.name"), "{err}");
    }

    #[test]
    fn durations_are_humane() {
        let text = format!("[kafka]\ndelivery_timeout = \"250ms\"\n{MINIMAL}");
        let s = Settings::from_toml(&text).expect("valid");
        assert_eq!(s.kafka.delivery_timeout, Duration::from_millis(250));
    }

    #[test]
    fn no_sources_is_refused() {
        let err = Settings::from_toml("").unwrap_err().to_string();
        assert!(err.contains("`sources`"), "{err}");
    }

    #[test]
    fn server_source_with_origins_is_refused() {
        let text = r#"
            [[sources]]
            name = "api"
            kind = "server"
            keys = ["s1"]
            allowed_origins = ["example.com"]
        "#;
        let err = Settings::from_toml(text).unwrap_err().to_string();
        assert!(err.contains("sources[0].allowed_origins"), "{err}");
    }

    #[test]
    fn shared_key_is_refused() {
        let text = r#"
            [[sources]]
            name = "a"
            kind = "server"
            keys = ["same"]
            [[sources]]
            name = "b"
            kind = "server"
            keys = ["same"]
        "#;
        let err = Settings::from_toml(text).unwrap_err().to_string();
        assert!(err.contains("sources[1].keys"), "{err}");
    }

    #[test]
    fn enrich_defaults_and_bad_keys_are_named() {
        let s = Settings::from_toml(MINIMAL).expect("valid");
        assert_eq!(s.enrich.privacy.ip, IpMode::Truncate);
        assert_eq!(s.enrich.privacy.ipv4_prefix, 24);
        assert_eq!(s.enrich.privacy.ipv6_prefix, 48);
        assert!(!s.enrich.sessions.cookie);
        assert_eq!(s.enrich.sessions.timeout, Duration::from_secs(1800));
        let text = format!("{MINIMAL}\n[enrich.privacy]\nipv4_prefix = 33\n");
        let err = Settings::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("enrich.privacy.ipv4_prefix"), "{err}");
        let text = format!("{MINIMAL}\n[enrich.geo]\ndatabse = \"x\"\n");
        let err = Settings::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("databse"), "{err}");
        let text = format!(
            "{MINIMAL}\n[enrich.privacy]\ncookieless = true\n[enrich.sessions]\ncookie = true\n"
        );
        let err = Settings::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("enrich.sessions.cookie"), "{err}");
    }

    #[test]
    fn edge_settings_parse_and_validate() {
        let text = format!(
            "{MINIMAL}rate_limit = {{ per_second = 5, burst = 10 }}\n\
             [client_ip]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nheader = \"forwarded\"\n\
             [rate_limits]\nper_ip = {{ per_second = 2, burst = 3 }}\n"
        );
        let s = Settings::from_toml(&text).expect("valid");
        assert_eq!(
            s.sources[0].rate_limit,
            Some(Rate {
                per_second: 5,
                burst: 10
            })
        );
        assert_eq!(s.client_ip.header, ForwardedHeader::Forwarded);
        assert!(s.client_ip.trusted_proxies[0].contains("10.1.2.3".parse().expect("ip")));
        assert!(!s.client_ip.trusted_proxies[0].contains("11.1.2.3".parse().expect("ip")));
        assert!(s.client_ip.trusted_proxies[1].contains("::1".parse().expect("ip")));
        assert_eq!(s.rate_limits.per_ip.map(|r| r.burst), Some(3));
    }

    #[test]
    fn bad_edge_settings_are_named() {
        let cases = [
            (
                "[client_ip]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
                "trusted_proxies",
            ),
            (
                "[client_ip]\ntrusted_proxies = [\"nope\"]\n",
                "trusted_proxies",
            ),
            ("[limits]\nmax_json_depth = 0\n", "limits.max_json_depth"),
            ("[limits]\nmax_key_bytes = 0\n", "limits.max_key_bytes"),
            (
                "[limits]\nheader_read_timeout = \"0s\"\n",
                "limits.header_read_timeout",
            ),
            (
                "[rate_limits]\nper_ip = { per_second = 0, burst = 1 }\n",
                "rate_limits.per_ip.per_second",
            ),
        ];
        for (extra, key) in cases {
            let err = Settings::from_toml(&format!("{extra}{MINIMAL}"))
                .expect_err(key)
                .to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let text = format!("{MINIMAL}rate_limit = {{ per_second = 1, burst = 0 }}\n");
        let err = Settings::from_toml(&text)
            .expect_err("zero burst")
            .to_string();
        assert!(err.contains("sources[0].rate_limit.burst"), "{err}");
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_networks() {
        let net = IpNetwork::try_from("127.0.0.0/8".to_owned()).expect("net");
        assert!(net.contains("::ffff:127.0.0.1".parse().expect("ip")));
        let all = IpNetwork::try_from("0.0.0.0/0".to_owned()).expect("net");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
    }

    #[test]
    fn env_names_map_to_settings_paths() {
        assert_eq!(env_key("LISTEN"), "listen");
        assert_eq!(env_key("KAFKA_BROKERS"), "kafka.brokers");
        assert_eq!(env_key("KAFKA_CREATE_TOPICS"), "kafka.create_topics");
        assert_eq!(env_key("LIMITS_MAX_BODY_BYTES"), "limits.max_body_bytes");
        assert_eq!(env_key("KAFKA__TOPICS__RAW__NAME"), "kafka.topics.raw.name");
        assert_eq!(env_key("SHUTDOWN_TIMEOUT"), "shutdown_timeout");
        assert_eq!(
            env_key("RATE_LIMITS__PER_IP__BURST"),
            "rate_limits.per_ip.burst"
        );
        assert_eq!(
            env_key("CLIENT_IP_TRUSTED_PROXIES"),
            "client_ip.trusted_proxies"
        );
    }

    #[test]
    fn only_the_binary_searches_the_default_geo_directory() {
        let cli = CliOverrides {
            dev_sources: Some(vec![SourceSettings {
                name: "web".into(),
                kind: SourceKind::Browser,
                keys: vec![Secret::new("k")],
                allowed_origins: vec![],
                rate_limit: None,
            }]),
            ..CliOverrides::default()
        };
        let loaded = Settings::load(None, &cli).expect("valid");
        assert_eq!(
            loaded.enrich.geo.directory.as_deref(),
            Some(Path::new(DEFAULT_GEO_DIRECTORY))
        );
        assert_eq!(
            Settings::from_toml(MINIMAL)
                .expect("valid")
                .enrich
                .geo
                .directory,
            None
        );
    }

    #[test]
    fn request_timeout_must_outlast_the_kafka_wait() {
        let text = format!("[kafka]\ndelivery_timeout = \"10s\"\n{MINIMAL}");
        let err = Settings::from_toml(&text).expect_err("refused").to_string();
        assert!(err.contains("limits.request_timeout"), "{err}");
    }

    #[test]
    fn decompressed_limit_must_fit_a_kafka_record() {
        let text = format!("[limits]\nmax_decompressed_bytes = 8000000\n{MINIMAL}");
        let err = Settings::from_toml(&text).expect_err("refused").to_string();
        assert!(err.contains("limits.max_decompressed_bytes"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Settings::from_toml(MINIMAL).expect("valid");
        assert!(!format!("{s:?}").contains("k1"));
    }
}
