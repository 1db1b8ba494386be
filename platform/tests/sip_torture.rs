//! The RFC 4475 torture messages (§3.1.1 valid, §3.1.2 invalid, §3.2, §3.3, §3.4) and the
//! RFC 5118 IPv6 messages, byte-exact from `voice/tests/torture/`, replayed over UDP and over
//! TCP to the real binary (issue 10). Each message gets the answer the RFC asks for, or a
//! deviation listed with its reason in README "SIP edge"; the binary never crashes, never
//! dials a leg, sends no User-Agent or Server (none configured) and answers a probe OPTIONS
//! after every message.
//!
//! UDP answers go where RFC 3261 §18.2.2 sends them: the stack's to the Via's sent-by port at
//! the source address, the edge's own (400/501/505) to the source (RFC 3581 style). So the
//! peer sends from 127.0.44.1:5060 and also listens on the other ports the messages' Vias name.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use testkit::callbond::{Callbond, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

/// The UDP peer's address (its own, so no other test's traffic mixes in).
const UDP_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 44, 1));
const TCP_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 44, 2));
/// 5060 is the default sent-by port; the others are named in the messages' top Vias.
const VIA_PORTS: [u16; 5] = [5060, 5050, 5070, 6050, 19823];
/// How long a message's answer may take before it counts as none.
const ANSWER_WAIT: Duration = Duration::from_millis(700);
/// One message and its probe at most every this often: 2 requests per 150 ms stays under the
/// edge's budget of 20 per source and second.
const PACE: Duration = Duration::from_millis(150);

/// What the RFC asks of a UAS for one message, as we meet it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// These final statuses (one per request the bytes hold).
    Answer(&'static [u16]),
    /// No answer: a response nothing asked for, or a stream left waiting for its body.
    Silence,
}

use Want::{Answer, Silence};

