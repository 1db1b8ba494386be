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
/// A subscriber's logo: an https address only (our pages are served over https in
/// production, and a mixed-content image would be blocked or leak the visit in clear). It is
/// named by itself in the page's CSP `img-src`, so it may hold none of the characters that
/// separate CSP sources or directives (CSP3 §2.2.1: whitespace, `;`, `,`) nor quotes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogoUrl(String);

impl LogoUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LogoUrl {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ValidationError::LogoUrl(shown(text));
        let forbidden = |c: char| {
            c.is_whitespace() || c.is_control() || matches!(c, ';' | ',' | '\'' | '"' | '\\')
        };
        if text.len() > URL_MAX_BYTES || text.chars().any(forbidden) || !text.is_ascii() {
            return Err(error());
        }
        match split_scheme(text) {
            Some(("https", rest)) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                normalize_authority("https", &rest[..end]).map_err(|_| error())?;
                Ok(Self(text.to_owned()))
            }
            _ => Err(error()),
        }
    }
}

/// A subscriber's accent colour, `#rrggbb` (kept lower case). Pages put it in their own
/// style sheet; [`AccentColor::text_color`] picks the text colour that stays readable on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccentColor([u8; 3]);

impl AccentColor {
    /// `#rrggbb`.
    pub fn hex(&self) -> String {
        let [r, g, b] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// WCAG 2.2 relative luminance (§ "relative luminance": sRGB linearised, weighted).
    pub fn luminance(&self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    }

    /// WCAG contrast ratio of white text on this colour, 1 to 21.
    pub fn contrast_with_white(&self) -> f64 {
        1.05 / (self.luminance() + 0.05)
    }

    /// WCAG contrast ratio of black text on this colour, 1 to 21.
    pub fn contrast_with_black(&self) -> f64 {
        (self.luminance() + 0.05) / 0.05
    }

    /// The text colour for content on the accent: white when white text reaches the WCAG AA
    /// ratio for normal text (4.5:1, SC 1.4.3), else black, which then always does (a
    /// colour too light for white is at least 4.58:1 against black).
    pub fn text_color(&self) -> &'static str {
        if self.contrast_with_white() >= 4.5 {
            "#ffffff"
        } else {
            "#000000"
        }
    }
}

impl FromStr for AccentColor {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ValidationError::AccentColor(shown(text));
        let digits = text.strip_prefix('#').ok_or_else(error)?;
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(error());
        }
        let byte = |i: usize| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| error());
        Ok(Self([byte(0)?, byte(2)?, byte(4)?]))
    }
}

impl TryFrom<String> for AccentColor {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<AccentColor> for String {
    fn from(value: AccentColor) -> String {
        value.hex()
    }
}

impl fmt::Display for AccentColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

string_conversions!(Origin);
string_conversions!(PageUrl);
string_conversions!(LogoUrl);

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
    fn logo_url_table() {
        let cases: &[(&str, bool)] = &[
            ("https://cdn.acme.example/logo.svg", true),
            ("https://cdn.acme.example:8443/a/logo.png?v=2", true),
            ("http://cdn.acme.example/logo.svg", false),
            ("data:image/png;base64,AAAA", false),
            ("javascript:alert(1)", false),
            ("https://cdn.acme.example/a;b.png", false),
            ("https://cdn.acme.example/a,b.png", false),
            ("https://cdn.acme.example/a'b.png", false),
            ("https://cdn.acme.example/a b.png", false),
            ("https://cdn.acme.example/é.png", false),
            ("https://user@cdn.acme.example/logo.png", false),
            ("https:///logo.png", false),
        ];
        for (input, valid) in cases {
            assert_eq!(input.parse::<LogoUrl>().is_ok(), *valid, "{input}");
        }
    }

    #[test]
    fn accent_colours_and_their_readable_text() {
        // (input, stored, text colour, white contrast to 2 decimals)
        let cases: &[(&str, &str, &str, f64)] = &[
            ("#0B5FFF", "#0b5fff", "#ffffff", 5.13),
            ("#000000", "#000000", "#ffffff", 21.0),
            ("#ffffff", "#ffffff", "#000000", 1.0),
            ("#ffcc00", "#ffcc00", "#000000", 1.51),
            // Mid grey: white is 3.95:1, under AA, so black text (5.32:1).
            ("#808080", "#808080", "#000000", 3.95),
        ];
        for (input, stored, text, white) in cases {
            let c: AccentColor = input.parse().expect(input);
            assert_eq!(c.hex(), *stored);
            assert_eq!(c.text_color(), *text, "{input}");
            assert!(
                (c.contrast_with_white() - white).abs() < 0.01,
                "{input}: {}",
                c.contrast_with_white()
            );
            let chosen = if *text == "#ffffff" {
                c.contrast_with_white()
            } else {
                c.contrast_with_black()
            };
            assert!(chosen >= 4.5, "{input}: {chosen}");
        }
        for bad in [
            "0b5fff", "#0b5ff", "#0b5fffa", "#gggggg", "red", "", "#0b5fff ",
        ] {
            assert!(bad.parse::<AccentColor>().is_err(), "{bad:?}");
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
