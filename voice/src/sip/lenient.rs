//! A lenient first look at a SIP request's bytes before rsipstack parses them: it decides
//! whether the stack may see the message, must not (then we answer it ourselves, RFC 3261 §8.2
//! as a UAS), or cannot be answered at all. rsipstack drops, or closes the TCP connection on,
//! whatever its parser rejects, and accepts some messages RFC 3261 calls malformed; this
//! module closes both gaps without touching the stack (issue 10, item 5).
//!
//! Pure functions of bytes: no I/O, no clock. [`screen`] and [`frame`] take whatever the
//! network sent and never panic (fuzz targets call them). Responses pass through untouched:
//! RFC 3261 §18.1.2 discards a malformed response, which the stack already does.

use std::net::IpAddr;

use rsipstack::sip::SipMessage;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transport::SipConnection;

use super::identity;
use super::syntax::{
    Field, NameAddr, Parsed, RequestLine, check_cseq, check_request_uri, check_via, find,
    has_param, is_sip_version, parse_u32, repair_ipv6, skip_leading_crlf, split_outside_quotes,
    tighten, trim, values,
};

/// The largest message a stream may carry before its connection is given up (rsipstack's own
/// stream limit).
pub(crate) const MAX_MESSAGE: usize = 65_535;

/// Methods rsipstack's parser knows. Any other method is an extension we do not implement:
/// 501 (RFC 3261 §8.2.1, RFC 4475 §3.1.1.2 "intmeth").
const KNOWN_METHODS: [&[u8]; 14] = [
    b"ACK",
    b"BYE",
    b"CANCEL",
    b"INFO",
    b"INVITE",
    b"MESSAGE",
    b"NOTIFY",
    b"OPTIONS",
    b"PRACK",
    b"PUBLISH",
    b"REFER",
    b"REGISTER",
    b"SUBSCRIBE",
    b"UPDATE",
];

/// How the message arrived: a datagram may carry octets past its body (RFC 3261 §18.3: ignored);
/// a stream message was framed by its Content-Length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carrier {
    Datagram,
    Stream,
}

/// What to do with one received message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Screened {
    /// Hand these bytes to the stack: the message as received, or with folded lines unfolded,
    /// LWS inside Via and address parameters tightened and an RFC 2543 From given a tag.
    Pass(Vec<u8>),
    /// Answer statelessly with this and forget the request.
    Refuse(Refusal),
    /// Neither: nothing identifies where an answer would go, or it is an ACK.
    Drop(&'static str),
}

/// A stateless answer (RFC 3261 §8.2.6): the status, a reason phrase naming the problem, and
/// the request's headers a response copies.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
    echo: Vec<(&'static str, Vec<u8>)>,
    allow: bool,
}

/// One message's place in a stream buffer (RFC 3261 §18.3: Content-Length frames streams).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Not all of it has arrived yet.
    Incomplete,
    /// A CRLF between messages (a keepalive pong, RFC 5626 §4.4.1): skip this many bytes.
    Skip(usize),
    /// A double-CRLF keepalive ping: skip 4 bytes and answer CRLF.
    Ping,
    /// A whole message of this many bytes.
    Message(usize),
    /// The header section (this many bytes) gives no usable length: answer it if it can be
    /// answered, then close the connection (RFC 4475 §3.1.2.3: not recoverable).
    Unframeable(usize),
}

/// Where `buf` (the unread bytes of a stream) ends its first message.
pub(crate) fn frame(buf: &[u8]) -> Frame {
    if buf.starts_with(b"\r\n\r\n") {
        return Frame::Ping;
    }
    if buf.starts_with(b"\r\n") {
        return Frame::Skip(2);
    }
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_MESSAGE {
            Frame::Unframeable(buf.len().min(MAX_MESSAGE))
        } else {
            Frame::Incomplete
        };
    };
    let head = end + 4;
    let parsed = Parsed::new(&buf[..head]);
    let Some(Ok(fields)) = parsed.as_ref().map(|p| p.fields.as_ref()) else {
        return Frame::Unframeable(head);
    };
    let lengths: Vec<&[u8]> = values(fields, "content-length").collect();
    let [length] = lengths[..] else {
        // RFC 3261 §18.3: a stream message must say its length, once.
        return Frame::Unframeable(head);
    };
    match parse_u32(length) {
        Some(n) if head.saturating_add(n as usize) <= MAX_MESSAGE => {
            let total = head + n as usize;
            if buf.len() >= total {
                Frame::Message(total)
            } else {
                Frame::Incomplete
            }
        }
        _ => Frame::Unframeable(head),
    }
}

