//! Web addresses a subscriber registers: a site's origin (RFC 6454 §6.2 serialization:
//! `scheme://host[:port]`, what browsers send in the `Origin` header) and a pushed page's URL.
//! Validation is deliberately narrow (http and https only, no user info) because these strings
//! end up in links, CSP headers and redirects.

use std::fmt;
use std::str::FromStr;

use crate::{ValidationError, shown};

/// Longest page URL we store; longer ones break in some browsers anyway.
const URL_MAX_BYTES: usize = 2048;

/// A site origin such as `https://shop.example` or `http://127.0.0.1:8080`: lower case, without
/// the scheme's default port, and without path, so it compares equal to a browser's `Origin`
/// header (RFC 6454 §6.2).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Origin(String);

/// Splits `scheme://rest` for http and https (scheme case-insensitive, RFC 3986 §3.1).
fn split_scheme(text: &str) -> Option<(&'static str, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    if scheme.eq_ignore_ascii_case("https") {
        Some(("https", rest))
    } else if scheme.eq_ignore_ascii_case("http") {
        Some(("http", rest))
    } else {
        None
    }
}

/// Checks `host[:port]` and returns it lower-cased with the scheme's default port removed.
fn normalize_authority(scheme: &str, authority: &str) -> Result<String, &'static str> {
    if authority.contains('@') {
        return Err("user names and passwords are not allowed");
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        // RFC 3986 §3.2.2: an IPv6 literal in brackets.
        let (inside, after) = rest.split_once(']').ok_or("unclosed '[' in the host")?;
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("the IPv6 address is not valid");
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("unexpected text after the IPv6 address")?,
            ),
        };
        (format!("[{}]", inside.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err("the host name is not valid");
        }
        (host.to_ascii_lowercase(), port)
    };
    let default_port = if scheme == "https" { 443 } else { 80 };
    match port {
        None => Ok(host),
        Some(p) => {
            let number: u16 = p
                .parse()
                .ok()
                .filter(|n| *n != 0 && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or("the port must be a number from 1 to 65535")?;
            if number == default_port {
                Ok(host)
            } else {
                Ok(format!("{host}:{number}"))
            }
        }
    }
}

impl Origin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Origin {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| ValidationError::Origin {
            text: shown(text),
            reason,
        };
        let (scheme, rest) =
            split_scheme(text).ok_or_else(|| error("the scheme must be http or https"))?;
        // A single trailing slash is what people paste from the address bar; anything after it
        // is a path, which an origin does not have.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(error("an origin has no path, query or fragment"));
        }
        let authority = normalize_authority(scheme, authority).map_err(error)?;
        Ok(Self(format!("{scheme}://{authority}")))
    }
}

/// The http or https address of a page pushed to the caller's browser.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PageUrl(String);

impl PageUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PageUrl {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ValidationError::Url {
            field: "url",
            text: shown(text),
        };
        if text.len() > URL_MAX_BYTES || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(error());
        }
        let (scheme, rest) = split_scheme(text).ok_or_else(error)?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        normalize_authority(scheme, &rest[..end]).map_err(|_| error())?;
        Ok(Self(text.to_owned()))
    }
}

macro_rules! string_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(text: &str) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_conversions!(Origin);
string_conversions!(PageUrl);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("https://shop.example", Some("https://shop.example")),
            ("https://shop.example/", Some("https://shop.example")),
            ("HTTPS://Shop.Example", Some("https://shop.example")),
            ("https://shop.example:443", Some("https://shop.example")),
            ("http://shop.example:80", Some("http://shop.example")),
            ("http://127.0.0.1:8080", Some("http://127.0.0.1:8080")),
            ("http://[::1]:3000", Some("http://[::1]:3000")),
            ("https://shop.example/path", None),
            ("https://shop.example?q=1", None),
            ("ftp://shop.example", None),
            ("shop.example", None),
            ("https://", None),
            ("https://user@shop.example", None),
            ("https://shop..example", None),
            ("https://-shop.example", None),
            ("https://shop.example:0", None),
            ("https://shop.example:70000", None),
            ("https://shop.example:+80", None),
            ("https://sh op.example", None),
        ];
        for (input, expected) in cases {
            let got = input.parse::<Origin>().ok().map(|o| o.to_string());
            assert_eq!(got.as_deref(), *expected, "{input}");
        }
    }

    #[test]
    fn page_url_table() {
        let cases: &[(&str, bool)] = &[
            ("https://shop.example/offer?id=3#top", true),
            ("http://127.0.0.1:8080/p", true),
            ("https://shop.example", true),
            ("javascript:alert(1)", false),
            ("data:text/html,hi", false),
            ("https:///path", false),
            ("https://shop.example/a b", false),
            ("//shop.example/x", false),
        ];
        for (input, valid) in cases {
            assert_eq!(input.parse::<PageUrl>().is_ok(), *valid, "{input}");
        }
    }
}
