//! A lenient first look at a SIP request's bytes before rsipstack parses them: it decides
//! whether the stack may see the message, must not (then we answer it ourselves, RFC 3261 §8.2
//! as a UAS), or cannot be answered at all. rsipstack drops, or closes the TCP connection on,
//! whatever its parser rejects, and accepts some messages RFC 3261 calls malformed; this
//! module closes both gaps without touching the stack (issue 10, item 5).
//!
//! Pure functions of bytes: no I/O, no clock. [`screen`] and [`frame`] take whatever the
//! network sent and never panic (fuzz targets call them). Responses pass through untouched:
//! RFC 3261 §18.1.2 discards a malformed response, which the stack already does.

use std::net::{IpAddr, Ipv6Addr};

use rsipstack::sip::SipMessage;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transport::SipConnection;

use super::identity;

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

/// A message split into its start line, unfolded header fields and body.
struct Parsed<'a> {
    start: &'a [u8],
    fields: Result<Vec<Field>, &'static str>,
    body: &'a [u8],
}

/// One header field: its name as sent, its canonical key (lower case, compact forms
/// expanded) and its value with folded lines joined by one SP (RFC 3261 §7.3.1).
#[derive(Debug)]
struct Field {
    name: Vec<u8>,
    key: String,
    value: Vec<u8>,
}

impl<'a> Parsed<'a> {
    fn new(bytes: &'a [u8]) -> Option<Self> {
        // No empty line (a datagram that ends after its headers): all of it is headers.
        let (head, body) = match find(bytes, b"\r\n\r\n") {
            Some(end) => (&bytes[..end], &bytes[end + 4..]),
            None => (bytes.strip_suffix(b"\r\n").unwrap_or(bytes), &[][..]),
        };
        let mut lines = head.split(|&b| b == b'\n').map(strip_cr);
        let start = lines.next().filter(|l| !l.is_empty())?;
        Some(Self {
            start,
            fields: fields(lines),
            body,
        })
    }
}

fn fields<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Result<Vec<Field>, &'static str> {
    let mut out: Vec<Field> = Vec::new();
    for line in lines {
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let last = out
                .last_mut()
                .ok_or("Folded line before any header field")?;
            last.value.push(b' ');
            last.value.extend_from_slice(trim(line));
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or("Header line without a colon")?;
        let name = trim(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
            return Err("Malformed header field name");
        }
        out.push(Field {
            name: name.to_vec(),
            key: canonical(name),
            value: trim(&line[colon + 1..]).to_vec(),
        });
    }
    Ok(out)
}

/// The lower-case long name of a header field (RFC 3261 §7.3.3 compact forms).
fn canonical(name: &[u8]) -> String {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    let long = match lower.as_str() {
        "i" => "call-id",
        "f" => "from",
        "t" => "to",
        "v" => "via",
        "l" => "content-length",
        "m" => "contact",
        "c" => "content-type",
        "s" => "subject",
        "k" => "supported",
        "e" => "content-encoding",
        _ => return lower,
    };
    long.to_owned()
}

fn values<'f>(fields: &'f [Field], key: &'f str) -> impl Iterator<Item = &'f [u8]> {
    fields
        .iter()
        .filter(move |f| f.key == key)
        .map(|f| f.value.as_slice())
}

/// `Method SP Request-URI SP SIP-Version` (RFC 3261 §7.1): one SP each, nothing around.
struct RequestLine<'a> {
    raw: &'a [u8],
    method: &'a [u8],
    uri: &'a [u8],
    version: Option<&'a [u8]>,
}

impl<'a> RequestLine<'a> {
    fn new(raw: &'a [u8]) -> Self {
        let mut words = raw.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let method = words.next().unwrap_or_default();
        let uri = words.next().unwrap_or_default();
        Self {
            raw,
            method,
            uri,
            version: words.next_back(),
        }
    }

    fn well_formed(&self) -> Result<(), &'static str> {
        let parts: Vec<&[u8]> = self.raw.split(|&b| b == b' ').collect();
        if parts.iter().any(|p| p.is_empty()) || self.raw.contains(&b'\t') {
            // RFC 4475 §3.1.2.9 "lwsstart", §3.1.2.10 "trws".
            return Err("Extra whitespace in the Request-Line");
        }
        if parts.len() > 3 {
            return Err("Whitespace inside the Request-URI");
        }
        if parts.len() < 3 || !self.method.iter().all(|&b| is_token_char(b)) {
            return Err("Malformed Request-Line");
        }
        if !self
            .version
            .is_some_and(|v| v.eq_ignore_ascii_case(b"SIP/2.0"))
        {
            return Err("Malformed SIP-Version");
        }
        if self.uri.starts_with(b"<") {
            return Err("Request-URI enclosed in angle brackets");
        }
        Ok(())
    }
}

