//! A leg's [`DialogSnapshot`] read off the messages rsipstack sent and received: the INVITE
//! (once more after a digest challenge, which changes its CSeq and branch) and the 2xx. Pure
//! functions from messages to values; nothing here sends or stores.

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Request, Response};

use crate::config::Transport;
use crate::record::DialogSnapshot;

/// The INVITE's half of the snapshot. `None` if a header the stack always writes is missing.
pub(crate) fn from_invite(invite: &Request, transport: Transport) -> Option<DialogSnapshot> {
    let via = invite.top_via_header().ok()?.typed().ok()?;
    Some(DialogSnapshot {
        call_id: invite.call_id_header().ok()?.value().to_owned(),
        from: invite.from_header().ok()?.value().to_owned(),
        to: invite.to_header().ok()?.value().to_owned(),
        remote_tag: None,
        request_uri: invite.uri.to_string(),
        cseq: invite.cseq_header().ok()?.seq().ok()?,
        via_branch: via.branch()?.to_string(),
        via_sent_by: via.sent_by().to_string(),
        transport,
        // Where the stack sends it without a Route header: the Request-URI's host and port.
        destination: invite.destination().host_with_port.to_string(),
        remote_target: None,
        route_set: Vec::new(),
    })
}

/// Takes the CSeq and top Via of the INVITE as last sent; true when they changed (the stack
/// answered a 401/407 with a new INVITE: new CSeq, RFC 3261 §22.2, and new branch, §8.1.1.7).
pub(crate) fn refresh_invite(snapshot: &mut DialogSnapshot, invite: &Request) -> bool {
    let Some(fresh) = from_invite(invite, snapshot.transport) else {
        return false;
    };
    let changed = (fresh.cseq, &fresh.via_branch) != (snapshot.cseq, &snapshot.via_branch);
    if changed {
        snapshot.cseq = fresh.cseq;
        snapshot.via_branch = fresh.via_branch;
        snapshot.via_sent_by = fresh.via_sent_by;
    }
    changed
}

/// The 2xx's half: the far end's tag, its Contact as the remote target and the route set,
/// Record-Route in reverse order (RFC 3261 §12.1.2).
pub(crate) fn apply_answer(snapshot: &mut DialogSnapshot, answer: &Response) {
    snapshot.remote_tag = answer
        .to_header()
        .ok()
        .and_then(|to| to.tag().ok().flatten())
        .map(|tag| tag.value().to_owned());
    snapshot.remote_target = answer
        .contact_header()
        .ok()
        .and_then(|contact| contact.typed().ok())
        .map(|contact| contact.uri.to_string());
    snapshot.route_set = answer
        .typed_record_route_headers()
        .unwrap_or_default()
        .iter()
        .rev()
        .map(ToString::to_string)
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+4930555000@127.0.0.1:5070 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfirst;rport\r\n\
        Call-ID: 8f2c@127.0.0.1\r\n\
        From: <sip:+4940123@127.0.0.1>;tag=ours1\r\n\
        To: <sip:+4930555000@127.0.0.1:5070>\r\n\
        CSeq: 7 INVITE\r\n\
        Max-Forwards: 70\r\n\
        Content-Length: 0\r\n\r\n";

    fn invite(text: &str) -> Request {
        Request::try_from(text).expect("test INVITE parses")
    }

    #[test]
    fn the_invite_gives_what_a_cancel_repeats() {
        let snapshot = from_invite(&invite(INVITE), Transport::Udp).expect("snapshot");
        assert_eq!(
            snapshot,
            DialogSnapshot {
                call_id: "8f2c@127.0.0.1".into(),
                from: "<sip:+4940123@127.0.0.1>;tag=ours1".into(),
                to: "<sip:+4930555000@127.0.0.1:5070>".into(),
                remote_tag: None,
                request_uri: "sip:+4930555000@127.0.0.1:5070".into(),
                cseq: 7,
                via_branch: "z9hG4bKfirst".into(),
                via_sent_by: "127.0.0.1:5060".into(),
                transport: Transport::Udp,
                destination: "127.0.0.1:5070".into(),
                remote_target: None,
                route_set: Vec::new(),
            }
        );
    }

    #[test]
    fn an_invite_sent_again_after_a_challenge_moves_cseq_and_branch() {
        let mut snapshot = from_invite(&invite(INVITE), Transport::Udp).expect("snapshot");
        assert!(!refresh_invite(&mut snapshot, &invite(INVITE)));
        let again = INVITE
            .replace("z9hG4bKfirst", "z9hG4bKsecond")
            .replace("7 INVITE", "8 INVITE");
        assert!(refresh_invite(&mut snapshot, &invite(&again)));
        assert_eq!(
            (snapshot.cseq, snapshot.via_branch.as_str()),
            (8, "z9hG4bKsecond")
        );
        assert_eq!(snapshot.from, "<sip:+4940123@127.0.0.1>;tag=ours1");
    }

    #[test]
    fn the_2xx_gives_tag_remote_target_and_reversed_route_set() {
        let mut snapshot = from_invite(&invite(INVITE), Transport::Udp).expect("snapshot");
        let ok = "SIP/2.0 200 OK\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfirst;rport\r\n\
            Record-Route: <sip:p3.example;lr>, <sip:p2.example;lr>\r\n\
            Record-Route: <sip:p1.example;lr>\r\n\
            Call-ID: 8f2c@127.0.0.1\r\n\
            From: <sip:+4940123@127.0.0.1>;tag=ours1\r\n\
            To: <sip:+4930555000@127.0.0.1:5070>;tag=theirs9\r\n\
            CSeq: 7 INVITE\r\n\
            Contact: <sip:phone@192.0.2.4:5062;transport=tcp>\r\n\
            Content-Length: 0\r\n\r\n";
        apply_answer(&mut snapshot, &Response::try_from(ok).expect("2xx parses"));
        assert_eq!(snapshot.remote_tag.as_deref(), Some("theirs9"));
        assert_eq!(
            snapshot.remote_target.as_deref(),
            Some("sip:phone@192.0.2.4:5062;transport=TCP")
        );
        assert_eq!(
            snapshot.route_set,
            [
                "<sip:p1.example;lr>",
                "<sip:p2.example;lr>",
                "<sip:p3.example;lr>"
            ]
        );
    }

    #[test]
    fn a_2xx_without_contact_or_record_route_leaves_them_empty() {
        let mut snapshot = from_invite(&invite(INVITE), Transport::Udp).expect("snapshot");
        let ok = "SIP/2.0 200 OK\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfirst\r\n\
            Call-ID: 8f2c@127.0.0.1\r\n\
            From: <sip:+4940123@127.0.0.1>;tag=ours1\r\n\
            To: <sip:+4930555000@127.0.0.1:5070>;tag=t\r\n\
            CSeq: 7 INVITE\r\n\
            Content-Length: 0\r\n\r\n";
        apply_answer(&mut snapshot, &Response::try_from(ok).expect("2xx parses"));
        assert_eq!(snapshot.remote_tag.as_deref(), Some("t"));
        assert_eq!(snapshot.remote_target, None);
        assert!(snapshot.route_set.is_empty());
    }
}
