//! SDP (RFC 4566) for one audio stream: our offer, reading the far end's answer, and answering
//! the far end's re-offer (RFC 3264 offer/answer, including hold).
//!
//! Owns text in, typed values out; no sockets. Parsing is lenient where devices differ in the
//! wild (CRLF or bare LF, session- or media-level `c=`, unknown lines and attributes, dynamic
//! telephone-event payload type) and strict where the result would be wrong (no `v=`, lines that
//! are not `<letter>=<value>`, unparsable addresses or ports): those are typed errors, never a
//! panic. Must not decide anything about RTP timing or sockets.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::codec::Codec;

/// The payload type we offer for RFC 4733 telephone-event.
pub(crate) const OFFERED_TELEPHONE_EVENT_PT: u8 = 101;

/// Media direction as the far end declared it (RFC 3264 §5.1, §6.1), already folded with the
/// old-style hold address `c=0.0.0.0` (RFC 3264 §8.4: the far end does not want to receive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The far end sends and receives.
    SendRecv,
    /// The far end only sends (it put us on hold): we must not send.
    SendOnly,
    /// The far end only receives: we send, and expect nothing back.
    RecvOnly,
    /// Nothing flows either way.
    Inactive,
}

impl Direction {
    fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Our direction in an answer to a far end that declared `self` (RFC 3264 §6.1).
    fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Whether the far end wants our RTP.
    pub fn far_end_receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// Whether the far end says it will send RTP.
    pub fn far_end_sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// RFC 3264 §8.4: `c=0.0.0.0` means "do not send to me".
    fn on_hold_address(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendOnly,
            Direction::RecvOnly => Direction::Inactive,
            d => d,
        }
    }
}

/// What the offer/answer exchange settled for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The G.711 law both sides use.
    pub codec: Codec,
    /// The far end's telephone-event payload type, if it accepted RFC 4733 events.
    pub telephone_event_pt: Option<u8>,
    /// Where the far end wants RTP (before symmetric-RTP latching).
    pub remote_rtp: SocketAddr,
    /// The far end's declared direction, folded with `c=0.0.0.0` hold.
    pub direction: Direction,
}

/// Why an SDP body could not be used. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("the SDP body is empty; the far end must send a session description")]
    Empty,
    #[error("the body is not SDP: its first line must be `v=0` (line {line})")]
    NotSdp { line: usize },
    #[error("SDP line {line} is not of the form `<letter>=<value>`")]
    MalformedLine { line: usize },
    #[error("SDP line {line} has a connection address we cannot use (need `IN IP4|IP6 <address>`)")]
    BadConnection { line: usize },
    #[error(
        "SDP line {line} has a media description we cannot read (need `m=<media> <port> <proto> <fmt>...`)"
    )]
    BadMedia { line: usize },
    #[error("the SDP has no audio stream")]
    NoAudio,
    #[error("the far end rejected the audio stream (port 0)")]
    AudioRejected,
    #[error("the audio stream on SDP line {line} is not plain RTP/AVP")]
    UnsupportedTransport { line: usize },
    #[error("the audio stream has no connection address at session or media level")]
    NoConnection,
    #[error("the far end accepted neither PCMU nor PCMA (payload types {offered:?})")]
    NoCommonCodec { offered: Vec<u8> },
}

/// Our side of the session: what goes into `o=`, `c=` and `m=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalMedia {
    pub(crate) advertise_ip: IpAddr,
    pub(crate) port: u16,
    pub(crate) session_id: u64,
    pub(crate) version: u64,
}

