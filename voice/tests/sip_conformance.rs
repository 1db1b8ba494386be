//! The SIP edge answers like a conformant UAS (RFC 3261 §8.2, issue 10): a CSeq method that
//! does not match the request's gets 400, a `Require` naming extensions gets 420 with them in
//! `Unsupported`, an unsupported Request-URI scheme gets 416, and a well-formed request after
//! them is still answered. SIPp's scenario fails on any other answer.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn malformed_and_unsupported_requests_get_the_rfc_answers() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;
    let sipp = Sipp::uac("uac_conformance.xml", voice.sip_addr());
    sipp.assert_passed(Duration::from_secs(20)).await;
}