fn is_sip_version(v: &[u8]) -> bool {
    let Some(rest) = v.get(4..).filter(|_| v[..4].eq_ignore_ascii_case(b"SIP/")) else {
        return false;
    };
    let mut parts = rest.split(|&b| b == b'.');
    let digits =
        |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// RFC 3261 §8.2.2.1: a scheme we do not serve is 416 (RFC 4475 §3.3.2, §3.3.3; the stack
/// reads `soap.beep://h` as a SIP URI); §19.1.1: a SIP Request-URI has no headers; §19.1.6 /
/// RFC 5118 §4.2: an IPv6 host is a bracketed reference.
fn check_request_uri(uri: &[u8]) -> Result<(), (u16, &'static str)> {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with(b"tel:") {
        return Ok(());
    }
    let Some(rest) = lower
        .strip_prefix(b"sip:")
        .or_else(|| lower.strip_prefix(b"sips:"))
    else {
        return Err((416, "Unsupported URI Scheme"));
    };
    // The userinfo may hold `?` and `;` (RFC 3261 §25.1 user-unreserved); it ends at the
    // first `@`.
    let after_user = match rest.iter().position(|&b| b == b'@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    if after_user.contains(&b'?') {
        return Err((400, "Request-URI carries escaped headers"));
    }
    let host = after_user.split(|&b| b == b';').next().unwrap_or_default();
    if !host.starts_with(b"[") && host.iter().filter(|&&b| b == b':').count() > 1 {
        return Err((400, "IPv6 address in the Request-URI without brackets"));
    }
    Ok(())
}

/// `CSeq: 1*DIGIT LWS Method`, the number below 2**32 (RFC 3261 §20.16, RFC 4475 §3.1.2.4).
fn check_cseq(value: &[u8]) -> Result<(), &'static str> {
    let mut words = value
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let (Some(number), Some(method), None) = (words.next(), words.next(), words.next()) else {
        return Err("Malformed CSeq header field");
    };
    if !method.iter().all(|&b| is_token_char(b)) {
        return Err("Malformed CSeq header field");
    }
    parse_u32(number).ok_or("CSeq number out of range")?;
    Ok(())
}

/// Each `sent-protocol LWS sent-by *(SEMI via-params)` of a Via value, with no empty element
/// or parameter (RFC 4475 §3.1.2.1 "badinv01"), and a branch that is more than the RFC 3261
/// magic cookie (§3.2.1 "badbranch").
fn check_via(value: &[u8]) -> Result<(), &'static str> {
    for element in split_outside_quotes(value, b',') {
        let mut params = split_outside_quotes(element, b';').into_iter();
        let sent = trim(params.next().unwrap_or_default());
        if sent.is_empty() {
            return Err("Malformed Via header field");
        }
        for param in params {
            let param = trim(param);
            let name = trim(param.split(|&b| b == b'=').next().unwrap_or_default());
            if name.is_empty() {
                return Err("Malformed Via header field");
            }
            if name.eq_ignore_ascii_case(b"branch")
                && param
                    .iter()
                    .position(|&b| b == b'=')
                    .is_some_and(|eq| trim(&param[eq + 1..]).eq_ignore_ascii_case(b"z9hG4bK"))
            {
                return Err("Via branch without a transaction identifier");
            }
        }
    }
    Ok(())
}

/// The From and To checks: a closed quoted string, no LWS inside `<>` (RFC 4475 §3.1.2.14),
/// an unquoted display name of tokens only (§3.1.2.15).
struct NameAddr {
    unterminated: &'static str,
    spaced: &'static str,
    display: &'static str,
}

impl NameAddr {
    const FROM: NameAddr = NameAddr {
        unterminated: "Unterminated quoted string in From",
        spaced: "Whitespace inside the From URI",
        display: "Unquoted display name with separators in From",
    };
    const TO: NameAddr = NameAddr {
        unterminated: "Unterminated quoted string in To",
        spaced: "Whitespace inside the To URI",
        display: "Unquoted display name with separators in To",
    };

