//! TAG1, the web context a speak-to-agent link carries (`sid`, `sc`, `wc`, `tel`, `exp`,
//! `sig`): parsed once from the query string into typed values, then checked against the
//! subscriber's sites — a valid signature from one of its sites' secrets, or an unsigned link
//! from a site that accepts them. Owns only parsing and the link check; preconditions and pages
//! live elsewhere.

use serde::Deserialize;
use subscriber_db::{Db, DbError, Origin, SubjectCode, SubscriberId, WhisperCode};

use crate::link::{self, LinkError, SignedFields};

#[cfg(test)]
mod proptests;

/// Longest `tel` we read: E.164 has at most 15 digits; room for spaces and punctuation.
const TEL_MAX_CHARS: usize = 32;

/// The query string as it arrives; every field optional so a missing one gets our sentence,
/// not a framework error. Unknown parameters (tracking tags) are ignored.
#[derive(Debug, Default, Deserialize)]
struct RawTag1 {
    sid: Option<String>,
    sc: Option<String>,
    wc: Option<String>,
    tel: Option<String>,
    exp: Option<String>,
    sig: Option<String>,
}

/// A parsed speak-to-agent link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag1 {
    pub(crate) sid: SubscriberId,
    pub(crate) sc: SubjectCode,
    pub(crate) wc: Option<WhisperCode>,
    /// The number the site suggests, as written; only a prefill, parsed when the user submits.
    pub(crate) tel: Option<String>,
    pub(crate) signature: Option<Signature>,
}

/// `exp` and `sig` of a signed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub(crate) exp: i64,
    pub(crate) sig: String,
}

/// Why a link was not accepted. Each maps to a page and a status in `speak`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Tag1Error {
    #[error(
        "this link is incomplete: it has no {0}; go back to the page you came from and use its call-back link"
    )]
    Missing(&'static str),
    #[error(
        "this link is damaged: its {field} is not valid ({reason}); go back to the page you came from and use its call-back link"
    )]
    Invalid { field: &'static str, reason: String },
    #[error(
        "we do not know this company or this subject; check the link or contact the company directly"
    )]
    Unknown,
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("this link is only accepted from the company's own web site; open it from there")]
    UnsignedNotAllowed,
    #[error(
        "this link claims to stay valid for {days} days, longer than the {max_days} days this company allows; go back to the page you came from for a fresh link"
    )]
    LivesTooLong { days: i64, max_days: i64 },
    #[error("the service could not check this link right now; please try again in a moment")]
    Database,
}

impl Tag1 {
    /// Refuses a signed link whose expiry lies more than `max_secs` after `now_unix` (issue
    /// 10: a link with an expiry ten years away was accepted). Unsigned links carry no expiry.
    pub(crate) fn check_lifetime(&self, now_unix: i64, max_secs: u32) -> Result<(), Tag1Error> {
        let Some(signature) = &self.signature else {
            return Ok(());
        };
        let left = i128::from(signature.exp) - i128::from(now_unix);
        if left > i128::from(max_secs) {
            let days = i64::try_from(left / 86_400).unwrap_or(i64::MAX);
            let max_days = i64::from(max_secs) / 86_400;
            return Err(Tag1Error::LivesTooLong { days, max_days });
        }
        Ok(())
    }