/// (RFC, message name, over UDP, over TCP). The names are the RFCs' own.
#[rustfmt::skip]
const TABLE: &[(&str, &str, Want, Want)] = &[
    // RFC 4475 §3.1.1: valid messages, parsed and answered. An unsolicited INVITE gets 403
    // (outbound-only), a REGISTER or MESSAGE 405 (we are no registrar), an extension 501.
    // Its To has a tag: an in-dialog request for a dialog we do not have (RFC 3261 §12.2.2).
    ("rfc4475", "wsinv", Answer(&[481]), Answer(&[481])),
    ("rfc4475", "intmeth", Answer(&[501]), Answer(&[501])),
    ("rfc4475", "esc01", Answer(&[403]), Answer(&[403])),
    ("rfc4475", "escnull", Answer(&[405]), Answer(&[405])),
    ("rfc4475", "esc02", Answer(&[501]), Answer(&[501])),
    ("rfc4475", "lwsdisp", Answer(&[200]), Answer(&[200])),
    ("rfc4475", "longreq", Answer(&[403]), Answer(&[403])),
    // Over UDP the octets after the body are noise (§18.3); on a stream they are a request.
    ("rfc4475", "dblreq", Answer(&[405]), Answer(&[405, 403])),
    ("rfc4475", "semiuri", Answer(&[200]), Answer(&[200])),
    ("rfc4475", "transports", Answer(&[200]), Answer(&[200])),
    ("rfc4475", "mpart01", Answer(&[405]), Answer(&[405])),
    ("rfc4475", "unreason", Silence, Silence),
    ("rfc4475", "noreason", Silence, Silence),
    // §3.1.2: invalid messages.
    ("rfc4475", "badinv01", Answer(&[400]), Answer(&[400])),
    // On a stream the length can only be waited for (§3.1.2.2).
    ("rfc4475", "clerr", Answer(&[400]), Silence),
    ("rfc4475", "ncl", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "scalar02", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "scalarlg", Silence, Silence),
    ("rfc4475", "quotbal", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "ltgtruri", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "lwsruri", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "lwsstart", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "trws", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "escruri", Answer(&[400]), Answer(&[400])),
    // The Date is not used, so it is not judged (§3.1.2.12 allows that).
    ("rfc4475", "baddate", Answer(&[403]), Answer(&[403])),
    // A REGISTER is refused by method (§8.2.1) before its Contact is looked at.
    ("rfc4475", "regbadct", Answer(&[405]), Answer(&[405])),
    ("rfc4475", "badaspec", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "baddn", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "badvers", Answer(&[505]), Answer(&[505])),
    ("rfc4475", "mismatch01", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "mismatch02", Answer(&[501]), Answer(&[501])),
    ("rfc4475", "bigcode", Silence, Silence),
    // §3.2: transaction layer.
    ("rfc4475", "badbranch", Answer(&[400]), Answer(&[400])),
    // §3.3: application layer.
    ("rfc4475", "insuf", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "unkscm", Answer(&[416]), Answer(&[416])),
    ("rfc4475", "novelsc", Answer(&[416]), Answer(&[416])),
    ("rfc4475", "unksm2", Answer(&[405]), Answer(&[405])),
    ("rfc4475", "bext01", Answer(&[420]), Answer(&[420])),
    ("rfc4475", "invut", Answer(&[403]), Answer(&[403])),
    ("rfc4475", "regaut01", Answer(&[405]), Answer(&[405])),
    ("rfc4475", "multi01", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "mcl01", Answer(&[400]), Answer(&[400])),
    ("rfc4475", "bcast", Silence, Silence),
    ("rfc4475", "zeromf", Answer(&[200]), Answer(&[200])),
    ("rfc4475", "cparam01", Answer(&[405]), Answer(&[405])),
    ("rfc4475", "cparam02", Answer(&[405]), Answer(&[405])),
    ("rfc4475", "regescrt", Answer(&[405]), Answer(&[405])),
    ("rfc4475", "sdp01", Answer(&[403]), Answer(&[403])),
    // §3.4: an RFC 2543 INVITE (no branch, no From tag, no Content-Length). A stream needs a
    // Content-Length (RFC 3261 §18.3), so over TCP it is a framing error.
    ("rfc4475", "inv2543", Answer(&[403]), Answer(&[400])),
    // RFC 5118 §4.
    ("rfc5118", "ipv6-good", Answer(&[405]), Answer(&[405])),
    ("rfc5118", "ipv6-bad", Answer(&[400]), Answer(&[400])),
    ("rfc5118", "port-ambiguous", Answer(&[405]), Answer(&[405])),
    ("rfc5118", "port-unambiguous", Answer(&[405]), Answer(&[405])),
    ("rfc5118", "via-received-param-with-delim", Answer(&[481]), Answer(&[481])),
    ("rfc5118", "via-received-param-no-delim", Answer(&[200]), Answer(&[200])),
    ("rfc5118", "ipv6-in-sdp", Answer(&[403]), Answer(&[403])),
    ("rfc5118", "mult-ip-in-header", Answer(&[481]), Answer(&[481])),
    ("rfc5118", "mult-ip-in-sdp", Answer(&[403]), Answer(&[403])),
    ("rfc5118", "ipv4-mapped-ipv6", Answer(&[403]), Answer(&[403])),
    ("rfc5118", "ipv6-bug-abnf-3-colons", Answer(&[200]), Answer(&[200])),
    ("rfc5118", "ipv6-correct-abnf-2-colons", Answer(&[200]), Answer(&[200])),
];