    fn check(&self, value: &[u8]) -> Result<(), &'static str> {
        let mut quotes = Quotes::default();
        let mut angle = false;
        for (i, &b) in value.iter().enumerate() {
            if quotes.inside(b) {
                continue;
            }
            match b {
                b'<' if !angle => {
                    let display = trim(&value[..i]);
                    if !quotes.seen
                        && !display
                            .iter()
                            .all(|&c| is_token_char(c) || c == b' ' || c == b'\t')
                    {
                        return Err(self.display);
                    }
                    angle = true;
                }
                b'>' if angle => return Ok(()),
                b' ' | b'\t' if angle => return Err(self.spaced),
                _ => {}
            }
        }
        if quotes.quoted {
            return Err(self.unterminated);
        }
        Ok(())
    }
}

/// Where a byte of a header value stands: in a quoted string (RFC 3261 §25.1 `quoted-string`
/// with its `quoted-pair`s, quotes included) or outside.
#[derive(Default)]
struct Quotes {
    quoted: bool,
    escaped: bool,
    /// A quoted string has begun somewhere before.
    seen: bool,
}

impl Quotes {
    /// Feed the next byte; true when it belongs to a quoted string.
    fn inside(&mut self, b: u8) -> bool {
        if self.quoted {
            match (self.escaped, b) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.quoted = false,
                _ => {}
            }
            return true;
        }
        if b == b'"' {
            self.quoted = true;
            self.seen = true;
        }
        self.quoted
    }
}

/// Whether `value` (a Via element or an address) has the parameter `name` after its URI.
fn has_param(value: &[u8], name: &[u8]) -> bool {
    let after = match value.iter().rposition(|&b| b == b'>') {
        Some(gt) => &value[gt + 1..],
        None => value,
    };
    split_outside_quotes(after, b';')
        .into_iter()
        .skip(1)
        .any(|p| {
            let key = trim(p.split(|&b| b == b'=').next().unwrap_or_default());
            key.eq_ignore_ascii_case(name)
        })
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

/// LWS removed around `/ ; = ,` and runs of LWS made one SP, outside quoted strings and `<>`:
/// the forms RFC 3261 §7.3.1 makes equal to those the stack's parser expects.
fn tighten(value: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(value.len());
    let mut quotes = Quotes::default();
    let mut angle = false;
    let mut pending_space = false;
    for &b in value {
        let after_separator = out
            .last()
            .is_some_and(|l| matches!(l, b'/' | b';' | b'=' | b','));
        if quotes.inside(b) {
            if pending_space && !after_separator && !out.is_empty() {
                out.push(b' ');
            }
            pending_space = false;
            out.push(b);
            continue;
        }
        if !angle && (b == b' ' || b == b'\t') {
            pending_space = true;
            continue;
        }
        let separator = !angle && matches!(b, b'/' | b';' | b'=' | b',');
        if pending_space && !separator && !after_separator && !out.is_empty() {
            out.push(b' ');
        }
        pending_space = false;
        match b {
            b'<' => angle = true,
            b'>' => angle = false,
            _ => {}
        }
        out.push(b);
    }
    out
}

/// RFC 5118 §4.10: `[2001:db8:::192.0.2.1]` (the RFC 3261 ABNF bug) is read as the address
/// it means, `[2001:db8::192.0.2.1]`; anything that is then no IPv6 address is left alone.
fn repair_ipv6(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(open) = rest.iter().position(|&b| b == b'[') {
        out.extend_from_slice(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            break;
        };
        let inside = &rest[..close];
        let repaired = String::from_utf8_lossy(inside).replacen(":::", "::", 1);
        if find(inside, b":::").is_some() && repaired.parse::<Ipv6Addr>().is_ok() {
            out.extend_from_slice(repaired.as_bytes());
        } else {
            out.extend_from_slice(inside);
        }
        rest = &rest[close..];
    }
    out.extend_from_slice(rest);
    out
}

fn split_outside_quotes(value: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut quotes = Quotes::default();
    let mut angle = false;
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        if quotes.inside(b) {
            continue;
        }
        match b {
            b'<' => angle = true,
            b'>' => angle = false,
            _ if b == sep && !angle => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
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

/// RFC 3261 §25.1 `token` characters.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    let digits = trim(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn skip_leading_crlf(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[path = "lenient_tests.rs"]
mod tests;
