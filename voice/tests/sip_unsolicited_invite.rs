//! Somebody calls our SIP port. We are outbound-only: 403 Forbidden (SIPp's scenario fails on
//! anything else), and no INVITE leaves toward the trunk as a consequence.

mod common;

use std::time::Duration;

use common::*;
use voice::{Transport, Trunk};

#[tokio::test]
async fn unsolicited_invite_gets_403_and_no_call() {
    // The only trunk points at a socket we watch: any outbound SIP would land here.
    // A tokio socket: a blocking read would stall the runtime our endpoint runs on.
    let trap = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("trap socket");
    let trunk = Trunk {
        prefix: String::new(),
        target: trap.local_addr().expect("trap address").to_string(),
        transport: Transport::Udp,
        username: None,
        password: None,
        from_domain: None,
        no_response_limit: voice::DEFAULT_NO_RESPONSE_LIMIT,
    };
    let (voice, _shutdown) = start_voice(vec![trunk]).await;

    let sipp = Sipp::uac("uac_unsolicited_invite.xml", voice.sip_addr());
    sipp.assert_passed(Duration::from_secs(15)).await;

    let mut buf = [0u8; 2048];
    let got = tokio::time::timeout(Duration::from_secs(1), trap.recv_from(&mut buf)).await;
    if let Ok(received) = got {
        let text = received.map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned());
        panic!("an unsolicited INVITE made us send SIP to the trunk: {text:?}");
    }
}
