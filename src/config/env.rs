//! `CLICKGATE_*` environment variables as a settings layer.

use figment::providers::Env;

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

/// `CLICKGATE_LISTEN` → `listen`, `CLICKGATE_KAFKA_BROKERS` → `kafka.brokers`,
/// `CLICKGATE_LIMITS_MAX_BODY_BYTES` → `limits.max_body_bytes`; `__` nests
/// deeper. `CLICKGATE_CONFIG` names the file and is not a setting.
pub(super) fn provider() -> Env {
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
pub(super) fn env_key(name: &str) -> String {
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
    use super::env_key;

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
}
