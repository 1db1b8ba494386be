//! The raw syntax of a SIP message, read leniently from bytes: the start line, header fields
//! with folded lines joined (RFC 3261 §7.3.1) and compact names expanded (§7.3.3), quoted
//! strings, parameters, and the grammar checks the stack does not make (Request-Line, CSeq,
//! Via, name-addr). [`super::lenient`] decides what to do with a message; this module only
//! reads it, and must not panic on any input.

use std::net::Ipv6Addr;

/// A message split into its start line, unfolded header fields and body.
pub(super) struct Parsed<'a> {
    pub(super) start: &'a [u8],
    pub(super) fields: Result<Vec<Field>, &'static str>,
    pub(super) body: &'a [u8],
}

/// One header field: its name as sent, its canonical key (lower case, compact forms
/// expanded) and its value with folded lines joined by one SP (RFC 3261 §7.3.1).
#[derive(Debug)]
pub(super) struct Field {
    pub(super) name: Vec<u8>,
    pub(super) key: String,
    pub(super) value: Vec<u8>,
}

impl<'a> Parsed<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Option<Self> {
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

pub(super) fn fields<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<Field>, &'static str> {
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
pub(super) fn canonical(name: &[u8]) -> String {
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

pub(super) fn values<'f>(fields: &'f [Field], key: &'f str) -> impl Iterator<Item = &'f [u8]> {
    fields
        .iter()
        .filter(move |f| f.key == key)
        .map(|f| f.value.as_slice())
}

/// `Method SP Request-URI SP SIP-Version` (RFC 3261 §7.1): one SP each, nothing around.
pub(super) struct RequestLine<'a> {
    pub(super) raw: &'a [u8],
    pub(super) method: &'a [u8],
    pub(super) uri: &'a [u8],
    pub(super) version: Option<&'a [u8]>,
}

impl<'a> RequestLine<'a> {
    pub(super) fn new(raw: &'a [u8]) -> Self {
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

    pub(super) fn well_formed(&self) -> Result<(), &'static str> {
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

pub(super) fn is_sip_version(v: &[u8]) -> bool {
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
/// RFC 5118 §4.2: an IPv6 host is a bracketed reference; §25.1: a URI holds no control
/// octet, no octet above 0x7F and none of `<>"{}|\^` and backquote unescaped, and its host is
/// a hostname, an IPv4 address or an IPv6 reference with at most a numeric port. rsipstack
/// reads such URIs without complaint but does not print them as read (`sip:a@h>` prints a
/// host the stack then reads back without its `>`), so what we would answer or route by is
/// not what was sent. `#` is let through in the user part: phones send dial strings with it.
pub(super) fn check_request_uri(uri: &[u8]) -> Result<(), (u16, &'static str)> {
    let lower = uri.to_ascii_lowercase();
    let unsafe_octet = |b: &u8| *b <= b' ' || *b >= 0x7f || b"<>\"{}|\\^`".contains(b);
    if lower.starts_with(b"tel:") {
        if lower.iter().any(unsafe_octet) {
            return Err((400, "Malformed Request-URI"));
        }
        return Ok(());
    }
    let Some(rest) = lower
        .strip_prefix(b"sip:")
        .or_else(|| lower.strip_prefix(b"sips:"))
    else {
        return Err((416, "Unsupported URI Scheme"));
    };
    if rest.iter().any(unsafe_octet) {
        return Err((400, "Malformed Request-URI"));
    }
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
    if !is_hostport(host) {
        return Err((400, "Malformed host in the Request-URI"));
    }
    Ok(())
}

/// `host [ ":" port ]` of RFC 3261 §25.1: a hostname (letters, digits, `-`, `.`, and `_`,
/// which some networks use), an IPv4 address, or a bracketed IPv6 reference; a port of one to
/// five digits up to 65535.
fn is_hostport(hostport: &[u8]) -> bool {
    let (host, port) = if let Some(inner) = hostport.strip_prefix(b"[") {
        let Some(close) = inner.iter().position(|&b| b == b']') else {
            return false;
        };
        let (address, after) = (&inner[..close], &inner[close + 1..]);
        let hex_or_dots = |b: &u8| b.is_ascii_hexdigit() || *b == b':' || *b == b'.';
        if address.is_empty() || !address.iter().all(hex_or_dots) {
            return false;
        }
        match after {
            [] => return true,
            [b':', port @ ..] => (&b"[]"[..], Some(port)),
            _ => return false,
        }
    } else {
        match hostport.iter().position(|&b| b == b':') {
            Some(colon) => (&hostport[..colon], Some(&hostport[colon + 1..])),
            None => (hostport, None),
        }
    };
    let hostname_ok = host == b"[]"
        || (!host.is_empty()
            && host
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(b)));
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.iter().all(u8::is_ascii_digit)
            && parse_u32(p).is_some_and(|n| n <= 65_535)
    });
    hostname_ok && port_ok
}

/// `CSeq: 1*DIGIT LWS Method`, the number below 2**32 (RFC 3261 §20.16, RFC 4475 §3.1.2.4).
pub(super) fn check_cseq(value: &[u8]) -> Result<(), &'static str> {
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
pub(super) fn check_via(value: &[u8]) -> Result<(), &'static str> {
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
pub(super) struct NameAddr {
    pub(super) unterminated: &'static str,
    pub(super) spaced: &'static str,
    pub(super) display: &'static str,
}

impl NameAddr {
    pub(super) const FROM: NameAddr = NameAddr {
        unterminated: "Unterminated quoted string in From",
        spaced: "Whitespace inside the From URI",
        display: "Unquoted display name with separators in From",
    };
    pub(super) const TO: NameAddr = NameAddr {
        unterminated: "Unterminated quoted string in To",
        spaced: "Whitespace inside the To URI",
        display: "Unquoted display name with separators in To",
    };

    pub(super) fn check(&self, value: &[u8]) -> Result<(), &'static str> {
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
pub(super) struct Quotes {
    pub(super) quoted: bool,
    pub(super) escaped: bool,
    /// A quoted string has begun somewhere before.
    pub(super) seen: bool,
}

impl Quotes {
    /// Feed the next byte; true when it belongs to a quoted string.
    pub(super) fn inside(&mut self, b: u8) -> bool {
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
pub(super) fn has_param(value: &[u8], name: &[u8]) -> bool {
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

/// LWS removed around `/ ; = ,` and runs of LWS made one SP, outside quoted strings and `<>`:
/// the forms RFC 3261 §7.3.1 makes equal to those the stack's parser expects.
pub(super) fn tighten(value: &[u8]) -> Vec<u8> {
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
pub(super) fn repair_ipv6(bytes: &[u8]) -> Vec<u8> {
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

pub(super) fn split_outside_quotes(value: &[u8], sep: u8) -> Vec<&[u8]> {
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

/// RFC 3261 §25.1 `token` characters.
pub(super) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

pub(super) fn parse_u32(digits: &[u8]) -> Option<u32> {
    let digits = trim(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

pub(super) fn skip_leading_crlf(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

pub(super) fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub(super) fn trim(bytes: &[u8]) -> &[u8] {
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

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