    /// Parses the query string of `GET /speak`.
    pub(crate) fn parse(query: &str) -> Result<Self, Tag1Error> {
        let raw: RawTag1 = serde_urlencoded::from_str(query).map_err(|e| Tag1Error::Invalid {
            field: "query",
            reason: e.to_string(),
        })?;
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let sid = nonempty(raw.sid).ok_or(Tag1Error::Missing("company id (sid)"))?;
        let sc = nonempty(raw.sc).ok_or(Tag1Error::Missing("subject code (sc)"))?;
        let invalid = |field: &'static str| {
            move |e: subscriber_db::ValidationError| Tag1Error::Invalid {
                field,
                reason: e.to_string(),
            }
        };
        let sid: SubscriberId = sid.parse().map_err(invalid("company id (sid)"))?;
        let sc: SubjectCode = sc.parse().map_err(invalid("subject code (sc)"))?;
        let wc = nonempty(raw.wc)
            .map(|w| w.parse::<WhisperCode>())
            .transpose()
            .map_err(invalid("reference code (wc)"))?;
        // In a query string `+` means space (WHATWG URL, application/x-www-form-urlencoded),
        // so a site that writes `tel=+1555…` unencoded sends " 1555…". A number never starts
        // with a space: read it as the `+` that was meant (and signed).
        let tel = nonempty(raw.tel).map(|t| match t.strip_prefix(' ') {
            Some(rest) => format!("+{rest}"),
            None => t,
        });
        if let Some(t) = &tel
            && (t.chars().count() > TEL_MAX_CHARS || t.chars().any(char::is_control))
        {
            return Err(Tag1Error::Invalid {
                field: "phone number (tel)",
                reason: format!("at most {TEL_MAX_CHARS} characters of a phone number"),
            });
        }
        let signature = match (nonempty(raw.exp), nonempty(raw.sig)) {
            (None, None) => None,
            (Some(exp), Some(sig)) => {
                let exp = exp.parse::<i64>().map_err(|_| Tag1Error::Invalid {
                    field: "expiry (exp)",
                    reason: "not a number of seconds".to_owned(),
                })?;
                Some(Signature { exp, sig })
            }
            (Some(_), None) => return Err(Tag1Error::Missing("signature (sig)")),
            (None, Some(_)) => return Err(Tag1Error::Missing("expiry (exp)")),
        };
        Ok(Tag1 {
            sid,
            sc,
            wc,
            tel,
            signature,
        })
    }

    fn signed_fields(&self, exp: i64) -> SignedFields<'_> {
        SignedFields {
            sid: self.sid.as_str(),
            sc: self.sc.as_str(),
            wc: self.wc.as_ref().map(WhisperCode::as_str),
            tel: self.tel.as_deref(),
            exp,
        }
    }

    /// Checks that the subscriber and the subject exist, and that the link is signed by one of
    /// the subscriber's sites (or unsigned from a site that accepts that). Blocking: database.
    ///
    /// `origin` is where the browser came from (`Origin`, else the origin of `Referer`).
    pub(crate) fn check(
        &self,
        db: &Db,
        origin: Option<&Origin>,
        now_unix: i64,
    ) -> Result<(), Tag1Error> {
        let db_error = |e: DbError| match e {
            DbError::NotFound { .. } => Tag1Error::Unknown,
            other => {
                tracing::error!(error = %other, "database error while checking a link");
                Tag1Error::Database
            }
        };
        db.get_subscriber(&self.sid).map_err(db_error)?;
        db.get_route(&self.sid, &self.sc).map_err(db_error)?;
        match &self.signature {
            Some(s) => self.check_signature(db, s, now_unix),
            None => {
                let origin = origin.ok_or(Tag1Error::UnsignedNotAllowed)?;
                match db.find_site_for_origin(&self.sid, origin) {
                    Ok(site) if site.accept_unsigned => Ok(()),
                    Ok(_) | Err(DbError::NotFound { .. }) => Err(Tag1Error::UnsignedNotAllowed),
                    Err(other) => Err(db_error(other)),
                }
            }
        }
    }

    /// A subscriber has few sites; the link does not say which one signed it, so try each.
    /// An expiry is reported only for a signature that is otherwise genuine.
    fn check_signature(&self, db: &Db, s: &Signature, now_unix: i64) -> Result<(), Tag1Error> {
        let sites = db.list_sites(&self.sid).map_err(|e| {
            tracing::error!(error = %e, "database error while listing sites");
            Tag1Error::Database
        })?;
        let fields = self.signed_fields(s.exp);
        let mut result = Err(Tag1Error::Link(LinkError::BadSignature));
        for site in sites {
            let secret = match db.get_site_secret(&self.sid, site.id) {
                Ok(secret) => secret,
                Err(DbError::NotFound { .. }) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "database error while reading a site secret");
                    return Err(Tag1Error::Database);
                }
            };
            match link::verify(secret.as_bytes(), &fields, &s.sig, now_unix) {
                Ok(()) => return Ok(()),
                Err(LinkError::Expired) => result = Err(Tag1Error::Link(LinkError::Expired)),
                Err(LinkError::BadSignature) => {}
            }
        }
        result
    }
}

