//! Structured logs with `tracing`: text for people, JSON for collectors. Logs go to stderr so
//! stdout stays for the one machine-readable ready line.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber once; `RUST_LOG` is honoured by the binary only.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Masks all but the last three characters of a phone number or code for logs.
pub fn mask(value: &str) -> String {
    let n = value.chars().count();
    if n <= 3 {
        return "*".repeat(n);
    }
    value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i + 3 < n && c.is_ascii_alphanumeric() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_all_but_last_three() {
        for (input, want) in [
            ("+15551234567", "+********567"),
            ("123", "***"),
            ("", ""),
            ("4711", "*711"),
        ] {
            assert_eq!(mask(input), want, "{input}");
        }
    }
}
