//! The SIP edge answers like a conformant UAS (RFC 3261 §8.2, issue 10): a CSeq method that
//! does not match the request's gets 400, a `Require` naming extensions gets 420 with them in
//! `Unsupported`, an unsupported Request-URI scheme gets 416, and a well-formed request after
//! them is still answered. SIPp's scenario fails on any other answer. `uac_edge.xml` does the
//! same for what rsipstack's parser rejects (answered by voice's receive path): 501, 505, 400
//! with its reason, and an RFC 2543 From without tag answered with that From.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn malformed_and_unsupported_requests_get_the_rfc_answers() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;
    let sipp = Sipp::uac("uac_conformance.xml", voice.sip_addr());
    sipp.assert_passed(Duration::from_secs(20)).await;
}

/// The answers rsipstack's parser used to make impossible (501, 505, 400 with its reason, a
/// From without tag answered), over UDP and over one TCP connection that stays open throughout.
#[tokio::test]
async fn what_the_stack_cannot_parse_is_answered_over_udp_and_tcp() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;
    let udp = Sipp::uac("uac_edge.xml", voice.sip_addr());
    let tcp = Sipp::uac_tcp("uac_edge.xml", voice.sip_addr());
    udp.assert_passed(Duration::from_secs(20)).await;
    tcp.assert_passed(Duration::from_secs(20)).await;
}
