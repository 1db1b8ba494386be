//! The Welcome form's protection against cross-site request forgery and tampering.
//!
//! Scheme (double-submit cookie, signed): `GET /speak` sets a random `cb_form` cookie
//! (HttpOnly, SameSite=Lax) and puts the checked link context (subscriber, subject, whisper
//! code, suggested number, the page the user came from, issue time) into hidden fields with
//! `csrf` = HMAC-SHA256(server key, cookie ‖ context). A forged POST from another site has
//! neither the cookie value nor the key, so it cannot produce a matching token; a user cannot
//! change the subject or whisper code in the hidden fields. The key is random per process:
//! a form shown before a restart is refused with a sentence asking to reload it.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The cookie that binds a form to the browser it was shown in.
pub(crate) const COOKIE_NAME: &str = "cb_form";

/// The server's form-signing key.
pub(crate) struct FormKey([u8; 32]);

/// What the Welcome page hands itself through the browser. Strings as they were checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct FormContext {
    pub(crate) sid: String,
    pub(crate) sc: String,
    #[serde(default)]
    pub(crate) wc: Option<String>,
    #[serde(default)]
    pub(crate) page: Option<String>,
    /// Unix seconds when the form was shown.
    pub(crate) iat: i64,
}

/// Why a submitted form was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormError {
    #[error(
        "this form is missing its security token or cookie; open the call-back link again from the company's page (and allow cookies for this site)"
    )]
    Missing,
    #[error(
        "this form does not belong to this browser or was changed; open the call-back link again from the company's page"
    )]
    Mismatch,
    #[error("this form is too old; open the call-back link again from the company's page")]
    Expired,
}

impl FormKey {
    pub(crate) fn random() -> Self {
        FormKey(rand::random())
    }

    /// The `csrf` value for this browser's cookie and this context.
    pub(crate) fn token(&self, cookie: &str, ctx: &FormContext) -> String {
        hex::encode(self.mac(cookie, ctx).finalize().into_bytes())
    }

    /// Checks a submitted form: cookie and token present, token matches, not older than
    /// `ttl_secs` (and not from the future beyond a little clock slack).
    pub(crate) fn verify(
        &self,
        cookie: Option<&str>,
        ctx: &FormContext,
        token: Option<&str>,
        now_unix: i64,
        ttl_secs: i64,
    ) -> Result<(), FormError> {
        let (Some(cookie), Some(token)) = (cookie, token) else {
            return Err(FormError::Missing);
        };
        let given = hex::decode(token).map_err(|_| FormError::Mismatch)?;
        self.mac(cookie, ctx)
            .verify_slice(&given)
            .map_err(|_| FormError::Mismatch)?;
        // In i128: `iat` and the clock are any i64, and the differences must not overflow.
        let age = i128::from(now_unix) - i128::from(ctx.iat);
        if age > i128::from(ttl_secs) || -age > 60 {
            return Err(FormError::Expired);
        }
        Ok(())
    }

    /// The `csrf` value of a form that acts on a running session (the Connect page's cancel
    /// button): bound to the session, so a request forged elsewhere, which does not know it,
    /// cannot end a visitor's call.
    pub(crate) fn session_token(&self, session: &str) -> String {
        hex::encode(self.session_mac(session).finalize().into_bytes())
    }

    /// Whether `token` is [`FormKey::session_token`] of `session`.
    pub(crate) fn verify_session_token(&self, session: &str, token: &str) -> bool {
        hex::decode(token).is_ok_and(|given| self.session_mac(session).verify_slice(&given).is_ok())
    }

    fn session_mac(&self, session: &str) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for part in ["callbond-session-v1", session] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    fn mac(&self, cookie: &str, ctx: &FormContext) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Length-prefixed fields: no value can shift bytes into its neighbour.
        for part in [
            "callbond-form-v1",
            cookie,
            &ctx.sid,
            &ctx.sc,
            ctx.wc.as_deref().unwrap_or("\u{0}"),
            ctx.page.as_deref().unwrap_or("\u{0}"),
            &ctx.iat.to_string(),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }
}

/// A fresh cookie value: 128 random bits, hex.
pub(crate) fn new_cookie_value() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// How long a browser keeps the form cookie: a day past the form's own lifetime. The cookie
/// only ties a form to its browser; were it to expire with the form, a visitor who comes back
/// to an old form would be told to allow cookies instead of "this form is too old".
pub(crate) fn cookie_max_age(form_ttl_secs: u32) -> i64 {
    i64::from(form_ttl_secs) + 86_400
}

/// The `Set-Cookie` header value for `value`; `secure` when browsers reach us over https.
pub(crate) fn set_cookie(value: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}={value}; Path=/speak; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"
    )
}

/// This browser's form cookie, if it sent a well-formed one.
pub(crate) fn read_cookie(headers: &HeaderMap) -> Option<String> {
    crate::http::cookie(headers, COOKIE_NAME)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::COOKIE;

    fn ctx() -> FormContext {
        FormContext {
            sid: "acme".into(),
            sc: "billing".into(),
            wc: Some("C1".into()),
            page: None,
            iat: 1_000,
        }
    }

    #[test]
    fn a_token_verifies_only_with_its_cookie_and_context() {
        let key = FormKey::random();
        let cookie = new_cookie_value();
        let token = key.token(&cookie, &ctx());
        assert_eq!(
            key.verify(Some(&cookie), &ctx(), Some(&token), 1_010, 60),
            Ok(())
        );
        let other_cookie = new_cookie_value();
        let changed = [
            FormContext {
                sc: "sales".into(),
                ..ctx()
            },
            FormContext { wc: None, ..ctx() },
            FormContext {
                page: Some("x".into()),
                ..ctx()
            },
            FormContext {
                iat: 1_001,
                ..ctx()
            },
        ];
        for c in changed {
            assert_eq!(
                key.verify(Some(&cookie), &c, Some(&token), 1_010, 60),
                Err(FormError::Mismatch)
            );
        }
        assert_eq!(
            key.verify(Some(&other_cookie), &ctx(), Some(&token), 1_010, 60),
            Err(FormError::Mismatch)
        );
        assert_eq!(
            FormKey::random().verify(Some(&cookie), &ctx(), Some(&token), 1_010, 60),
            Err(FormError::Mismatch)
        );
        assert_eq!(
            key.verify(None, &ctx(), Some(&token), 1_010, 60),
            Err(FormError::Missing)
        );
        assert_eq!(
            key.verify(Some(&cookie), &ctx(), None, 1_010, 60),
            Err(FormError::Missing)
        );
        assert_eq!(
            key.verify(Some(&cookie), &ctx(), Some(&token), 1_061, 60),
            Err(FormError::Expired)
        );
    }

    #[test]
    fn reads_only_a_well_formed_cookie() {
        let good = "0123456789abcdef0123456789abcdef";
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; cb_form={good}; c=d")).unwrap(),
        );
        assert_eq!(read_cookie(&headers).as_deref(), Some(good));
        headers.insert(COOKIE, HeaderValue::from_static("cb_form=<x>"));
        assert_eq!(read_cookie(&headers), None);
    }
}
