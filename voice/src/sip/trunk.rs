//! Outbound routing as pure functions: which trunk carries a number (longest prefix), and the
//! Request-URI that reaches it. No I/O here.

use words::E164;

use crate::config::{Transport, Trunk};
use crate::error::VoiceError;

/// Where an INVITE goes and what credentials answer its challenges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// Request-URI and To URI.
    pub(crate) uri: String,
    pub(crate) transport: Transport,
    pub(crate) credentials: Option<(String, String)>,
    pub(crate) from_domain: Option<String>,
    /// The chosen trunk's configured target, for the call detail record; `None` for a URI.
    pub(crate) trunk: Option<String>,
    /// How long the INVITE may go unanswered before the far end counts as unreachable.
    pub(crate) no_response: std::time::Duration,
}

/// Whether a trunk with `prefix` carries `number`: the number starts with the prefix, a
/// leading `+` ignored on both sides (an empty prefix carries every number). The one rule
/// trunk selection and the web form's "can we call this at all" check share.
pub fn trunk_prefix_carries(prefix: &str, number: &E164) -> bool {
    carries(prefix, number.as_str())
}

fn carries(prefix: &str, number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    digits.starts_with(prefix.strip_prefix('+').unwrap_or(prefix))
}

/// The trunk whose prefix is the longest one the number starts with; among equal prefixes the
/// first configured. A leading `+` is ignored on both sides.
pub(crate) fn select_trunk<'a>(trunks: &'a [Trunk], number: &str) -> Option<&'a Trunk> {
    let mut best: Option<&Trunk> = None;
    for trunk in trunks {
        let prefix = trunk.prefix.strip_prefix('+').unwrap_or(&trunk.prefix);
        if !carries(prefix, number) {
            continue;
        }
        let longer = best.is_none_or(|b| prefix.len() > b.prefix.trim_start_matches('+').len());
        if longer {
            best = Some(trunk);
        }
    }
    best
}

/// Free text the platform puts into a SIP user part (request user such as a DNIS, From user,
/// P-Asserted-Identity): digits with an optional leading `+` (RFC 3261 §19.1.1 allows more,
/// but nothing else belongs in a dialled number, and `@`, `;` or a line break would change the
/// URI or the message around it). The destination number needs no check: an [`E164`] is `+`
/// and digits by construction.
pub(crate) fn check_user(what: &'static str, value: &str) -> Result<(), VoiceError> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    let ok = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#'));
    if ok {
        Ok(())
    } else {
        Err(VoiceError::InvalidUser {
            what,
            value: value.to_string(),
        })
    }
}

/// Route for a number: trunk by prefix, then `sip:{user}@{target}` with `;transport=tcp` on
/// TCP trunks (RFC 3261 §19.1.1 transport parameter).
pub(crate) fn route_number(
    trunks: &[Trunk],
    number: &E164,
    request_user: Option<&str>,
) -> Result<Route, VoiceError> {
    let user = match request_user {
        Some(user) => {
            check_user("request user", user)?;
            user
        }
        None => number.as_str(),
    };
    let trunk = select_trunk(trunks, number.as_str()).ok_or_else(|| VoiceError::NoTrunk {
        masked: number.masked(),
    })?;
    check_target(&trunk.target)?;
    let mut uri = format!("sip:{user}@{}", trunk.target);
    if trunk.transport == Transport::Tcp {
        uri.push_str(";transport=tcp");
    }
    let credentials = match (&trunk.username, &trunk.password) {
        (Some(user), Some(pass)) => Some((user.clone(), pass.clone())),
        _ => None,
    };
    Ok(Route {
        uri,
        transport: trunk.transport,
        credentials,
        from_domain: trunk.from_domain.clone(),
        trunk: Some(trunk.target.clone()),
        no_response: trunk.no_response_limit,
    })
}

