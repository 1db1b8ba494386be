//! Trunks that do not work end as Timeout at the ring timeout, without waiting 64·T1: one that
//! never answers (silent UDP socket) and one that refuses the TCP connection.

mod common;

use std::time::{Duration, Instant};

use common::*;
use voice::{EndCause, Transport, Trunk};

fn trunk(target: String, transport: Transport) -> Trunk {
    Trunk {
        prefix: String::new(),
        target,
        transport,
        username: None,
        password: None,
        from_domain: None,
    }
}

#[tokio::test]
async fn silent_trunk_times_out_at_the_ring_timeout() {
    let silent = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("silent peer");
    let target = silent.local_addr().expect("address").to_string();
    let (voice, _shutdown) = start_voice(vec![trunk(target, Transport::Udp)]).await;

    let started = Instant::now();
    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_millis(1200)))
        .await
        .expect("originate");
    let (before, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Timeout, "events {before:?}");
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(1200)..Duration::from_secs(5)).contains(&took),
        "ended after {took:?}"
    );
    // The INVITE did go out, and was retransmitted (RFC 3261 §17.1.1.2 Timer A).
    let mut buf = [0u8; 4096];
    let (n, _) = silent.recv_from(&mut buf).await.expect("an INVITE arrived");
    assert!(
        buf[..n].starts_with(b"INVITE sip:7001@"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

/// rsipstack treats a failed connect like a lost datagram (it retries until Timer B), so a
/// refused TCP connection looks like silence: the leg ends at the ring timeout as Timeout.
#[tokio::test]
async fn refused_tcp_connection_ends_at_the_ring_timeout() {
    let closed = free_udp_port(); // nothing listens on TCP there either
    let (voice, _shutdown) =
        start_voice(vec![trunk(format!("127.0.0.1:{closed}"), Transport::Tcp)]).await;
    let started = Instant::now();
    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_millis(1200)))
        .await
        .expect("originate");
    let (before, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Timeout, "events {before:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
