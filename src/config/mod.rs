//! The settings tree: each section's types, defaults and checks live with
//! the code that uses them (`sink::config`, `limit::config`,
//! `enrich::config`, `source`, `client_ip`, `route`); this module composes
//! them, layers defaults, a TOML file, `CLICKGATE_*` environment variables
//! and CLI flags, and runs the checks that span sections.

mod env;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use crate::client_ip::{ClientIpSettings, ForwardedHeader, IpNetwork};
pub use crate::enrich::config::{
    DedupeSettings, EnrichSettings, GeoSettings, IpMode, PrivacySettings, SessionSettings,
    UserAgentSettings, DEFAULT_GEO_DIRECTORY,
};
pub use crate::limit::config::{Limits, Rate, RateLimitSettings};
pub use crate::route::{PartitionKey, Partitioning, RouteRule};
pub use crate::setting::{ConfigError, Secret};
pub use crate::sink::config::{AckMode, KafkaSettings, TopicSettings, Topics, MAX_MESSAGE_BYTES};
pub use crate::source::{SourceKind, SourceSettings};

use crate::setting::invalid;

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
            enrich: EnrichSettings::default(),
        }
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
        figment = figment.merge(env::provider());
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

    /// Checks every section, then what spans sections; fails on the first
    /// bad value, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.kafka.validate()?;
        self.limits.validate()?;
        self.rate_limits.validate()?;
        crate::route::validate(&self.routes)?;
        self.enrich.validate()?;
        crate::source::validate(&self.sources)?;
        self.validate_across()
    }

    fn validate_across(&self) -> Result<(), ConfigError> {
        // A request must be able to wait for Kafka's answer (delivery_timeout
        // plus the report's 1 s margin) before the request timeout cuts it off.
        if self.limits.request_timeout <= self.kafka.delivery_timeout + Duration::from_secs(1) {
            return Err(invalid(
                "limits.request_timeout",
                "must be longer than kafka.delivery_timeout + 1s",
            ));
        }
        if self.limits.max_decompressed_bytes + 64 * 1024 > MAX_MESSAGE_BYTES {
            return Err(invalid(
                "limits.max_decompressed_bytes",
                format!(
                    "must leave room for the raw envelope in a {MAX_MESSAGE_BYTES} byte Kafka record"
                ),
            ));
        }
        Ok(())
    }
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
    fn unknown_route_type_is_refused_naming_the_key() {
        let text = format!(
            "{MINIMAL}\n[[routes]]\npattern = \"Order *\"\ntype = \"purchase\"\ntopic = {{ name = \"orders\" }}\n"
        );
        let err = Settings::from_toml(&text).expect_err("refused").to_string();
        assert!(err.contains("routes") && err.contains("type"), "{err}");
        assert!(err.contains("purchase"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Settings::from_toml(MINIMAL).expect("valid");
        assert!(!format!("{s:?}").contains("k1"));
    }
}
