//! Building blocks every settings section uses: the error that names the
//! offending key, a `Secret` that never prints, and small checks. A leaf
//! module: sections depend on it, it depends on nothing in the crate.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why settings could not be loaded; `Invalid` always names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

/// An `Invalid` error for `key`.
pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Refuses the first zero in `values`, naming its key.
pub fn nonzero<const N: usize>(values: [(&str, usize); N]) -> Result<(), ConfigError> {
    match values.iter().find(|(_, v)| *v == 0) {
        Some((key, _)) => Err(invalid(*key, "must be greater than zero")),
        None => Ok(()),
    }
}

/// Refuses the first zero duration in `values`, naming its key.
pub fn positive<const N: usize>(values: [(&str, Duration); N]) -> Result<(), ConfigError> {
    match values.iter().find(|(_, d)| d.is_zero()) {
        Some((key, _)) => Err(invalid(*key, "must be greater than zero")),
        None => Ok(()),
    }
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
