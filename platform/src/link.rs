//! Signing and checking speak-to-agent links. A signature is HMAC-SHA256, keyed with the site's
//! link-signing secret, over the TAG1 fields in a fixed order, so a visitor cannot change the
//! subject, whisper code or number, nor extend the expiry. It knows nothing of HTTP or storage.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The TAG1 fields a signature covers, as they travel in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFields<'a> {
    pub sid: &'a str,
    pub sc: &'a str,
    pub wc: Option<&'a str>,
    pub tel: Option<&'a str>,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

impl SignedFields<'_> {
    /// The exact bytes that are signed: one `key=value` per line, absent fields empty. Lines
    /// cannot be forged by a field value because values that contain a newline never validate.
    fn message(&self) -> String {
        format!(
            "callbond-link-v1\nsid={}\nsc={}\nwc={}\ntel={}\nexp={}",
            self.sid,
            self.sc,
            self.wc.unwrap_or(""),
            self.tel.unwrap_or(""),
            self.exp
        )
    }
}

/// Why a link's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link has expired; go back to the page you came from and click the link again")]
    Expired,
    #[error(
        "this link has been altered or was not made for this site; go back to the page you came from and click the link again"
    )]
    BadSignature,
}

/// The `sig` value for these fields: lowercase hex of the HMAC.
pub fn sign(secret: &[u8], fields: &SignedFields<'_>) -> String {
    hex::encode(mac(secret, fields).finalize().into_bytes())
}

/// Checks `sig` for `fields` with `secret` and that `now` (Unix seconds) is before `exp`.
/// The comparison is constant-time (`Mac::verify_slice`).
pub fn verify(
    secret: &[u8],
    fields: &SignedFields<'_>,
    sig: &str,
    now: i64,
) -> Result<(), LinkError> {
    let Ok(given) = hex::decode(sig) else {
        return Err(LinkError::BadSignature);
    };
    mac(secret, fields)
        .verify_slice(&given)
        .map_err(|_| LinkError::BadSignature)?;
    if now >= fields.exp {
        return Err(LinkError::Expired);
    }
    Ok(())
}

fn mac(secret: &[u8], fields: &SignedFields<'_>) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(fields.message().as_bytes());
    mac
}

/// The query string of a signed speak-to-agent link (`sid=…&sc=…[&wc=…][&tel=…]&exp=…&sig=…`,
/// form-urlencoded so a `+` in `tel` survives), to append to `{public_base_url}/speak?`.
/// Absent optional fields are left out, not sent empty.
pub fn query_string(fields: &SignedFields<'_>, sig: &str) -> String {
    #[derive(serde::Serialize)]
    struct Query<'a> {
        sid: &'a str,
        sc: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        wc: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tel: Option<&'a str>,
        exp: i64,
        sig: &'a str,
    }
    let query = Query {
        sid: fields.sid,
        sc: fields.sc,
        wc: fields.wc,
        tel: fields.tel,
        exp: fields.exp,
        sig,
    };
    // A flat struct of strings and an integer always serializes.
    serde_urlencoded::to_string(&query).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn fields() -> SignedFields<'static> {
        SignedFields {
            sid: "acme",
            sc: "billing",
            wc: Some("CUST42"),
            tel: None,
            exp: 2_000,
        }
    }

    #[test]
    fn a_fresh_signature_verifies() {
        let sig = sign(SECRET, &fields());
        assert_eq!(sig.len(), 64);
        assert_eq!(verify(SECRET, &fields(), &sig, 1_999), Ok(()));
    }

    #[test]
    fn every_changed_field_breaks_the_signature() {
        let sig = sign(SECRET, &fields());
        let changed = [
            SignedFields {
                sid: "acmf",
                ..fields()
            },
            SignedFields {
                sc: "sales",
                ..fields()
            },
            SignedFields {
                wc: None,
                ..fields()
            },
            SignedFields {
                wc: Some("CUST43"),
                ..fields()
            },
            SignedFields {
                tel: Some("+15551234567"),
                ..fields()
            },
            SignedFields {
                exp: 2_001,
                ..fields()
            },
        ];
        for f in changed {
            assert_eq!(
                verify(SECRET, &f, &sig, 0),
                Err(LinkError::BadSignature),
                "{f:?}"
            );
        }
        assert_eq!(
            verify(b"another secret", &fields(), &sig, 0),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn expiry_and_garbage() {
        let sig = sign(SECRET, &fields());
        assert_eq!(
            verify(SECRET, &fields(), &sig, 2_000),
            Err(LinkError::Expired)
        );
        for bad in ["", "zz", "00", &sig[..63]] {
            assert_eq!(
                verify(SECRET, &fields(), bad, 0),
                Err(LinkError::BadSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn query_string_round_trips_and_keeps_the_plus() {
        let signed = SignedFields {
            tel: Some("+15551234567"),
            wc: Some("a b&c"),
            ..fields()
        };
        let sig = sign(SECRET, &signed);
        let query = query_string(&signed, &sig);
        assert!(query.contains("tel=%2B15551234567"), "{query}");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&query).expect("parses");
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (wc, tel) = (get("wc"), get("tel"));
        let parsed = SignedFields {
            sid: &get("sid").expect("sid"),
            sc: &get("sc").expect("sc"),
            wc: wc.as_deref(),
            tel: tel.as_deref(),
            exp: get("exp").expect("exp").parse().expect("number"),
        };
        assert_eq!(parsed, signed);
        assert_eq!(
            verify(SECRET, &parsed, &get("sig").expect("sig"), 0),
            Ok(())
        );
        let bare = query_string(&fields(), "00");
        assert_eq!(bare, "sid=acme&sc=billing&wc=CUST42&exp=2000&sig=00");
    }
}