impl LocalMedia {
    fn write_session_header(&self, out: &mut String) {
        let family = match self.advertise_ip {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        // Writing into a String cannot fail; the results are ignored for that reason.
        let _ = write!(
            out,
            "v=0\r\no=- {} {} IN {family} {ip}\r\ns=callbond\r\nc=IN {family} {ip}\r\nt=0 0\r\n",
            self.session_id,
            self.version,
            ip = self.advertise_ip
        );
    }
}

/// Our initial offer: PCMU, PCMA and telephone-event/8000 (pt 101, events 0-16), 20 ms.
pub(crate) fn build_offer(local: &LocalMedia) -> String {
    let mut out = String::with_capacity(320);
    local.write_session_header(&mut out);
    let te = OFFERED_TELEPHONE_EVENT_PT;
    let _ = write!(
        out,
        "m=audio {} RTP/AVP 0 8 {te}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
        local.port
    );
    out
}

/// Reads the far end's answer to our offer.
pub(crate) fn parse_answer(sdp: &str) -> Result<Negotiated, SdpError> {
    let session = parse(sdp)?;
    let (_, negotiated) = session.negotiate(None)?;
    Ok(negotiated)
}

/// Answers a far-end offer (a re-INVITE for hold/unhold or a new address). Keeps `current`
/// if the offer still lists it, so a re-offer does not switch laws mid-call needlessly.
pub(crate) fn answer_offer(
    offer: &str,
    local: &LocalMedia,
    current: Option<Codec>,
) -> Result<(String, Negotiated), SdpError> {
    let session = parse(offer)?;
    let (chosen, negotiated) = session.negotiate(current)?;
    let mut out = String::with_capacity(320);
    local.write_session_header(&mut out);
    // RFC 3264 §6: one m-line per offered m-line, in order; the ones we refuse get port 0.
    for (i, m) in session.media.iter().enumerate() {
        if i == chosen {
            let pt = negotiated.codec.payload_type();
            let _ = write!(out, "m=audio {} RTP/AVP {pt}", local.port);
            if let Some(te) = negotiated.telephone_event_pt {
                let _ = write!(out, " {te}");
            }
            let _ = write!(
                out,
                "\r\na=rtpmap:{pt} {}/8000\r\n",
                negotiated.codec.encoding_name()
            );
            if let Some(te) = negotiated.telephone_event_pt {
                let _ = write!(
                    out,
                    "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
                );
            }
            let _ = write!(
                out,
                "a=ptime:20\r\na={}\r\n",
                negotiated.direction.answer().attribute()
            );
        } else {
            let fmt = m.formats.first().map_or("0", String::as_str);
            let _ = write!(out, "m={} 0 {} {fmt}\r\n", m.media, m.proto);
        }
    }
    Ok((out, negotiated))
}

#[derive(Debug, Default)]
struct Session {
    connection: Option<IpAddr>,
    direction: Option<Direction>,
    media: Vec<MediaSection>,
}

#[derive(Debug)]
struct MediaSection {
    line: usize,
    media: String,
    port: u16,
    proto: String,
    formats: Vec<String>,
    connection: Option<IpAddr>,
    direction: Option<Direction>,
    /// `a=rtpmap:<pt> <name>/<rate>` entries: (pt, lower-case name, clock rate).
    rtpmaps: Vec<(u8, String, u32)>,
}

impl Session {
    /// Picks the audio stream and the codec; returns the stream's index and the result.
    fn negotiate(&self, prefer: Option<Codec>) -> Result<(usize, Negotiated), SdpError> {
        let mut rejected = false;
        let mut chosen = None;
        for (i, m) in self.media.iter().enumerate() {
            if m.media != "audio" {
                continue;
            }
            if m.port == 0 {
                rejected = true;
                continue;
            }
            chosen = Some((i, m));
            break;
        }
        let Some((index, m)) = chosen else {
            return Err(if rejected {
                SdpError::AudioRejected
            } else {
                SdpError::NoAudio
            });
        };
        if !m.proto.eq_ignore_ascii_case("RTP/AVP") {
            return Err(SdpError::UnsupportedTransport { line: m.line });
        }
        let pts: Vec<u8> = m.formats.iter().filter_map(|f| f.parse().ok()).collect();
        let codecs: Vec<Codec> = pts.iter().filter_map(|&pt| m.static_codec(pt)).collect();
        let codec = prefer
            .filter(|p| codecs.contains(p))
            .or_else(|| codecs.first().copied())
            .ok_or_else(|| SdpError::NoCommonCodec {
                offered: pts.clone(),
            })?;
        // A payload type mapped both to a G.711 codec and to telephone-event (a broken offer)
        // stays the codec's, whichever codec is chosen: RTP receive sorts events first, so it
        // would turn that audio into events, and the answer must not depend on the codec we
        // prefer (found by the sdp fuzz target: PCMA in use took PCMU's 0 as events).
        let telephone_event_pt = m
            .rtpmaps
            .iter()
            .find(|(pt, name, rate)| {
                name == "telephone-event"
                    && *rate == 8000
                    && pts.contains(pt)
                    && m.static_codec(*pt).is_none()
            })
            .map(|(pt, _, _)| *pt);
        let ip = m
            .connection
            .or(self.connection)
            .ok_or(SdpError::NoConnection)?;
        let mut direction = m
            .direction
            .or(self.direction)
            .unwrap_or(Direction::SendRecv);
        if ip.is_unspecified() {
            direction = direction.on_hold_address();
        }
        let negotiated = Negotiated {
            codec,
            telephone_event_pt,
            remote_rtp: SocketAddr::new(ip, m.port),
            direction,
        };
        Ok((index, negotiated))
    }
}

impl MediaSection {
    /// A static G.711 payload type, unless an rtpmap re-labels it as something else.
    fn static_codec(&self, pt: u8) -> Option<Codec> {
        let codec = Codec::from_payload_type(pt)?;
        match self.rtpmaps.iter().find(|(p, _, _)| *p == pt) {
            Some((_, name, rate)) => {
                (name.eq_ignore_ascii_case(codec.encoding_name()) && *rate == 8000).then_some(codec)
            }
            None => Some(codec),
        }
    }
}

fn parse(sdp: &str) -> Result<Session, SdpError> {
    let mut session = Session::default();
    let mut seen_version = false;
    for (idx, raw) in sdp.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = raw.trim_matches(|c: char| c == '\r' || c == ' ' || c == '\t');
        if line.is_empty() {
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            if !seen_version {
                return Err(SdpError::NotSdp { line: line_no });
            }
            return Err(SdpError::MalformedLine { line: line_no });
        }
        let (kind, value) = (bytes[0], &line[2..]);
        if !seen_version {
            if kind != b'v' || value.trim() != "0" {
                return Err(SdpError::NotSdp { line: line_no });
            }
            seen_version = true;
            continue;
        }
        match kind {
            b'c' => {
                let ip =
                    parse_connection(value).ok_or(SdpError::BadConnection { line: line_no })?;
                match session.media.last_mut() {
                    Some(m) => m.connection = Some(ip),
                    None => session.connection = Some(ip),
                }
            }
            b'm' => session.media.push(parse_media(value, line_no)?),
            b'a' => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                if let Some(d) = Direction::from_attribute(name.trim()) {
                    match session.media.last_mut() {
                        Some(m) => m.direction = Some(d),
                        None => session.direction = Some(d),
                    }
                } else if name == "rtpmap" {
                    // Unreadable rtpmaps are ignored: the static payload types still work.
                    if let (Some(m), Some(map)) = (session.media.last_mut(), parse_rtpmap(arg)) {
                        m.rtpmaps.push(map);
                    }
                }
            }
            // o=, s=, t=, b=, i=, k=, ... carry nothing we act on.
            _ => {}
        }
    }
    if !seen_version {
        return Err(SdpError::Empty);
    }
    Ok(session)
}

