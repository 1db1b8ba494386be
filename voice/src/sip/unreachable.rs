//! What the network says about addresses we send SIP to: the ICMP errors (port, host or
//! network unreachable) that come back for a datagram, read from the SIP socket's error queue,
//! become [`Unreached`] notices that the leg tasks waiting on an INVITE listen to. Without
//! this a trunk with no SIP server behind it looks like a phone that never answers and costs
//! the whole ring timeout (issue 11, item 2).
//!
//! Linux drops ICMP errors for an unconnected UDP socket unless `IP_RECVERR` is set (ip(7));
//! with it, each error is queued with the destination the datagram went to and the start of
//! the datagram itself (the ICMP message quotes it, RFC 792, up to 576 bytes in all for IPv4,
//! RFC 1812 §4.3.2.3), and the next receive returns the error once. This module owns the
//! socket option and the queue; it does not decide what a leg does with a notice.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, SockaddrStorage, sockopt};
use tokio::sync::broadcast;
use tracing::{debug, info};

/// Notices not yet read by a slow leg task; beyond this it misses the oldest (and falls back
/// to its no-response limit).
const NOTICE_QUEUE: usize = 256;

/// Why the network says a destination cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// Nothing answered the INVITE, not even 100 Trying, within the trunk's no-response limit.
    NoResponse,
    /// ICMP port unreachable: the host is there, but no SIP server listens on that port.
    PortUnreachable,
    /// ICMP host or network unreachable (or a route that refuses the packet).
    HostUnreachable,
}

/// One ICMP error for a datagram we sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unreached {
    /// Where the datagram was sent.
    pub(crate) to: SocketAddr,
    /// The Call-ID of the message, when the quoted start of the datagram holds that whole
    /// header line.
    pub(crate) call_id: Option<String>,
    pub(crate) why: Unreachable,
}

/// The channel notices go out on; each leg task waiting for an INVITE's response subscribes.
#[derive(Clone)]
pub(crate) struct Notices(broadcast::Sender<Unreached>);

impl Notices {
    pub(crate) fn new() -> Self {
        Self(broadcast::channel(NOTICE_QUEUE).0)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Unreached> {
        self.0.subscribe()
    }

    fn publish(&self, notice: Unreached) {
        // No receiver: no INVITE is waiting, nothing to tell.
        let _ = self.0.send(notice);
    }
}

/// Ask the kernel to queue ICMP errors on `socket` instead of dropping them.
pub(crate) fn enable<S: AsFd>(socket: &S, ipv6: bool) -> io::Result<()> {
    let set = if ipv6 {
        socket::setsockopt(socket, sockopt::Ipv6RecvErr, &true)
    } else {
        socket::setsockopt(socket, sockopt::Ipv4RecvErr, &true)
    };
    set.map_err(io::Error::from)
}

/// Whether a receive error is the kernel reporting a queued ICMP error (so the socket is fine
/// and the queue should be read), rather than the socket failing.
pub(crate) fn is_queued_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error().map(Errno::from_raw),
        Some(Errno::ECONNREFUSED | Errno::EHOSTUNREACH | Errno::ENETUNREACH | Errno::EACCES)
    )
}

