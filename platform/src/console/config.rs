//! `[console]`: the agent desk's sign-in limits and session lifetime.

use serde::Deserialize;

use crate::config::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// A console session without a request for this long ends (the agent signs in again).
    pub idle_timeout_secs: u64,
    /// Failed sign-ins for one login of one subscriber before it is locked.
    pub max_failures_per_login: u32,
    /// Failed sign-ins from one client IP (any login) before the IP is locked.
    pub max_failures_per_ip: u32,
    /// How long a lock lasts; failures older than this are forgotten.
    pub lockout_secs: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 1800,
            max_failures_per_login: 5,
            max_failures_per_ip: 50,
            lockout_secs: 900,
        }
    }
}

impl ConsoleConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(&'static str, u64, u64, u64); 4] = [
            (
                "console.idle_timeout_secs",
                self.idle_timeout_secs,
                1,
                86_400,
            ),
            (
                "console.max_failures_per_login",
                self.max_failures_per_login.into(),
                1,
                1000,
            ),
            (
                "console.max_failures_per_ip",
                self.max_failures_per_ip.into(),
                1,
                100_000,
            ),
            ("console.lockout_secs", self.lockout_secs, 1, 86_400),
        ];
        for (key, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("must be from {min} to {max}, got {value}"),
                });
            }
        }
        Ok(())
    }
}
