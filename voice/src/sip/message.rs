//! SIP message content as pure functions: the headers an outbound INVITE carries beyond the
//! stack's own, the INFO `application/dtmf-relay` body, and which [`EndCause`] a final status
//! means. No I/O here.

use rsipstack::sip::Header;
use words::DtmfKey;

use crate::error::VoiceError;
use crate::leg::EndCause;

/// Why we ended an unanswered INVITE ourselves, which decides what its 487 means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelReason {
    RingTimeout,
    Local,
}

/// The cause a final non-2xx response to our INVITE stands for.
pub(crate) fn end_cause_for_status(code: u16, cancelled: Option<CancelReason>) -> EndCause {
    match (code, cancelled) {
        // RFC 3261 §9.1: a cancelled INVITE ends with 487 Request Terminated.
        (487, Some(CancelReason::RingTimeout)) => EndCause::NoAnswer,
        (487, Some(CancelReason::Local)) => EndCause::Cancelled,
        (486 | 600, _) => EndCause::Busy,
        (408 | 480, _) => EndCause::NoAnswer,
        (code, _) => EndCause::Rejected(code),
    }
}

/// Headers for an outbound INVITE from the request's optional parts.
pub(crate) struct InviteHeaders<'a> {
    pub(crate) host: &'a str,
    pub(crate) p_asserted_identity: Option<&'a str>,
    pub(crate) user_to_user: Option<&'a [u8]>,
    pub(crate) extra: &'a [(String, String)],
}

impl InviteHeaders<'_> {
    pub(crate) fn build(&self) -> Result<Vec<Header>, VoiceError> {
        let mut headers = Vec::with_capacity(self.extra.len() + 2);
        if let Some(pai) = self.p_asserted_identity {
            super::trunk::check_user("P-Asserted-Identity", pai)?;
            // RFC 3325 §9.1: a name-addr; the angle brackets are required with a URI.
            headers.push(Header::PAssertedIdentity(
                format!("<sip:{pai}@{}>", self.host).into(),
            ));
        }
        if let Some(uui) = self.user_to_user {
            // RFC 7433 §4.1: hex-encoded data with the encoding parameter.
            headers.push(Header::UserToUser(
                format!("{};encoding=hex", hex::encode(uui)).into(),
            ));
        }
        for (name, value) in self.extra {
            if !is_token(name) || !is_header_value(value) {
                return Err(VoiceError::InvalidHeader { name: name.clone() });
            }
            headers.push(rsipstack::sip::headers::make_header(name, value.clone()));
        }
        Ok(headers)
    }
}

/// RFC 3261 §25.1 token: the characters a header name may use.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// One line of visible text: no CR, LF or other controls that would split the message.
fn is_header_value(value: &str) -> bool {
    value.chars().all(|c| c == '\t' || !c.is_control())
}

/// The key in an `application/dtmf-relay` body (`Signal=5\r\nDuration=160`). There is no RFC
/// for this format; common practice also sends events 10 and 11 for `*` and `#`.
pub(crate) fn parse_dtmf_relay(body: &[u8]) -> Option<DtmfKey> {
    let text = std::str::from_utf8(body).ok()?;
    let value = text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("signal")
            .then(|| value.trim())
    })?;
    match value {
        // RFC 4733 §3.2 event codes, the only two multi-character values seen in practice.
        "10" => DtmfKey::from_event(10),
        "11" => DtmfKey::from_event(11),
        _ => {
            let mut chars = value.chars();
            match (chars.next(), chars.next()) {
                // `from_char` reads `a`-`d` as `A`-`D`: switches send either case.
                (Some(key), None) => DtmfKey::from_char(key),
                _ => None,
            }
        }
    }
}

/// Whether a Content-Type value names `wanted`, ignoring case and parameters.
pub(crate) fn content_type_is(value: &str, wanted: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_status_to_cause() {
        let table = [
            (486, None, EndCause::Busy),
            (600, None, EndCause::Busy),
            (408, None, EndCause::NoAnswer),
            (480, None, EndCause::NoAnswer),
            (487, Some(CancelReason::RingTimeout), EndCause::NoAnswer),
            (487, Some(CancelReason::Local), EndCause::Cancelled),
            (487, None, EndCause::Rejected(487)),
            (404, None, EndCause::Rejected(404)),
            (503, None, EndCause::Rejected(503)),
            (603, None, EndCause::Rejected(603)),
            (401, None, EndCause::Rejected(401)),
        ];
        for (code, cancelled, want) in table {
            assert_eq!(end_cause_for_status(code, cancelled), want, "{code}");
        }
    }

    #[test]
    fn dtmf_relay_bodies() {
        let table: [(&[u8], Option<char>); 12] = [
            (b"Signal=5\r\nDuration=160\r\n", Some('5')),
            (b"Signal= 9\nDuration= 100", Some('9')),
            (b"signal=#\r\n", Some('#')),
            (b"Signal=*", Some('*')),
            (b"Signal=10", Some('*')),
            (b"Signal=11", Some('#')),
            (b"Signal=a", Some('A')),
            (b"Duration=160", None),
            (b"Signal=", None),
            (b"Signal=55", None),
            (b"Signal=x", None),
            (b"\xff\xfe", None),
        ];
        for (body, want) in table {
            assert_eq!(
                parse_dtmf_relay(body).map(DtmfKey::as_char),
                want,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn invite_headers_carry_pai_uui_and_extras() {
        let extra = vec![("X-Session".to_string(), "abc 1".to_string())];
        let headers = InviteHeaders {
            host: "10.0.0.5",
            p_asserted_identity: Some("+4930123"),
            user_to_user: Some(b"wc=42"),
            extra: &extra,
        }
        .build()
        .expect("valid test input");
        let text: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        assert_eq!(
            text,
            [
                "P-Asserted-Identity: <sip:+4930123@10.0.0.5>",
                "User-to-User: 77633d3432;encoding=hex",
                "X-Session: abc 1",
            ]
        );
    }

    #[test]
    fn header_injection_is_refused() {
        let cases = [
            ("X-A", "ok\r\nBYE sip:x SIP/2.0"),
            ("X A", "v"),
            ("", "v"),
            ("X-A:", "v"),
        ];
        for (name, value) in cases {
            let extra = vec![(name.to_string(), value.to_string())];
            let result = InviteHeaders {
                host: "h",
                p_asserted_identity: None,
                user_to_user: None,
                extra: &extra,
            }
            .build();
            assert!(
                matches!(result, Err(VoiceError::InvalidHeader { .. })),
                "{name:?}"
            );
        }
        let bad_pai = InviteHeaders {
            host: "h",
            p_asserted_identity: Some("x>;evil"),
            user_to_user: None,
            extra: &[],
        }
        .build();
        assert!(bad_pai.is_err());
    }

    #[test]
    fn content_types() {
        assert!(content_type_is(
            "application/dtmf-relay",
            "application/dtmf-relay"
        ));
        assert!(content_type_is(
            "Application/DTMF-Relay; charset=x",
            "application/dtmf-relay"
        ));
        assert!(!content_type_is(
            "application/sdp",
            "application/dtmf-relay"
        ));
    }
}