/// `IN IP4 192.0.2.1`, `IN IP4 224.2.1.1/127`, `IN IP6 ::1`.
fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut parts = value.split_whitespace();
    let (net, family, addr) = (parts.next()?, parts.next()?, parts.next()?);
    if net != "IN" {
        return None;
    }
    let addr = addr.split('/').next()?;
    let ip: IpAddr = addr.parse().ok()?;
    match (family, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Some(ip),
        _ => None,
    }
}

/// `audio 49170 RTP/AVP 0 8 101` (a port may carry `/<count>`, RFC 4566 §5.14).
fn parse_media(value: &str, line: usize) -> Result<MediaSection, SdpError> {
    let bad = SdpError::BadMedia { line };
    let mut parts = value.split_whitespace();
    let media = parts.next().ok_or_else(|| bad.clone())?;
    let port = parts.next().ok_or_else(|| bad.clone())?;
    let port: u16 = port
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad.clone())?;
    let proto = parts.next().ok_or_else(|| bad.clone())?;
    let formats: Vec<String> = parts.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err(bad);
    }
    Ok(MediaSection {
        line,
        media: media.to_ascii_lowercase(),
        port,
        proto: proto.to_owned(),
        formats,
        connection: None,
        direction: None,
        rtpmaps: Vec::new(),
    })
}

