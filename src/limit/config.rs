//! `[limits]` (request sizes, timeouts, concurrency, memory) and
//! `[rate_limits]` (per IP, hot visitors), with the `Rate` quota type
//! sources use too.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::setting::{invalid, nonzero, positive, ConfigError};

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

/// A token-bucket quota: `per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.per_second == 0 {
            return Err(invalid(format!("{key}.per_second"), "must be at least 1"));
        }
        if self.burst == 0 {
            return Err(invalid(format!("{key}.burst"), "must be at least 1"));
        }
        Ok(())
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

impl Limits {
    /// Checks this section on its own, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive([
            ("limits.request_timeout", self.request_timeout),
            ("limits.header_read_timeout", self.header_read_timeout),
        ])?;
        nonzero([
            ("limits.max_body_bytes", self.max_body_bytes),
            ("limits.max_decompressed_bytes", self.max_decompressed_bytes),
            ("limits.max_event_bytes", self.max_event_bytes),
            ("limits.max_batch_events", self.max_batch_events),
            (
                "limits.max_concurrent_requests",
                self.max_concurrent_requests,
            ),
            ("limits.max_inflight_bytes", self.max_inflight_bytes),
            ("limits.max_json_depth", self.max_json_depth),
            ("limits.max_string_bytes", self.max_string_bytes),
            ("limits.max_key_bytes", self.max_key_bytes),
            ("limits.max_connections", self.max_connections),
        ])?;
        if self.max_decompressed_bytes < self.max_body_bytes {
            return Err(invalid(
                "limits.max_decompressed_bytes",
                "must be at least limits.max_body_bytes",
            ));
        }
        if self.max_json_depth > 1_000 {
            return Err(invalid("limits.max_json_depth", "must be at most 1000"));
        }
        Ok(())
    }
}

impl RateLimitSettings {
    /// Checks this section on its own, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive([("rate_limits.prune_interval", self.prune_interval)])?;
        nonzero([("rate_limits.max_tracked_keys", self.max_tracked_keys)])?;
        if let Some(rate) = &self.per_ip {
            rate.validate("rate_limits.per_ip")?;
        }
        if let Some(rate) = &self.hot_visitor {
            rate.validate("rate_limits.hot_visitor")?;
        }
        Ok(())
    }
}