/// Decide what becomes of one message (a whole datagram, or one framed stream message).
pub(crate) fn screen(bytes: &[u8], carrier: Carrier) -> Screened {
    let trimmed = skip_leading_crlf(bytes);
    if trimmed.is_empty() || trimmed.starts_with(b"SIP/") {
        // Keepalives and responses: the stack's business (§18.1.2 drops malformed responses).
        return Screened::Pass(bytes.to_vec());
    }
    let Some(parsed) = Parsed::new(trimmed) else {
        return Screened::Drop("no request line");
    };
    let line = RequestLine::new(parsed.start);
    let fields = match parsed.fields {
        Ok(fields) => fields,
        Err(reason) => return refuse_or_drop(&line, &[], 400, reason),
    };
    match check(&line, &fields, parsed.body, carrier) {
        Err((status, reason)) => refuse_or_drop(&line, &fields, status, reason),
        Ok(body) => {
            let rebuilt = rebuild(parsed.start, &fields, body);
            match stack_accepts(&rebuilt) {
                Ok(()) => Screened::Pass(rebuilt),
                Err(reason) => refuse_or_drop(&line, &fields, 400, reason),
            }
        }
    }
}

impl Refusal {
    /// The response's bytes, to be sent to `source` (where the request came from, as RFC 3581
    /// rport does: never to a third address a Via names). `server`: our product token.
    pub(crate) fn to_bytes(&self, source: std::net::SocketAddr, server: Option<&str>) -> Vec<u8> {
        let mut out = format!("SIP/2.0 {} {}\r\n", self.status, self.reason).into_bytes();
        let mut first_via = true;
        for (name, value) in &self.echo {
            let mut value = value.clone();
            if *name == "Via" && first_via {
                first_via = false;
                value = with_received(&value, source);
            }
            if *name == "To" && !has_param(&value, b"tag") {
                // §8.2.6.2: a To tag, the same for every retransmission of the request.
                value.extend_from_slice(format!(";tag={:016x}", self.stateless_tag()).as_bytes());
            }
            push_field(&mut out, name, &value);
        }
        if self.allow {
            let allow: Vec<String> = super::ALLOWED.iter().map(|m| m.to_string()).collect();
            push_field(&mut out, "Allow", allow.join(", ").as_bytes());
        }
        if let Some(server) = server {
            push_field(&mut out, "Server", server.as_bytes());
        }
        out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        out
    }

    /// FNV-1a over the copied headers: stateless, yet stable across retransmissions.
    fn stateless_tag(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for (_, value) in &self.echo {
            for &b in value {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }
}

/// A refusal when there is a Via to send it along and the request is not an ACK (§17.1.1.3:
/// an ACK is never answered).
fn refuse_or_drop(
    line: &RequestLine<'_>,
    fields: &[Field],
    status: u16,
    reason: &'static str,
) -> Screened {
    if line.method == b"ACK" {
        return Screened::Drop("malformed ACK");
    }
    if values(fields, "via").all(|v| v.iter().all(u8::is_ascii_whitespace)) {
        return Screened::Drop("no Via to answer along");
    }
    let mut echo = Vec::new();
    for (key, name) in [
        ("via", "Via"),
        ("from", "From"),
        ("to", "To"),
        ("call-id", "Call-ID"),
        ("cseq", "CSeq"),
    ] {
        echo.extend(values(fields, key).map(|v| (name, v.to_vec())));
    }
    Screened::Refuse(Refusal {
        status,
        reason,
        echo,
        allow: status == 501,
    })
}

/// RFC 3261 §8.2 checks the stack does not make, in the order a UAS meets them. On success
/// the body the request carries.
fn check<'a>(
    line: &RequestLine<'_>,
    fields: &[Field],
    body: &'a [u8],
    carrier: Carrier,
) -> Result<&'a [u8], (u16, &'static str)> {
    if let Some(version) = line.version
        && !version.eq_ignore_ascii_case(b"SIP/2.0")
        && is_sip_version(version)
    {
        return Err((505, "Version Not Supported"));
    }
    line.well_formed().map_err(|r| (400, r))?;
    for (key, missing) in [
        ("via", "Missing Via header field"),
        ("from", "Missing From header field"),
        ("to", "Missing To header field"),
        ("call-id", "Missing Call-ID header field"),
        ("cseq", "Missing CSeq header field"),
    ] {
        if values(fields, key).next().is_none() {
            return Err((400, missing));
        }
    }
    // RFC 3261 §7.3.1 / §20: header fields that carry one value (RFC 4475 §3.3.8, §3.3.9).
    for (key, multiple) in [
        ("from", "Multiple From header fields"),
        ("to", "Multiple To header fields"),
        ("call-id", "Multiple Call-ID header fields"),
        ("cseq", "Multiple CSeq header fields"),
        ("max-forwards", "Multiple Max-Forwards header fields"),
        ("content-length", "Multiple Content-Length header fields"),
        ("content-type", "Multiple Content-Type header fields"),
    ] {
        if values(fields, key).nth(1).is_some() {
            return Err((400, multiple));
        }
    }
    let body = match values(fields, "content-length").next() {
        None if carrier == Carrier::Datagram => body,
        None => return Err((400, "Missing Content-Length on a stream transport")),
        Some(length) => match parse_u32(length) {
            None => return Err((400, "Malformed Content-Length")),
            Some(n) => body
                .get(..n as usize)
                .ok_or((400, "Content-Length larger than the message"))?,
        },
    };
    let cseq = values(fields, "cseq").next().unwrap_or_default();
    check_cseq(cseq).map_err(|r| (400, r))?;
    for via in values(fields, "via") {
        check_via(via).map_err(|r| (400, r))?;
    }
    for (key, name_addr) in [("from", NameAddr::FROM), ("to", NameAddr::TO)] {
        for value in values(fields, key) {
            name_addr.check(value).map_err(|r| (400, r))?;
        }
    }
    check_request_uri(line.uri)?;
    if !KNOWN_METHODS.contains(&line.method) {
        return Err((501, "Not Implemented"));
    }
    Ok(body)
}

