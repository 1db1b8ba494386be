//! What the platform hands the telephony unit at start: where to listen for SIP, the media
//! port range, and the trunks that carry outbound calls. Plain values; this module reads no
//! environment and opens no socket.

use std::net::SocketAddr;
use std::time::Duration;

use crate::media::MediaConfig;

/// Everything [`crate::Voice::start`] needs.
#[derive(Clone, Debug)]
pub struct VoiceConfig {
    /// One address for both SIP transports: UDP and TCP listen on the same IP and port.
    /// Port 0 picks a free UDP port; TCP then listens on that same port number.
    pub sip_listen: SocketAddr,
    /// Host name or IP put in From, Contact and P-Asserted-Identity when the listen address is
    /// not what peers should see (NAT, 0.0.0.0). `None`: the bound address.
    pub public_host: Option<String>,
    pub media: MediaConfig,
    /// Outbound routes; the longest matching number prefix wins (see [`Trunk::prefix`]).
    pub trunks: Vec<Trunk>,
    /// Sent as `User-Agent` in every request and as `Server` in every response. `None`: no
    /// message carries either header (RFC 3261 §20.35, §20.41 make both optional; scanners use
    /// them as a fingerprint).
    pub user_agent: Option<String>,
    /// Where every initial INVITE is appended before it is sent (see
    /// [`read_invite_journal`](crate::read_invite_journal)), so a restart after a crash can
    /// CANCEL an INVITE whose dialog was never stored. `None`: no journal.
    pub invite_journal: Option<std::path::PathBuf>,
}

/// A SIP peer that carries outbound calls for numbers starting with [`Trunk::prefix`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trunk {
    /// Number prefix this trunk serves; `""` matches every number. A leading `+` is ignored on
    /// both sides, so `"+49"` and `"49"` both match `+4930…`.
    pub prefix: String,
    /// `host:port` (or `host`, port 5060) of the trunk's SIP server.
    pub target: String,
    pub transport: Transport,
    /// Digest credentials answered to 401/407 challenges (RFC 3261 §22).
    pub username: Option<String>,
    pub password: Option<String>,
    /// Host part of From and P-Asserted-Identity toward this trunk; `None`: our own host.
    pub from_domain: Option<String>,
    /// How long an INVITE may go without any response (not even 100 Trying) before the trunk
    /// counts as unreachable and the leg ends with [`Unreachable::NoResponse`], so a caller
    /// can try a fallback long before the ring timeout. A working trunk answers within
    /// milliseconds; RFC 3261 Timer A has sent the INVITE four times by 3.5 s.
    ///
    /// [`Unreachable::NoResponse`]: crate::Unreachable::NoResponse
    pub no_response_limit: Duration,
}

/// [`Trunk::no_response_limit`] when the configuration names none, and the limit for a SIP URI
/// destination, which has no trunk.
pub const DEFAULT_NO_RESPONSE_LIMIT: Duration = Duration::from_secs(5);

/// SIP transport toward a trunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}
