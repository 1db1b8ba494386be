//! Requests outside any call get sensible answers: an in-dialog request (To tag) for a dialog we
//! do not have gets 481 (RFC 3261 §12.2.2), an unknown method outside a dialog gets 405 with
//! Allow (§8.2.1). A trunk that is not host:port is refused when the service starts.

mod common;

use std::time::Duration;

use common::*;

async fn ask(target: std::net::SocketAddr, request: &str) -> String {
    // A tokio socket: a blocking read would stall the runtime our endpoint runs on.
    let socket = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("bind");
    let local = socket.local_addr().expect("local");
    let text = request.replace("LOCAL", &local.to_string());
    socket.send_to(text.as_bytes(), target).await.expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 5 s")
        .expect("receive");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn unknown_dialog_and_unknown_method() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;

    let bye = "BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bK-stray-1\r\n\
               From: <sip:a@LOCAL>;tag=a1\r\nTo: <sip:b@127.0.0.1>;tag=nosuchdialog\r\n\
               Call-ID: stray-1@test\r\nCSeq: 5 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let answer = ask(voice.sip_addr(), bye).await;
    assert!(answer.starts_with("SIP/2.0 481"), "{answer}");

    let message = "MESSAGE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bK-stray-2\r\n\
                   From: <sip:a@LOCAL>;tag=a2\r\nTo: <sip:b@127.0.0.1>\r\n\
                   Call-ID: stray-2@test\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n\
                   Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
    let answer = ask(voice.sip_addr(), message).await;
    assert!(answer.starts_with("SIP/2.0 405"), "{answer}");
    assert!(
        answer
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("allow:") && l.contains("INVITE")),
        "{answer}"
    );
}

#[tokio::test]
async fn bad_trunk_target_fails_at_start() {
    let trunk = voice::Trunk {
        prefix: String::new(),
        target: "gw.example;lr".to_string(),
        transport: voice::Transport::Udp,
        username: None,
        password: None,
        from_domain: None,
        no_response_limit: voice::DEFAULT_NO_RESPONSE_LIMIT,
    };
    let config = voice::VoiceConfig {
        sip_listen: std::net::SocketAddr::new(LOOPBACK, 0),
        public_host: None,
        media: voice::MediaConfig::new(LOOPBACK, LOOPBACK, 30_000, 30_010),
        trunks: vec![trunk],
        user_agent: None,
        invite_journal: None,
    };
    let started = voice::Voice::start(config, tokio_util::sync::CancellationToken::new()).await;
    assert!(matches!(
        started,
        Err(voice::VoiceError::InvalidTrunkTarget { .. })
    ));
}