/// Read every queued error from `socket` without blocking and publish each as a notice.
/// Returns how many were read.
pub(crate) fn drain<S: AsFd>(socket: &S, notices: &Notices) -> usize {
    let fd = socket.as_fd().as_raw_fd();
    let mut read = 0;
    // The quoted datagram: at most 576 bytes for IPv4, 1280 for IPv6 (RFC 4443 §2.4).
    let mut quoted = [0u8; 1280];
    let mut control = vec![0u8; 512];
    loop {
        let mut iov = [io::IoSliceMut::new(&mut quoted)];
        let message = socket::recvmsg::<SockaddrStorage>(
            fd,
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        );
        let message = match message {
            Ok(message) => message,
            Err(Errno::EAGAIN | Errno::EINTR) => break,
            Err(error) => {
                debug!(%error, "voice: could not read the socket's error queue");
                break;
            }
        };
        read += 1;
        let to = message.address.as_ref().and_then(socket_addr);
        let why = match message.cmsgs() {
            Ok(mut cmsgs) => cmsgs.find_map(|cmsg| match cmsg {
                ControlMessageOwned::Ipv4RecvErr(err, _)
                | ControlMessageOwned::Ipv6RecvErr(err, _) => classify(err.ee_errno),
                _ => None,
            }),
            Err(_) => None,
        };
        let bytes = message.bytes.min(quoted.len());
        let (Some(to), Some(why)) = (to, why) else {
            debug!("voice: an error-queue entry without destination or known cause");
            continue;
        };
        let call_id = call_id_in(&quoted[..bytes]);
        info!(%to, ?why, call_id = call_id.as_deref().unwrap_or("-"),
            "voice: the network reports a SIP destination unreachable");
        notices.publish(Unreached { to, call_id, why });
    }
    read
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

/// The ICMP error as a cause; `None` for errors that say nothing about reachability (e.g.
/// "message too long").
fn classify(errno: u32) -> Option<Unreachable> {
    let errno = Errno::from_raw(i32::try_from(errno).ok()?);
    match errno {
        Errno::ECONNREFUSED => Some(Unreachable::PortUnreachable),
        Errno::EHOSTUNREACH | Errno::ENETUNREACH | Errno::EACCES => {
            Some(Unreachable::HostUnreachable)
        }
        _ => None,
    }
}

/// The Call-ID in the start of a SIP message, if its header line is complete there (the
/// quote may cut the message anywhere). Long form or compact `i` (RFC 3261 §20.8).
pub(crate) fn call_id_in(quoted: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(quoted);
    // Only lines that end in CRLF inside the quote are whole.
    let whole = &text[..text.rfind("\r\n")?];
    whole.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        let is_call_id = name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i");
        let value = value.trim();
        (is_call_id && !value.is_empty()).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_is_found_only_when_its_line_is_whole() {
        let invite = "INVITE sip:+4930123@10.0.0.1:5060 SIP/2.0\r\n\
                      Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKabc\r\n\
                      Call-ID: 3f2a9c@callbond.example\r\n\
                      CSeq: 1 INVITE\r\n";
        let cases: &[(&str, Option<&str>)] = &[
            (invite, Some("3f2a9c@callbond.example")),
            // Cut inside the Call-ID value: the value may be partial, so it is not used.
            (&invite[..invite.find("callbond").unwrap_or(0)], None),
            // Cut before the Call-ID line.
            (&invite[..invite.find("Call-ID").unwrap_or(0)], None),
            (
                "INVITE sip:a@b SIP/2.0\r\ni:  short-form@x \r\n\r\n",
                Some("short-form@x"),
            ),
            (
                "INVITE sip:a@b SIP/2.0\r\ncall-id: lower@x\r\n",
                Some("lower@x"),
            ),
            // The request line is never a header, even if it looks like one.
            ("Call-ID: x\r\n", None),
            ("", None),
            ("\u{0}\u{ff}\r\n", None),
        ];
        for (quoted, expected) in cases {
            assert_eq!(
                call_id_in(quoted.as_bytes()).as_deref(),
                *expected,
                "{quoted:?}"
            );
        }
    }

    #[test]
    fn icmp_errors_map_to_causes() {
        let cases = [
            (Errno::ECONNREFUSED, Some(Unreachable::PortUnreachable)),
            (Errno::EHOSTUNREACH, Some(Unreachable::HostUnreachable)),
            (Errno::ENETUNREACH, Some(Unreachable::HostUnreachable)),
            (Errno::EMSGSIZE, None),
        ];
        for (errno, expected) in cases {
            assert_eq!(classify(errno as u32), expected, "{errno}");
        }
    }

    /// A datagram to a closed loopback port comes back as ICMP port unreachable; with the
    /// option set the kernel queues it, and the notice names the destination and Call-ID.
    #[tokio::test]
    async fn a_closed_port_is_reported_with_its_call_id() -> anyhow::Result<()> {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
        // Bound and dropped: nothing listens on `closed` now.
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        enable(&socket, false)?;
        let notices = Notices::new();
        let mut heard = notices.subscribe();
        let invite = "INVITE sip:+4930123@127.0.0.1 SIP/2.0\r\nCall-ID: probe-1@test\r\n\r\n";
        socket.send_to(invite.as_bytes(), closed).await?;
        let mut buf = [0u8; 64];
        let error = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            socket.recv_from(&mut buf),
        )
        .await?
        .expect_err("an ICMP error, not a datagram");
        assert!(is_queued_error(&error), "{error}");
        assert_eq!(drain(&socket, &notices), 1);
        assert_eq!(
            heard.try_recv()?,
            Unreached {
                to: closed,
                call_id: Some("probe-1@test".to_string()),
                why: Unreachable::PortUnreachable,
            }
        );
        Ok(())
    }
}