/// The origin a request came from: the `Origin` header, else the scheme, host and port of
/// `Referer` (RFC 6454 §7; browsers send at least the origin cross-site by default).
pub(crate) fn request_origin(origin: Option<&str>, referer: Option<&str>) -> Option<Origin> {
    if let Some(o) = origin.filter(|o| *o != "null")
        && let Ok(parsed) = o.parse()
    {
        return Some(parsed);
    }
    let referer = referer?;
    let (scheme, rest) = referer.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    format!("{scheme}://{authority}").parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_signed_link() {
        let t = Tag1::parse("sid=acme&sc=billing&wc=C42&tel=%2B15551234567&exp=99&sig=ab&utm=x")
            .unwrap();
        assert_eq!(t.sid.as_str(), "acme");
        assert_eq!(t.sc.as_str(), "billing");
        assert_eq!(t.wc.unwrap().as_str(), "C42");
        assert_eq!(t.tel.as_deref(), Some("+15551234567"));
        assert_eq!(
            t.signature,
            Some(Signature {
                exp: 99,
                sig: "ab".to_owned()
            })
        );
    }

    #[test]
    fn an_unencoded_plus_in_tel_is_read_as_plus() {
        for query in [
            "sid=a&sc=b&tel=+15551234567",
            "sid=a&sc=b&tel=%2B15551234567",
        ] {
            let t = Tag1::parse(query).unwrap();
            assert_eq!(t.tel.as_deref(), Some("+15551234567"), "{query}");
        }
    }

    #[test]
    fn refuses_broken_links_with_the_field_named() {
        let cases = [
            ("sc=billing", "sid"),
            ("sid=acme", "sc"),
            ("sid=ACME!&sc=b", "sid"),
            ("sid=acme&sc=bad%20code", "sc"),
            ("sid=acme&sc=b&exp=10", "sig"),
            ("sid=acme&sc=b&sig=00", "exp"),
            ("sid=acme&sc=b&exp=soon&sig=00", "exp"),
            ("sid=acme&sc=b&tel=%0A1", "tel"),
            ("sid=acme&sc=b&wc=%3Cscript%3E", "wc"),
        ];
        for (query, field) in cases {
            let err = Tag1::parse(query).unwrap_err().to_string();
            assert!(err.contains(field), "{query}: {err}");
        }
    }

    #[test]
    fn any_query_string_gives_a_link_or_a_sentence() {
        // Query strings from anyone: random bytes around the real field names.
        let pieces = [
            "sid=",
            "sc=",
            "wc=",
            "tel=",
            "exp=",
            "sig=",
            "&",
            "=",
            "%",
            "%2B",
            "%00",
            "+",
            "acme",
            "billing",
            "-1",
            "99999999999999999999",
            "é",
            "\u{0}",
            ";",
            "%ZZ",
            "",
        ];
        for _ in 0..20_000 {
            let n = rand::random_range(0..12);
            let query: String = (0..n)
                .map(|_| pieces[rand::random_range(0..pieces.len())])
                .collect();
            match Tag1::parse(&query) {
                Ok(t) => assert!(!t.sid.as_str().is_empty() && !t.sc.as_str().is_empty()),
                Err(e) => assert!(e.to_string().ends_with("link"), "{query:?}: {e}"),
            }
        }
    }

    #[test]
    fn origin_from_headers() {
        let cases = [
            (
                Some("https://shop.example"),
                None,
                Some("https://shop.example"),
            ),
            (
                Some("null"),
                Some("http://a.example:8080/x?y"),
                Some("http://a.example:8080"),
            ),
            (
                None,
                Some("https://Shop.Example/page#f"),
                Some("https://shop.example"),
            ),
            (None, Some("not a url"), None),
            (None, None, None),
        ];
        for (origin, referer, want) in cases {
            let got = request_origin(origin, referer);
            assert_eq!(
                got.as_ref().map(Origin::as_str),
                want,
                "{origin:?} {referer:?}"
            );
        }
    }
}
