//! What every message we send says about us, applied as the last step before the wire: the
//! configured product token as `User-Agent` (requests) or `Server` (responses), or neither
//! header when none is configured. rsipstack puts its own `User-Agent` into every request and
//! response it builds; scanners use it as a fingerprint (issue 10), so it is always replaced.
//!
//! It also undoes the one change the receive path makes to a request: a From without a tag
//! (an RFC 2543 peer) is given [`RFC2543_FROM_TAG`] so the stack can key its transaction, and
//! the answer's From must be the request's own again (RFC 3261 §8.2.6.2).

use rsipstack::sip::{Header, SipMessage};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

use super::journal::InviteJournal;

/// The tag the receive path adds to a From that has none (RFC 3261 §12.3 / RFC 2543 peers). A
/// token no peer sends: our own tags are random hex.
pub(crate) const RFC2543_FROM_TAG: &str = "callbond-rfc2543-untagged";

/// The [`MessageInspector`] the endpoint runs on every message its transactions send; it
/// also journals each initial INVITE before it leaves, and each 2xx to an INVITE before the
/// stack sees it (see `journal`).
pub(crate) struct Identity {
    product: Option<String>,
    journal: Option<InviteJournal>,
}

impl Identity {
    pub(crate) fn new(product: Option<String>, journal: Option<InviteJournal>) -> Self {
        Self { product, journal }
    }
}

impl MessageInspector for Identity {
    fn before_send(&self, mut msg: SipMessage, _dest: Option<&SipAddr>) -> SipMessage {
        if let (Some(journal), SipMessage::Request(request)) = (&self.journal, &msg) {
            journal.record(request);
        }
        let is_request = matches!(msg, SipMessage::Request(_));
        let headers = match &mut msg {
            SipMessage::Request(r) => &mut r.headers,
            SipMessage::Response(r) => &mut r.headers,
        };
        headers.retain(|h| !is_identity_header(h));
        if let Some(product) = &self.product {
            // RFC 3261 §20.41: User-Agent describes the UAC; §20.35: Server the UAS.
            headers.push(if is_request {
                Header::UserAgent(product.clone().into())
            } else {
                Header::Server(product.clone().into())
            });
        }
        if !is_request {
            for h in headers.iter_mut() {
                if let Header::From(from) = h
                    && let Some(original) = untagged(from.value())
                {
                    *h = Header::From(original.into());
                }
            }
        }
        msg
    }

    fn after_received(&self, msg: SipMessage, from: Option<&SipAddr>) -> SipMessage {
        // The endpoint calls this with the sender on receipt, before any transaction sees the
        // message; a transaction calls it again without one as it hands a response up.
        if let (Some(journal), SipMessage::Response(response), Some(_)) =
            (&self.journal, &msg, from)
        {
            journal.record_answer(response);
        }
        msg
    }
}

fn is_identity_header(h: &Header) -> bool {
    match h {
        Header::UserAgent(_) | Header::Server(_) => true,
        Header::Other(name, _) => {
            name.eq_ignore_ascii_case("user-agent") || name.eq_ignore_ascii_case("server")
        }
        _ => false,
    }
}

/// The From value without the tag the receive path added, if it carries that tag.
fn untagged(from: &str) -> Option<String> {
    let suffix = format!(";tag={RFC2543_FROM_TAG}");
    from.strip_suffix(suffix.as_str()).map(str::to_owned)
}

/// The From value the stack is given for an untagged From.
pub(crate) fn tagged(from: &[u8]) -> Vec<u8> {
    let mut out = from.to_vec();
    out.extend_from_slice(b";tag=");
    out.extend_from_slice(RFC2543_FROM_TAG.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(extra: &str) -> SipMessage {
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag={RFC2543_FROM_TAG}\r\nTo: <sip:b@h>;tag=9\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        SipMessage::try_from(text.as_str()).expect("a valid response")
    }

    #[test]
    fn without_a_product_no_identity_header_leaves() {
        let sent = Identity::new(None, None).before_send(
            response("User-Agent: rsipstack\r\nServer: x\r\nserver: y\r\n"),
            None,
        );
        let text = sent.to_string().to_ascii_lowercase();
        assert!(!text.contains("user-agent"), "{text}");
        assert!(!text.contains("server"), "{text}");
    }

    #[test]
    fn a_product_is_the_server_of_a_response_and_the_added_tag_goes() {
        let sent = Identity::new(Some("Acme/1".into()), None)
            .before_send(response("User-Agent: rsipstack\r\n"), None)
            .to_string();
        assert!(sent.contains("Server: Acme/1\r\n"), "{sent}");
        assert!(!sent.contains("User-Agent"), "{sent}");
        assert!(sent.contains("From: <sip:a@h>\r\n"), "{sent}");
    }
}
