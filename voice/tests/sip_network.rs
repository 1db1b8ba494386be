//! Trunks that do not work end as `Unreachable` long before 64·T1: one that never answers
//! (silent UDP socket) at its no-response limit or the ring timeout, whichever comes first; one
//! with nothing listening on its UDP port as soon as the ICMP error comes back; one that
//! refuses the TCP connection at its no-response limit.

mod common;

use std::time::{Duration, Instant};

use common::*;
use voice::{EndCause, Transport, Trunk, Unreachable};

fn trunk_within(target: String, transport: Transport, no_response: Duration) -> Trunk {
    Trunk {
        no_response_limit: no_response,
        ..trunk(target, transport)
    }
}

fn trunk(target: String, transport: Transport) -> Trunk {
    Trunk {
        prefix: String::new(),
        target,
        transport,
        username: None,
        password: None,
        from_domain: None,
        no_response_limit: voice::DEFAULT_NO_RESPONSE_LIMIT,
    }
}

#[tokio::test]
async fn silent_trunk_is_unreachable_at_the_ring_timeout_when_that_comes_first() {
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
    assert_eq!(
        cause,
        EndCause::Unreachable(Unreachable::NoResponse),
        "events {before:?}"
    );
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

/// Place one call through a lone trunk to `target` with `no_response` as its limit and a
/// 30 s ring timeout; returns how the leg ended and how long that took.
async fn dead_trunk_leg(
    target: String,
    transport: Transport,
    no_response: Duration,
) -> (EndCause, Duration) {
    let (voice, _shutdown) = start_voice(vec![trunk_within(target, transport, no_response)]).await;
    let started = Instant::now();
    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_secs(30)))
        .await
        .expect("originate");
    let (before, cause) = until_hung_up(&mut events).await;
    assert!(
        before
            .iter()
            .all(|e| !matches!(e, voice::LegEvent::Ringing)),
        "{before:?}"
    );
    (cause, started.elapsed())
}

#[tokio::test]
async fn silent_trunk_is_unreachable_at_its_no_response_limit() {
    let silent = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("silent peer");
    let target = silent.local_addr().expect("address").to_string();
    let limit = Duration::from_millis(1500);
    // The ring timeout (30 s) is far away: only the no-response limit can end the leg early.
    let (cause, took) = dead_trunk_leg(target, Transport::Udp, limit).await;
    assert_eq!(cause, EndCause::Unreachable(Unreachable::NoResponse));
    assert!(
        (limit..limit + Duration::from_secs(2)).contains(&took),
        "ended after {took:?}"
    );
}

/// Nothing listens on the trunk's UDP port: the kernel answers the INVITE with ICMP port
/// unreachable, and the leg ends on it, not at a timer.
#[tokio::test]
async fn trunk_with_no_sip_server_is_port_unreachable_at_once() {
    let target = format!("127.0.0.1:{}", free_udp_port());
    let limit = Duration::from_secs(20);
    let (cause, took) = dead_trunk_leg(target, Transport::Udp, limit).await;
    assert_eq!(cause, EndCause::Unreachable(Unreachable::PortUnreachable));
    assert!(took < limit, "took {took:?}");
}

/// rsipstack treats a failed connect like a lost datagram (it retries until Timer B), so a
/// refused TCP connection looks like silence: the leg ends at the trunk's no-response limit.
#[tokio::test]
async fn refused_tcp_connection_is_unreachable_at_the_no_response_limit() {
    // Nothing listens on TCP there either.
    let target = format!("127.0.0.1:{}", free_udp_port());
    let limit = Duration::from_millis(1500);
    let (cause, took) = dead_trunk_leg(target, Transport::Tcp, limit).await;
    assert_eq!(cause, EndCause::Unreachable(Unreachable::NoResponse));
    assert!(
        (limit..limit + Duration::from_secs(2)).contains(&took),
        "took {took:?}"
    );
}