fn message(rfc: &str, name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../voice/tests/torture")
        .join(rfc)
        .join(format!("{name}.sip"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One response as it came: status, Call-ID, CSeq and the whole text.
#[derive(Debug)]
struct Response {
    status: u16,
    call_id: Option<String>,
    cseq: Option<String>,
    text: String,
}

impl Response {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let status = text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
        Some(Self {
            status,
            call_id: header(&text, &["call-id", "i"]),
            cseq: header(&text, &["cseq"]),
            text,
        })
    }

    /// Whether this answers `request` (same Call-ID and CSeq, or none where it has none).
    fn answers(&self, request: &[u8]) -> bool {
        let request = String::from_utf8_lossy(request);
        let ids = headers(&request, &["call-id", "i"]);
        let call_id_matches = match &self.call_id {
            Some(id) => ids.contains(id),
            None => ids.is_empty(),
        };
        let cseqs = headers(&request, &["cseq"]);
        let cseq_matches = match &self.cseq {
            Some(c) => cseqs.iter().any(|r| squash(r) == squash(c)),
            None => cseqs.is_empty(),
        };
        call_id_matches && cseq_matches
    }
}

fn squash(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The values of a header field in every message of `text` (RFC 4475 "dblreq" holds two),
/// folded lines joined: enough for the Call-IDs and CSeqs here.
fn headers(text: &str, names: &[&str]) -> Vec<String> {
    text.split("\r\n\r\n")
        .map(|head| head.trim_start_matches("\r\n"))
        .filter(|head| head.lines().next().is_some_and(|l| l.contains("SIP/")))
        .flat_map(|head| head_headers(head, names))
        .collect()
}

fn head_headers(head: &str, names: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in head.split("\r\n").skip(1) {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = current.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        out.extend(current.take());
        if let Some((name, value)) = line.split_once(':')
            && names.contains(&name.trim().to_ascii_lowercase().as_str())
        {
            current = Some(value.trim().to_owned());
        }
    }
    out.extend(current);
    out
}

fn header(text: &str, names: &[&str]) -> Option<String> {
    headers(text, names).into_iter().next()
}

fn probe(n: usize, transport: &str, peer: SocketAddr) -> Vec<u8> {
    format!(
        "OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {peer};branch=z9hG4bKprobe{n}{transport};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{peer}>;tag=probe{n}\r\n\
         To: <sip:probe@127.0.0.1>\r\n\
         Call-ID: probe-{n}-{transport}@127.0.44\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The UDP peer: one socket per Via port on [`UDP_PEER`], sending from 5060.
struct UdpPeer {
    sockets: Vec<UdpSocket>,
}

impl UdpPeer {
    async fn bind() -> Self {
        let mut sockets = Vec::new();
        for port in VIA_PORTS {
            // The ports are fixed (the messages name them), and a peer of a test running beside
            // this one may hold one on 0.0.0.0 for a moment (SIPp's media ports start at 6000):
            // wait for it rather than fail.
            let mut tries = 0;
            let socket = loop {
                match UdpSocket::bind((UDP_PEER, port)).await {
                    Ok(socket) => break socket,
                    Err(e) if tries < 150 => {
                        tries += 1;
                        eprintln!("binding {UDP_PEER}:{port}: {e}; trying again");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("binding {UDP_PEER}:{port}: {e}"),
                }
            };
            sockets.push(socket);
        }
        Self { sockets }
    }

    fn addr(&self) -> SocketAddr {
        self.sockets[0].local_addr().unwrap()
    }

    /// Send `bytes`, and collect the final answers to it that arrive on any socket within
    /// [`ANSWER_WAIT`] (stopping once `expect` of them came).
    async fn exchange(&self, target: SocketAddr, bytes: &[u8], expect: usize) -> Vec<Response> {
        self.sockets[0].send_to(bytes, target).await.unwrap();
        let deadline = Instant::now() + ANSWER_WAIT;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while got.len() < expect.max(1) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let any = self.sockets.iter().map(|s| Box::pin(s.readable()));
            if tokio::time::timeout(left, futures::future::select_all(any))
                .await
                .is_err()
            {
                break;
            }
            for socket in &self.sockets {
                while let Ok((n, _)) = socket.try_recv_from(&mut buf) {
                    if let Some(r) = Response::parse(&buf[..n])
                        && r.status >= 200
                        && r.answers(bytes)
                    {
                        got.push(r);
                    }
                }
            }
        }
        got
    }
}

/// Send `bytes` on a new TCP connection from [`TCP_PEER`]; the final answers to it within
/// [`ANSWER_WAIT`], and whether the binary closed the connection.
async fn tcp_exchange(target: SocketAddr, bytes: &[u8], expect: usize) -> (Vec<Response>, bool) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(TCP_PEER, 0)).unwrap();
    let mut stream = socket.connect(target).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let deadline = Instant::now() + ANSWER_WAIT;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    let mut closed = false;
    let mut got = Vec::new();
    while got.len() < expect.max(1) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        got = split_responses(&buf)
            .into_iter()
            .filter(|r| r.status >= 200 && r.answers(bytes))
            .collect();
    }
    (got, closed)
}

/// The responses in a stream (each ends at its empty line: ours carry no body).
fn split_responses(buf: &[u8]) -> Vec<Response> {
    let text = String::from_utf8_lossy(buf);
    text.split_inclusive("\r\n\r\n")
        .filter(|m| m.ends_with("\r\n\r\n"))
        .filter_map(|m| Response::parse(m.as_bytes()))
        .collect()
}

fn statuses(got: &[Response]) -> Vec<u16> {
    got.iter().map(|r| r.status).collect()
}

/// Whether the answers are the wanted statuses. Two requests in one stream (dblreq over TCP)
/// are two transactions answered independently, so their answers may come in either order
/// (RFC 3261 §17.2 orders nothing across transactions): compared as sets of statuses.
fn check(want: Want, got: &[Response]) -> bool {
    match want {
        Silence => got.is_empty(),
        Answer(statuses_wanted) => {
            let mut got = statuses(got);
            let mut wanted = statuses_wanted.to_vec();
            got.sort_unstable();
            wanted.sort_unstable();
            got == wanted
        }
    }
}

/// The transport a replay runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Over {
    Udp,
    Tcp,
}

/// Replay the whole table over one transport to a binary of its own (the same message over
/// UDP and TCP to one process would be a retransmission of one transaction), and fail with
/// every outcome off the table.
async fn replay(over: Over) {
    let mut cb = Callbond::start(env!("CARGO_BIN_EXE_callbond"), Options::default()).unwrap();
    let sip = cb.sip.unwrap();
    let udp = match over {
        Over::Udp => Some(UdpPeer::bind().await),
        Over::Tcp => None,
    };
    let mut failures = Vec::new();
    let mut answered = 0;
    for (n, &(rfc, name, want_udp, want_tcp)) in TABLE.iter().enumerate() {
        let bytes = message(rfc, name);
        let started = Instant::now();
        let want = if over == Over::Udp {
            want_udp
        } else {
            want_tcp
        };
        let expect = match want {
            Answer(s) => s.len(),
            Silence => 0,
        };
        let (got, closed, probed) = match &udp {
            Some(udp) => {
                let got = udp.exchange(sip, &bytes, expect).await;
                let probed = udp.exchange(sip, &probe(n, "UDP", udp.addr()), 1).await;
                (got, false, probed)
            }
            None => {
                let (got, closed) = tcp_exchange(sip, &bytes, expect).await;
                let peer = SocketAddr::new(TCP_PEER, 0);
                let (probed, _) = tcp_exchange(sip, &probe(n, "TCP", peer), 1).await;
                (got, closed, probed)
            }
        };
        let line = format!(
            "{over:?} {rfc} {name:30} {:?}{} (want {want:?}), probe {:?}",
            statuses(&got),
            if closed { " then closed" } else { "" },
            statuses(&probed),
        );
        println!("{line}");
        answered += got.len();
        for r in &got {
            let lower = r.text.to_ascii_lowercase();
            if lower.contains("\r\nuser-agent:") || lower.contains("\r\nserver:") {
                failures.push(format!("{name}: an answer names us: {}", r.text));
            }
        }
        if !check(want, &got) {
            failures.push(line.clone());
        }
        if statuses(&probed) != [200] {
            failures.push(format!("{name}: probe not answered: {line}"));
        }
        if let Some(rest) = (PACE * 2).checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let logs = cb.logs();
    assert!(!logs.contains("panicked"), "the binary panicked:\n{logs}");
    assert!(
        std::path::Path::new(&format!("/proc/{}", cb.pid())).exists(),
        "the binary is gone"
    );
    assert!(
        !logs.contains("leg dialed"),
        "a torture message placed a call"
    );
    println!(
        "{over:?}: {} messages, {answered} answers, {} probes answered, {} outcomes off the table",
        TABLE.len(),
        TABLE.len() - failures.iter().filter(|f| f.contains("probe not")).count(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    cb.terminate(Duration::from_secs(10)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_torture_message_gets_the_rfc_answer_over_udp() {
    replay(Over::Udp).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_torture_message_gets_the_rfc_answer_over_tcp() {
    replay(Over::Tcp).await;
}
