//! The INVITE an [`OriginateRequest`] becomes: route (trunk or URI), From, Contact, TAG2
//! headers, credentials and our SDP offer, as rsipstack's [`InviteOption`]. Checks every piece
//! of outside text that ends up in the request; sends nothing.

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::Uri;

use super::Inner;
use super::message::InviteHeaders;
use super::trunk::{self, Route};
use crate::config::Transport;
use crate::error::VoiceError;
use crate::leg::{Destination, OriginateRequest};

/// An INVITE ready for the dialog layer.
pub(super) struct PreparedInvite {
    pub(super) option: InviteOption,
    pub(super) call_id: String,
    /// The destination as logs may show it.
    pub(super) masked_to: String,
    pub(super) transport: Transport,
    /// The trunk's target, for the call detail record; `None` for a URI destination.
    pub(super) trunk: Option<String>,
    /// How long the INVITE may go without any response before the leg ends as unreachable.
    pub(super) no_response: std::time::Duration,
    /// Where the INVITE goes when the Request-URI names an IP address (no DNS), so an ICMP
    /// error whose quote lacks the Call-ID can still be matched to this leg.
    pub(super) destination: Option<std::net::SocketAddr>,
}

/// Everything but the SDP offer, so a bad request fails before a media port is taken.
pub(super) fn prepare(
    inner: &Inner,
    request: &OriginateRequest,
) -> Result<PreparedInvite, VoiceError> {
    let route = route_for(inner, request)?;
    trunk::check_user("from user", &request.from_user)?;
    if let Some(display) = &request.from_display {
        // A quote or line break would end the display-name early (RFC 3261 §25.1 quoted-string).
        if display
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(VoiceError::InvalidHeader {
                name: "From display name".to_string(),
            });
        }
    }
    let from_host = route
        .from_domain
        .clone()
        .unwrap_or_else(|| inner.host.clone());
    let callee = parse_uri(&route.uri)?;
    let caller = parse_uri(&format!("sip:{}@{from_host}", request.from_user))?;
    let contact = parse_uri(&format!(
        "sip:{}@{}:{}",
        request.from_user,
        inner.host,
        inner.sip_addr.port()
    ))?;
    let headers = InviteHeaders {
        host: &from_host,
        p_asserted_identity: request.p_asserted_identity.as_deref(),
        user_to_user: request.user_to_user.as_deref(),
        extra: &request.extra_headers,
    }
    .build()?;
    let call_id = format!("{}@{}", hex::encode(rand::random::<[u8; 12]>()), inner.host);
    let destination = ip_destination(&callee.host_with_port.to_string());
    let option = InviteOption {
        caller_display_name: request.from_display.clone(),
        caller,
        callee,
        contact,
        content_type: Some("application/sdp".to_string()),
        credential: route.credentials.map(|(username, password)| Credential {
            username,
            password,
            realm: None,
            auth_username: None,
        }),
        headers: Some(headers),
        call_id: Some(call_id.clone()),
        ..Default::default()
    };
    Ok(PreparedInvite {
        option,
        call_id,
        masked_to: mask_destination(&request.to),
        transport: route.transport,
        trunk: route.trunk,
        no_response: route.no_response,
        destination,
    })
}

/// `host[:port]` as a socket address when the host is an IP address (port 5060 when none is
/// given, RFC 3261 §19.1.2); `None` for a name, which the stack resolves itself.
fn ip_destination(host_port: &str) -> Option<std::net::SocketAddr> {
    if let Ok(addr) = host_port.parse() {
        return Some(addr);
    }
    let ip: std::net::IpAddr = host_port.trim_matches(['[', ']']).parse().ok()?;
    Some(std::net::SocketAddr::new(ip, 5060))
}

fn route_for(inner: &Inner, request: &OriginateRequest) -> Result<Route, VoiceError> {
    match &request.to {
        Destination::Number(number) => trunk::route_number(
            &inner.config.trunks,
            number,
            request.request_user.as_deref(),
        ),
        Destination::Uri(uri) => {
            let parsed = parse_uri(uri)?;
            let tcp = parsed.params.iter().any(|p| {
                matches!(
                    p,
                    rsipstack::sip::Param::Transport(rsipstack::sip::Transport::Tcp)
                )
            });
            Ok(Route {
                uri: uri.clone(),
                transport: if tcp { Transport::Tcp } else { Transport::Udp },
                credentials: None,
                from_domain: None,
                trunk: None,
                no_response: crate::config::DEFAULT_NO_RESPONSE_LIMIT,
            })
        }
    }
}

/// A `sip:` URI with a host; the parser alone accepts nearly any text, so the shape is
/// checked first (RFC 3261 §19.1.1: no spaces, angle brackets or quotes inside a SIP-URI).
pub(super) fn parse_uri(uri: &str) -> Result<Uri, VoiceError> {
    let invalid = || VoiceError::InvalidUri {
        uri: uri.to_string(),
    };
    let rest = uri
        .get(..4)
        .filter(|scheme| scheme.eq_ignore_ascii_case("sip:"))
        .map(|_| &uri[4..])
        .ok_or_else(invalid)?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let clean = !uri
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
    if !clean || host.is_empty() || host.starts_with([':', ';']) {
        return Err(invalid());
    }
    Uri::try_from(uri).map_err(|_| invalid())
}

/// The destination as logs show it, through the platform's one masker (`words::mask`), so a
/// number reads the same in voice's spans as in the platform's timeline. A URI is masked with
/// it too: its user part is usually a number.
fn mask_destination(to: &Destination) -> String {
    match to {
        Destination::Number(n) => n.masked(),
        Destination::Uri(u) => words::mask(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_uris() {
        let table = [
            ("sip:7001@127.0.0.1:5060", true),
            ("sip:+4930123@gw.example;transport=tcp", true),
            ("SIP:gw.example", true),
            ("not a uri", false),
            ("tel:+4930123", false),
            ("sip:", false),
            ("sip:7001@", false),
            ("sip:7001@:5060", false),
            ("sip:a b@host", false),
            ("sip:x@host>\r\nVia: evil", false),
        ];
        for (uri, ok) in table {
            assert_eq!(parse_uri(uri).is_ok(), ok, "{uri:?}");
        }
    }

    #[test]
    fn ip_destinations_are_known_and_names_are_left_to_the_stack() {
        let table = [
            ("127.0.0.1:5070", Some("127.0.0.1:5070")),
            ("10.1.2.3", Some("10.1.2.3:5060")),
            ("[::1]:5070", Some("[::1]:5070")),
            ("[2001:db8::1]", Some("[2001:db8::1]:5060")),
            ("gw.example:5060", None),
            ("gw.example", None),
        ];
        for (host_port, expected) in table {
            let expected = expected.map(|e| e.parse().expect("a socket address"));
            assert_eq!(ip_destination(host_port), expected, "{host_port}");
        }
        // As the URI prints it: what `prepare` gives the function.
        let uri = parse_uri("sip:7001@127.0.0.1:5070").expect("a valid URI");
        assert_eq!(uri.host_with_port.to_string(), "127.0.0.1:5070");
    }

    #[test]
    fn logs_show_neither_a_number_nor_a_uri_user_in_full() {
        let number = "+4930123456".parse().expect("a valid test number");
        let number = mask_destination(&Destination::Number(number));
        assert_eq!(number, "+*******456");
        let uri = mask_destination(&Destination::Uri("sip:4930123456@gw.example".into()));
        assert!(!uri.contains("4930123"), "{uri}");
        assert!(uri.ends_with("ple"), "{uri}");
    }
}
