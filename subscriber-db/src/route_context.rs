//! How a route's context travels to the call center (TAG2 beyond ANI): a fixed DNIS or one
//! drawn per call from a range, `User-to-User`, named `X-` headers, and the session reference
//! as post-answer DTMF. Stored as one JSON document per route, typed on the way in and out,
//! like the policy. The defaults are what every route did before: the route's fixed DNIS and
//! UUI, nothing else.

use serde::{Deserialize, Serialize};

use crate::types::{DnisRange, ValidationError, XHeaderName};

/// The context channels of one route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteContext {
    /// Each call draws a DNIS from this range that no other call of the subscriber in
    /// progress holds; it replaces the route's fixed `dnis`, so a route has one or the other.
    pub dnis_range: Option<DnisRange>,
    /// `User-to-User: wc=…;ref=…` (RFC 7433), hex-encoded.
    pub uui: bool,
    /// The `X-` headers below on the center leg's INVITE.
    pub x_headers: bool,
    pub x_header_names: XHeaderNames,
    /// The session reference keyed to the agent after sign-on, before the whisper.
    pub dtmf_ref: bool,
}

impl Default for RouteContext {
    fn default() -> Self {
        Self {
            dnis_range: None,
            uui: true,
            x_headers: false,
            x_header_names: XHeaderNames::default(),
            dtmf_ref: false,
        }
    }
}

/// The names of the `X-` headers: the session reference, and the TAG1 fields subject code
/// (`sc`), whisper code (`wc`, left out when the link had none) and subscriber id (`sid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XHeaderNames {
    #[serde(rename = "ref")]
    pub session_ref: XHeaderName,
    pub subject: XHeaderName,
    pub whisper_code: XHeaderName,
    pub subscriber: XHeaderName,
}

impl Default for XHeaderNames {
    fn default() -> Self {
        let name = |n: &str| n.parse().unwrap_or_else(|_| unreachable!("{n} is a token"));
        Self {
            session_ref: name("X-Callbond-Ref"),
            subject: name("X-Callbond-Subject"),
            whisper_code: name("X-Callbond-Whisper-Code"),
            subscriber: name("X-Callbond-Subscriber"),
        }
    }
}

impl XHeaderNames {
    /// The four names in the order the INVITE carries them.
    pub fn all(&self) -> [&XHeaderName; 4] {
        [
            &self.session_ref,
            &self.subject,
            &self.whisper_code,
            &self.subscriber,
        ]
    }

    /// Reads `ref=X-A;subject=X-B` (the route file's cell): the names given replace the
    /// defaults, the others stay. Empty: all defaults.
    pub fn parse_list(text: &str) -> Result<Self, ValidationError> {
        let mut names = Self::default();
        for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || ValidationError::Conflicting {
                field: "x_header_names",
                reason: "write each name as ref=X-…, subject=X-…, whisper_code=X-… or \
                         subscriber=X-…, separated by ';'",
            };
            let (key, value) = pair.split_once('=').ok_or_else(bad)?;
            let value: XHeaderName = value.trim().parse()?;
            match key.trim() {
                "ref" => names.session_ref = value,
                "subject" => names.subject = value,
                "whisper_code" => names.whisper_code = value,
                "subscriber" => names.subscriber = value,
                _ => return Err(bad()),
            }
        }
        Ok(names)
    }
}

impl RouteContext {
    /// What a single field cannot say: a route has a fixed DNIS or a range, not both, and
    /// the `X-` header names are distinct (SIP header names compare without case).
    pub fn check(&self, fixed_dnis: bool) -> Result<(), ValidationError> {
        if fixed_dnis && self.dnis_range.is_some() {
            return Err(ValidationError::Conflicting {
                field: "dnis_range",
                reason: "a route has a fixed dnis or a dnis_range, not both; empty one of them",
            });
        }
        let names = self.x_header_names.all();
        for (i, a) in names.iter().enumerate() {
            if names[i + 1..]
                .iter()
                .any(|b| a.as_str().eq_ignore_ascii_case(b.as_str()))
            {
                return Err(ValidationError::Conflicting {
                    field: "x_header_names",
                    reason: "each x-header needs its own name; two are the same",
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_what_routes_did_before() {
        let context: RouteContext = serde_json::from_str("{}").expect("empty object");
        assert_eq!(context, RouteContext::default());
        assert!(context.uui && !context.x_headers && !context.dtmf_ref);
        assert_eq!(
            context.x_header_names.session_ref.as_str(),
            "X-Callbond-Ref"
        );
    }

    #[test]
    fn json_and_list_forms() {
        let context: RouteContext = serde_json::from_value(serde_json::json!({
            "dnis_range": "4700-4709", "uui": false, "x_headers": true,
            "x_header_names": {"ref": "X-Acme-Session"}, "dtmf_ref": true,
        }))
        .expect("valid");
        assert_eq!(context.dnis_range.as_ref().map(|r| r.len()), Some(10));
        assert_eq!(
            context.x_header_names.session_ref.as_str(),
            "X-Acme-Session"
        );
        assert_eq!(
            context.x_header_names.subject.as_str(),
            "X-Callbond-Subject"
        );
        assert_eq!(context.check(false), Ok(()));
        assert!(context.check(true).is_err(), "fixed dnis and a range");

        for (text, ok) in [
            ("", true),
            ("ref=X-A; subject=X-B", true),
            ("ref=X-A;", true),
            ("ref=Subject", false),
            ("page=X-P", false),
            ("X-A", false),
        ] {
            assert_eq!(XHeaderNames::parse_list(text).is_ok(), ok, "{text:?}");
        }
        let same = RouteContext {
            x_header_names: XHeaderNames::parse_list("ref=X-A;subject=x-a").expect("names"),
            ..RouteContext::default()
        };
        assert!(same.check(false).is_err(), "names differing only in case");
        for bad in [
            r#"{"x_header_names": {"ref": "X-A\r\nBYE"}}"#,
            r#"{"dnis_range": "4799-4700"}"#,
            r#"{"uui": "yes"}"#,
            r#"{"colour": 1}"#,
        ] {
            assert!(serde_json::from_str::<RouteContext>(bad).is_err(), "{bad}");
        }
    }
}
