//! The edge's own answers (400 for a malformed request, 501 for an extension method) cost the
//! sender the same per-source budget as the stack's (issue 10): a burst of 100 malformed
//! requests from one address over UDP, or down one TCP connection, gets at most the 20 answers
//! of one window, and a well-formed OPTIONS from the same address is answered again once the
//! window has passed. One address holds at most 16 TCP connections at once; the rest are
//! closed as they are accepted, until one of the 16 goes.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one source may send per second before the rest is dropped (incoming.rs SOURCE_LIMITS).
const PER_WINDOW: usize = 20;
const BURST: usize = 100;

/// Request `n`: malformed (a Content-Length past the datagram) or an extension method, with a
/// Via that brings the answer back (`rport`).
fn request(n: usize, transport: &str, from: SocketAddr, well_formed: bool) -> Vec<u8> {
    let (line, method, length) = match (well_formed, n % 2) {
        (true, _) => ("OPTIONS sip:x@127.0.0.1 SIP/2.0", "OPTIONS", 0),
        (false, 0) => ("OPTIONS sip:x@127.0.0.1 SIP/2.0", "OPTIONS", 999),
        (false, _) => ("KNOCK sip:x@127.0.0.1 SIP/2.0", "KNOCK", 0),
    };
    format!(
        "{line}\r\nVia: SIP/2.0/{transport} {from};branch=z9hG4bKb{n};rport\r\n\
         From: <sip:s@127.0.0.1>;tag=b{n}\r\nTo: <sip:x@127.0.0.1>\r\n\
         Call-ID: budget-{n}@127.0.0.1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
         Content-Length: {length}\r\n\r\n"
    )
    .into_bytes()
}

/// The status codes in `bytes` (responses one after another).
fn statuses(bytes: &[u8]) -> Vec<u16> {
    String::from_utf8_lossy(bytes)
        .split("SIP/2.0 ")
        .skip(1)
        .filter_map(|r| r.get(..3)?.parse().ok())
        .collect()
}

#[tokio::test]
async fn udp_edge_answers_stop_at_the_source_budget() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;
    let socket = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("bind");
    let from = socket.local_addr().expect("addr");
    let started = Instant::now();
    for n in 0..BURST {
        socket
            .send_to(&request(n, "UDP", from, false), voice.sip_addr())
            .await
            .expect("send");
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the burst took a whole window"
    );
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
    {
        got.extend(statuses(&buf[..n]));
    }
    println!(
        "UDP: {BURST} malformed requests, {} answers: {got:?}",
        got.len()
    );
    assert!(!got.is_empty(), "nothing was answered");
    assert!(
        got.len() <= PER_WINDOW,
        "{} answers to one source",
        got.len()
    );
    assert!(got.iter().all(|s| *s == 400 || *s == 501), "{got:?}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    socket
        .send_to(&request(BURST, "UDP", from, true), voice.sip_addr())
        .await
        .expect("send");
    let (n, _) = tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buf))
        .await
        .expect("the next window's OPTIONS is answered")
        .expect("recv");
    assert_eq!(statuses(&buf[..n]), [200]);
}

#[tokio::test]
async fn tcp_edge_answers_stop_at_the_source_budget() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;
    let mut stream = tokio::net::TcpStream::connect(voice.sip_addr())
        .await
        .expect("connect");
    let from = stream.local_addr().expect("addr");
    // On a stream the malformed length would frame the next message: extension methods only.
    let burst: Vec<u8> = (0..BURST)
        .flat_map(|n| request(2 * n + 1, "TCP", from, false))
        .collect();
    stream.write_all(&burst).await.expect("send");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        got.extend(statuses(&buf[..n]));
    }
    println!("TCP: {BURST} extension requests, {} answers", got.len());
    assert!(!got.is_empty(), "nothing was answered");
    assert!(
        got.len() <= PER_WINDOW,
        "{} answers to one source",
        got.len()
    );
    assert!(got.iter().all(|s| *s == 501), "{got:?}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    stream
        .write_all(&request(2 * BURST, "TCP", from, true))
        .await
        .expect("send");
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .expect("the next window's OPTIONS is answered on the same connection")
        .expect("read");
    assert_eq!(statuses(&buf[..n]), [200]);
}

/// Connections one source may hold at once (edge.rs MAX_TCP_PER_SOURCE).
const TCP_PER_SOURCE: usize = 16;

#[tokio::test]
async fn one_source_holds_a_bounded_number_of_tcp_connections() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;
    let mut streams = Vec::new();
    for _ in 0..TCP_PER_SOURCE + 4 {
        streams.push(
            tokio::net::TcpStream::connect(voice.sip_addr())
                .await
                .expect("connect"),
        );
    }
    // Each is sent one OPTIONS; those over the limit were closed when accepted.
    let mut answered = 0;
    let mut closed = 0;
    for (n, stream) in streams.iter_mut().enumerate() {
        let from = stream.local_addr().expect("addr");
        let _ = stream
            .write_all(&request(1000 + n, "TCP", from, true))
            .await;
        let mut buf = vec![0u8; 4096];
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(len)) if statuses(&buf[..len]) == [200] => answered += 1,
            other => panic!("connection {n}: {other:?}"),
        }
    }
    println!(
        "{} connections from one source: {answered} answered, {closed} closed",
        streams.len()
    );
    assert_eq!((answered, closed), (TCP_PER_SOURCE, 4));

    // Closing one frees its place for the next.
    streams.truncate(TCP_PER_SOURCE - 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut next = tokio::net::TcpStream::connect(voice.sip_addr())
        .await
        .expect("connect");
    let from = next.local_addr().expect("addr");
    next.write_all(&request(2000, "TCP", from, true))
        .await
        .expect("send");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), next.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    assert_eq!(statuses(&buf[..n]), [200]);
}