/// The checks rsipstack makes on receipt (parse, Via `received`, transaction key) and drops a
/// message for, made here so a failure can be answered.
fn stack_accepts(bytes: &[u8]) -> Result<(), &'static str> {
    let message = SipMessage::try_from(bytes).map_err(|_| "Malformed request")?;
    let source = std::net::SocketAddr::from(([192, 0, 2, 1], 5060));
    let message = SipConnection::update_msg_received(
        message,
        source,
        rsipstack::sip::transport::Transport::Udp,
    )
    .map_err(|_| "Malformed Via header field")?;
    let SipMessage::Request(request) = message else {
        return Err("Malformed request line");
    };
    TransactionKey::from_request(&request, TransactionRole::Server)
        .map_err(|_| "Malformed From, Call-ID or CSeq header field")?;
    Ok(())
}

/// The message again with each header field on one line, LWS tightened where the stack's
/// parser wants none, the RFC 3261 IPv6 ABNF bug repaired and an untagged From tagged.
fn rebuild(start: &[u8], fields: &[Field], body: &[u8]) -> Vec<u8> {
    let mut out = repair_ipv6(start);
    out.extend_from_slice(b"\r\n");
    for field in fields {
        let mut value = repair_ipv6(&field.value);
        if matches!(
            field.key.as_str(),
            "via" | "from" | "to" | "contact" | "route" | "record-route"
        ) {
            value = tighten(&value);
        }
        if field.key == "from" && !has_param(&value, b"tag") {
            value = identity::tagged(&value);
        }
        out.extend_from_slice(&field.name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The top Via element with `received` and a filled `rport` (RFC 3261 §18.2.1, RFC 3581 §4).
fn with_received(value: &[u8], source: std::net::SocketAddr) -> Vec<u8> {
    let mut elements = split_outside_quotes(value, b',').into_iter();
    let top = elements.next().unwrap_or_default();
    let mut out = Vec::new();
    for (i, param) in split_outside_quotes(top, b';').into_iter().enumerate() {
        let param = trim(param);
        let key = trim(param.split(|&b| b == b'=').next().unwrap_or_default());
        if i > 0 && (key.eq_ignore_ascii_case(b"received") || key.eq_ignore_ascii_case(b"rport")) {
            continue;
        }
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(param);
    }
    let ip = match source.ip() {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    out.extend_from_slice(format!(";received={ip};rport={}", source.port()).as_bytes());
    for rest in elements {
        out.push(b',');
        out.extend_from_slice(rest);
    }
    out
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    // A copied value never ends the line early (no header injection from a stray CR).
    out.extend(
        value
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[path = "lenient_tests.rs"]
mod tests;
