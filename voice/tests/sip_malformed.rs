//! Garbage on the SIP port (random bytes, truncated and header-less requests, a huge datagram)
//! must not take the endpoint down: afterwards it still answers OPTIONS with 200 and Allow.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;

const TRUNCATED_INVITE: &[u8] = b"INVITE sip:+4930123456@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c";

fn send_garbage(target: std::net::SocketAddr) {
    let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind");
    let mut datagrams: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\xff\xfe garbage \r\n\r\n".to_vec(),
        TRUNCATED_INVITE.to_vec(),
        b"INVITE\r\n\r\n".to_vec(),
        b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n".to_vec(),
        b"BYE sip:x SIP/2.0\r\nVia: garbage\r\nCall-ID: \r\nCSeq: x BYE\r\n\r\n".to_vec(),
        vec![b'A'; 60_000],
        Vec::new(),
    ];
    // A pseudo-random blob, the same every run.
    let mut x: u32 = 0x1234_5678;
    datagrams.push(
        (0..1400)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect(),
    );
    for datagram in &datagrams {
        let _ = socket.send_to(datagram, target);
    }
}

#[tokio::test]
async fn garbage_does_not_stop_the_endpoint() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;
    send_garbage(voice.sip_addr());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let sipp = Sipp::uac("uac_options.xml", voice.sip_addr());
    sipp.assert_passed(Duration::from_secs(15)).await;

    // And once more over a plain socket, reading the answer ourselves.
    send_garbage(voice.sip_addr());
    // A tokio socket: a blocking read would stall the runtime our endpoint runs on.
    let socket = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("bind");
    let local = socket.local_addr().expect("local");
    let options = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-probe-1\r\n\
         From: <sip:probe@{local}>;tag=p1\r\nTo: <sip:{addr}>\r\nCall-ID: probe-1@test\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        addr = voice.sip_addr()
    );
    socket
        .send_to(options.as_bytes(), voice.sip_addr())
        .await
        .expect("send OPTIONS");
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer to OPTIONS within 5 s")
        .expect("receive");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    let allow = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("allow:"))
        .unwrap_or_default();
    for method in ["INVITE", "BYE", "CANCEL", "OPTIONS", "INFO"] {
        assert!(allow.contains(method), "Allow lacks {method}: {answer}");
    }
}