/// A trunk target is `host` or `host:port`; anything with URI syntax in it would change the
/// meaning of the Request-URI we build around it.
pub fn check_target(target: &str) -> Result<(), VoiceError> {
    let ok = !target.is_empty()
        && target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(VoiceError::InvalidTrunkTarget {
            target: target.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(number: &str) -> E164 {
        number.parse().expect("a valid test number")
    }

    fn trunk(prefix: &str, target: &str) -> Trunk {
        Trunk {
            prefix: prefix.to_string(),
            target: target.to_string(),
            transport: Transport::Udp,
            username: None,
            password: None,
            from_domain: None,
            no_response_limit: crate::config::DEFAULT_NO_RESPONSE_LIMIT,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let trunks = [
            trunk("", "default:5060"),
            trunk("+49", "de:5060"),
            trunk("4930", "berlin:5060"),
            trunk("+44", "uk:5060"),
            trunk("49", "de-second:5060"),
        ];
        let cases = [
            ("+493012345", "berlin:5060"),
            ("493012345", "berlin:5060"),
            ("+4989123", "de:5060"),
            ("+4420123", "uk:5060"),
            ("+33123", "default:5060"),
            ("4", "default:5060"),
        ];
        for (number, want) in cases {
            let got = select_trunk(&trunks, number).map(|t| t.target.as_str());
            assert_eq!(got, Some(want), "number {number}");
        }
    }

    #[test]
    fn no_catch_all_means_no_route() {
        let trunks = [trunk("+49", "de:5060")];
        assert!(select_trunk(&trunks, "+33123").is_none());
        assert!(select_trunk(&[], "+33123").is_none());
        assert!(matches!(
            route_number(&trunks, &e164("+33123456789"), None),
            Err(VoiceError::NoTrunk { masked }) if masked == "+********789"
        ));
    }

    #[test]
    fn request_uri_uses_dnis_and_transport() {
        let mut tcp = trunk("+1", "10.0.0.1:5080");
        tcp.transport = Transport::Tcp;
        tcp.username = Some("acct".into());
        tcp.password = Some("pw".into());
        let trunks = [trunk("", "gw.example:5060"), tcp];
        let cases: [(&str, Option<&str>, &str); 3] = [
            ("+4930123", None, "sip:+4930123@gw.example:5060"),
            ("+4930123", Some("7001"), "sip:7001@gw.example:5060"),
            (
                "+14155550123",
                None,
                "sip:+14155550123@10.0.0.1:5080;transport=tcp",
            ),
        ];
        for (number, dnis, want) in cases {
            let route = route_number(&trunks, &e164(number), dnis).expect("valid test input");
            assert_eq!(route.uri, want);
        }
        let route = route_number(&trunks, &e164("+14155550123"), None).expect("valid test input");
        assert_eq!(route.credentials, Some(("acct".into(), "pw".into())));
        assert_eq!(route.transport, Transport::Tcp);
        assert_eq!(route.trunk.as_deref(), Some("10.0.0.1:5080"));
    }

    /// The user parts the platform hands in as text; a bad request user stops the route.
    #[test]
    fn users_are_digits_only() {
        let table = [
            ("+4930123", true),
            ("7001", true),
            ("*31#", true),
            ("", false),
            ("+", false),
            ("alice", false),
            ("123@evil", false),
            ("12;transport=tcp", false),
            ("12\r\nVia: x", false),
        ];
        for (user, ok) in table {
            assert_eq!(check_user("from user", user).is_ok(), ok, "{user:?}");
        }
        let trunks = [trunk("", "gw.example")];
        assert!(matches!(
            route_number(&trunks, &e164("+4930123"), Some("70;lr")),
            Err(VoiceError::InvalidUser {
                what: "request user",
                ..
            })
        ));
        let bad_target = [trunk("", "gw;lr")];
        assert!(matches!(
            route_number(&bad_target, &e164("+4930123"), None),
            Err(VoiceError::InvalidTrunkTarget { .. })
        ));
    }
}