/// `101 telephone-event/8000` → (101, "telephone-event", 8000).
fn parse_rtpmap(arg: &str) -> Option<(u8, String, u32)> {
    let (pt, rest) = arg.trim().split_once(char::is_whitespace)?;
    let mut enc = rest.trim().split('/');
    let name = enc.next()?.to_ascii_lowercase();
    let rate = enc.next()?.trim().parse().ok()?;
    Some((pt.parse().ok()?, name, rate))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const LOCAL: LocalMedia = LocalMedia {
        advertise_ip: IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10)),
        port: 20000,
        session_id: 42,
        version: 1,
    };

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap() // test literals
    }

    #[test]
    fn offer_has_every_required_line() {
        let offer = build_offer(&LOCAL);
        let lines: Vec<&str> = offer.split("\r\n").collect();
        let expected = [
            "v=0",
            "o=- 42 1 IN IP4 192.0.2.10",
            "s=callbond",
            "c=IN IP4 192.0.2.10",
            "t=0 0",
            "m=audio 20000 RTP/AVP 0 8 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=ptime:20",
            "a=sendrecv",
            "",
        ];
        assert_eq!(lines, expected);
        // Our own offer read as an answer gives back what we offered.
        let n = parse_answer(&offer).unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.telephone_event_pt, Some(101));
        assert_eq!(n.remote_rtp, addr("192.0.2.10:20000"));
    }

    #[test]
    fn answers_are_read_robustly() {
        struct Case {
            name: &'static str,
            sdp: &'static str,
            expect: Result<Negotiated, SdpError>,
        }
        let ok = |codec, te, remote: &str, direction| {
            Ok(Negotiated {
                codec,
                telephone_event_pt: te,
                remote_rtp: addr(remote),
                direction,
            })
        };
        let cases = [
            Case {
                name: "crlf, session c=, pcmu + te 101",
                sdp: "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
                expect: ok(Codec::Pcmu, Some(101), "10.0.0.1:4000", Direction::SendRecv),
            },
            Case {
                name: "bare LF, media-level c= overrides session, dynamic te 96, pcma first",
                sdp: "v=0\no=x 1 1 IN IP4 10.0.0.1\ns=x\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 8 0 96\nc=IN IP4 10.0.0.2\na=rtpmap:96 TELEPHONE-EVENT/8000\na=fmtp:96 0-15\n",
                expect: ok(Codec::Pcma, Some(96), "10.0.0.2:5004", Direction::SendRecv),
            },
            Case {
                name: "no telephone-event, unknown lines and attributes ignored",
                sdp: "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nb=AS:64\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\nc=IN IP4 10.0.0.3\r\na=x-foo:bar\r\na=ptime:30\r\na=maxptime:40\r\n",
                expect: ok(Codec::Pcma, None, "10.0.0.3:4000", Direction::SendRecv),
            },
            Case {
                name: "te listed in rtpmap but not in m= is not usable",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0\na=rtpmap:101 telephone-event/8000\n",
                expect: ok(Codec::Pcmu, None, "10.0.0.1:4000", Direction::SendRecv),
            },
            Case {
                name: "sendonly at session level",
                sdp: "v=0\nc=IN IP4 10.0.0.1\na=sendonly\nm=audio 4000 RTP/AVP 0\n",
                expect: ok(Codec::Pcmu, None, "10.0.0.1:4000", Direction::SendOnly),
            },
            Case {
                name: "media recvonly overrides session sendrecv",
                sdp: "v=0\nc=IN IP4 10.0.0.1\na=sendrecv\nm=audio 4000 RTP/AVP 0\na=recvonly\n",
                expect: ok(Codec::Pcmu, None, "10.0.0.1:4000", Direction::RecvOnly),
            },
            Case {
                name: "inactive",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0\na=inactive\n",
                expect: ok(Codec::Pcmu, None, "10.0.0.1:4000", Direction::Inactive),
            },
            Case {
                name: "old-style hold c=0.0.0.0",
                sdp: "v=0\nc=IN IP4 0.0.0.0\nm=audio 4000 RTP/AVP 0\n",
                expect: ok(Codec::Pcmu, None, "0.0.0.0:4000", Direction::SendOnly),
            },
            Case {
                name: "ipv6 and multicast-style ttl suffix",
                sdp: "v=0\nc=IN IP6 ::1\nm=audio 4000/2 RTP/AVP 0\n",
                expect: ok(Codec::Pcmu, None, "[::1]:4000", Direction::SendRecv),
            },
            Case {
                name: "video first, audio second",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=video 5000 RTP/AVP 31\nm=audio 4000 RTP/AVP 0\n",
                expect: ok(Codec::Pcmu, None, "10.0.0.1:4000", Direction::SendRecv),
            },
            Case {
                name: "pt 0 relabelled as something else is not PCMU",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0 8\na=rtpmap:0 G729/8000\n",
                expect: ok(Codec::Pcma, None, "10.0.0.1:4000", Direction::SendRecv),
            },
            Case {
                name: "port 0 rejected",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=audio 0 RTP/AVP 0\n",
                expect: Err(SdpError::AudioRejected),
            },
            Case {
                name: "no audio",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=video 5000 RTP/AVP 31\n",
                expect: Err(SdpError::NoAudio),
            },
            Case {
                name: "no codec",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 18 101\n",
                expect: Err(SdpError::NoCommonCodec {
                    offered: vec![18, 101],
                }),
            },
            Case {
                name: "srtp",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/SAVP 0\n",
                expect: Err(SdpError::UnsupportedTransport { line: 3 }),
            },
            Case {
                name: "no c=",
                sdp: "v=0\nm=audio 4000 RTP/AVP 0\n",
                expect: Err(SdpError::NoConnection),
            },
            Case {
                name: "empty",
                sdp: "",
                expect: Err(SdpError::Empty),
            },
            Case {
                name: "only blank lines",
                sdp: "\r\n\r\n",
                expect: Err(SdpError::Empty),
            },
            Case {
                name: "garbage",
                sdp: "hello world",
                expect: Err(SdpError::NotSdp { line: 1 }),
            },
            Case {
                name: "html",
                sdp: "<html>v=0</html>",
                expect: Err(SdpError::NotSdp { line: 1 }),
            },
            Case {
                name: "v=1",
                sdp: "v=1\nc=IN IP4 1.2.3.4\n",
                expect: Err(SdpError::NotSdp { line: 1 }),
            },
            Case {
                name: "malformed line",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nthis is not sdp\n",
                expect: Err(SdpError::MalformedLine { line: 3 }),
            },
            Case {
                name: "bad address",
                sdp: "v=0\nc=IN IP4 999.1.1.1\nm=audio 4000 RTP/AVP 0\n",
                expect: Err(SdpError::BadConnection { line: 2 }),
            },
            Case {
                name: "family mismatch",
                sdp: "v=0\nc=IN IP6 10.0.0.1\n",
                expect: Err(SdpError::BadConnection { line: 2 }),
            },
            Case {
                name: "hostname",
                sdp: "v=0\nc=IN IP4 host.example\n",
                expect: Err(SdpError::BadConnection { line: 2 }),
            },
            Case {
                name: "bad port",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=audio 70000 RTP/AVP 0\n",
                expect: Err(SdpError::BadMedia { line: 3 }),
            },
            Case {
                name: "m= without formats",
                sdp: "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP\n",
                expect: Err(SdpError::BadMedia { line: 3 }),
            },
        ];
        for case in cases {
            assert_eq!(parse_answer(case.sdp), case.expect, "{}", case.name);
        }
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn garbage_never_panics() {
        let seed = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..5000 {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let pos = (state as usize) % bytes.len();
                bytes[pos] = (state >> 32) as u8;
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_answer(&text);
            let _ = answer_offer(&text, &LOCAL, Some(Codec::Pcma));
        }
    }

    #[test]
    fn reoffer_answers_mirror_direction_and_keep_codec() {
        struct Case {
            offer_dir: &'static str,
            conn: &'static str,
            answer_dir: &'static str,
            direction: Direction,
        }
        let cases = [
            Case {
                offer_dir: "a=sendonly",
                conn: "10.0.0.9",
                answer_dir: "a=recvonly",
                direction: Direction::SendOnly,
            },
            Case {
                offer_dir: "a=recvonly",
                conn: "10.0.0.9",
                answer_dir: "a=sendonly",
                direction: Direction::RecvOnly,
            },
            Case {
                offer_dir: "a=inactive",
                conn: "10.0.0.9",
                answer_dir: "a=inactive",
                direction: Direction::Inactive,
            },
            Case {
                offer_dir: "a=sendrecv",
                conn: "10.0.0.9",
                answer_dir: "a=sendrecv",
                direction: Direction::SendRecv,
            },
            Case {
                offer_dir: "",
                conn: "0.0.0.0",
                answer_dir: "a=recvonly",
                direction: Direction::SendOnly,
            },
        ];
        for c in cases {
            let offer = format!(
                "v=0\r\no=peer 5 6 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 {}\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 8 100\r\na=rtpmap:100 telephone-event/8000\r\n{}\r\n",
                c.conn, c.offer_dir
            );
            let (answer, n) = answer_offer(&offer, &LOCAL, Some(Codec::Pcma)).unwrap();
            assert_eq!(n.direction, c.direction, "{}", c.offer_dir);
            assert_eq!(
                n.codec,
                Codec::Pcma,
                "the current codec is kept when still offered"
            );
            assert_eq!(n.telephone_event_pt, Some(100));
            assert!(
                answer.contains("m=audio 20000 RTP/AVP 8 100\r\n"),
                "{answer}"
            );
            assert!(answer.contains("a=rtpmap:100 telephone-event/8000\r\n"));
            assert!(
                answer.contains(&format!("{}\r\n", c.answer_dir)),
                "{answer}"
            );
            // Our answer is itself valid SDP that we can read back.
            assert_eq!(parse_answer(&answer).unwrap().codec, Codec::Pcma);
        }
    }

    #[test]
    fn reoffer_answer_rejects_extra_streams_in_order() {
        let offer = "v=0\nc=IN IP4 10.0.0.9\nm=video 6000 RTP/AVP 31\nm=audio 7000 RTP/AVP 8 0\n";
        let (answer, n) = answer_offer(offer, &LOCAL, None).unwrap();
        assert_eq!(
            n.codec,
            Codec::Pcma,
            "without a current codec the offerer's first wins"
        );
        let m_lines: Vec<&str> = answer
            .split("\r\n")
            .filter(|l| l.starts_with("m="))
            .collect();
        assert_eq!(m_lines, ["m=video 0 RTP/AVP 31", "m=audio 20000 RTP/AVP 8"]);
        assert!(
            !answer.contains("telephone-event"),
            "no te when the offer had none"
        );
        assert_eq!(
            answer_offer("v=0\nc=IN IP4 1.1.1.1\nm=audio 0 RTP/AVP 0\n", &LOCAL, None),
            Err(SdpError::AudioRejected)
        );
    }

    /// PCMU's static 0 also mapped to telephone-event: never events, whichever codec is in use
    /// (the sdp fuzz target found the re-offer path taking 0 as events while PCMA was in use).
    #[test]
    fn a_codec_payload_type_is_never_telephone_event_whatever_codec_is_preferred() {
        let offer = "v=0\nc=IN IP4 10.0.0.9\nm=audio 7000 RTP/AVP 0 8\n\
                     a=rtpmap:0 PCMU/8000\na=rtpmap:0 telephone-event/8000\n";
        assert_eq!(parse_answer(offer).unwrap().telephone_event_pt, None);
        for current in [None, Some(Codec::Pcmu), Some(Codec::Pcma)] {
            let (answer, n) = answer_offer(offer, &LOCAL, current).unwrap();
            assert_eq!(n.telephone_event_pt, None, "{current:?}");
            assert!(!answer.contains("telephone-event"), "{current:?}: {answer}");
        }
    }

    #[test]
    fn ipv6_local_uses_ip6() {
        let local = LocalMedia {
            advertise_ip: "2001:db8::1".parse().unwrap(),
            ..LOCAL
        };
        let offer = build_offer(&local);
        assert!(offer.contains("c=IN IP6 2001:db8::1\r\n"));
        assert!(offer.contains("o=- 42 1 IN IP6 2001:db8::1\r\n"));
    }
}
