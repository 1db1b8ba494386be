//! Turning what the database knows about one call (the route of the network abstraction table,
//! the subscriber's policy) and what the web front handed over (TAG1, the user's number) into
//! the flow's [`FlowSpec`]: TAG1 → TAG2 (seed 002 step 205). Blocking database reads; run it on
//! a blocking thread. It decides nothing about the call itself.

use std::time::Duration;

use subscriber_db::{Db, DbError, Policy, Route, XHeaderNames};
use words::{E164, EndCause};

use super::CallRequest;
use crate::flow::{self, FlowSpec, Texts, Timeouts, WhisperVars};

/// Said to the agent while the user's phone rings (center first, simultaneous).
const CENTER_WAIT: &str = "Please hold, we are calling the customer now.";
/// Said to the agent after a wrong sign-on PIN.
const WRONG_PIN: &str = "Wrong PIN. Please enter your PIN again.";
/// How long before the maximum call length both parties are warned: a minute, or a quarter
/// of a shorter maximum.
fn max_call_warning_before(max: Duration) -> Duration {
    Duration::from_secs((max.as_secs() / 4).min(60))
}

/// The warning both parties hear `before` the end.
fn max_call_warning_text(before: Duration) -> String {
    let when = match before.as_secs() {
        60 => "one minute".to_owned(),
        secs => format!("{secs} seconds"),
    };
    format!("This call has almost reached its maximum length and will end in {when}.")
}
/// Wrong PINs forgiven before the call ends: three tries in all.
const PIN_RETRIES: u32 = 2;

/// Why a call could not be set up from the tables.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("the subject code has no route in the network abstraction table; add one")]
    NoRoute,
    #[error("the database could not be read: {0}")]
    Db(#[source] DbError),
}

impl SpecError {
    /// The call record's end cause.
    pub(super) fn cause(&self) -> EndCause {
        match self {
            SpecError::NoRoute => EndCause::NoRoute,
            // A stored value that no longer parses is the route's or policy's fault.
            SpecError::Db(DbError::Corrupt { .. } | DbError::CorruptJson { .. }) => {
                EndCause::BadRoute
            }
            SpecError::Db(_) => EndCause::DatabaseError,
        }
    }
}

/// The call as the runtime runs it: the flow's spec plus what only the runtime needs.
#[derive(Debug, Clone)]
pub(super) struct CallSetup {
    pub(super) spec: FlowSpec,
    /// Presented as the caller (From) on the user leg: the call center the user expects.
    pub(super) user_leg_caller: E164,
    /// The route's label for its subject, as agents read it on the console.
    pub(super) route_label: Option<String>,
}

/// Reads route and policy and builds the call's setup.
pub(super) fn load(db: &Db, request: &CallRequest) -> Result<CallSetup, SpecError> {
    let route = db
        .get_route(&request.subscriber, &request.subject)
        .map_err(|e| match e {
            DbError::NotFound { .. } => SpecError::NoRoute,
            other => SpecError::Db(other),
        })?;
    let policy = db.get_policy(&request.subscriber).map_err(SpecError::Db)?;
    Ok(build(request, &route, &policy))
}

/// The pure part of [`load`].
pub(super) fn build(request: &CallRequest, route: &Route, policy: &Policy) -> CallSetup {
    let user_number = request.user_number.clone();
    let center_number = route.center_number.clone();
    let whisper_code = request
        .whisper_code
        .as_ref()
        .map(|c| c.as_str())
        .unwrap_or("");
    let whisper = flow::fill_whisper(
        route.whisper_template.as_str(),
        &WhisperVars {
            subject: request.subject.as_str(),
            whisper_code,
            page: request.page.as_deref().unwrap_or(""),
            number: user_number.as_str(),
        },
    );
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let max_call_length = secs(policy.max_call_length_secs.get());
    let warning_before = max_call_warning_before(max_call_length);
    let announcements = &policy.announcements;
    let texts = Texts {
        whisper,
        hold: announcements.hold.as_str().to_owned(),
        center_wait: CENTER_WAIT.to_owned(),
        center_unreachable: announcements.center_unreachable.as_str().to_owned(),
        goodbye: announcements.goodbye.as_str().to_owned(),
        wrong_pin: WRONG_PIN.to_owned(),
        max_call_warning: max_call_warning_text(warning_before),
        // The call reference, and the prompt saying it, are the runtime's to choose.
        claim_prompt: String::new(),
    };
    let timeouts = Timeouts {
        user_ring: secs(policy.ring_timeout_user_secs.get()),
        center_ring: secs(policy.ring_timeout_center_secs.get()),
        sign_on: secs(policy.sign_on_timeout_secs.get()),
        max_call_length,
        max_call_warning: warning_before,
        ..Timeouts::default()
    };
    let context = &route.context;
    let spec = FlowSpec {
        session_ref: request.session_ref.clone(),
        // A callback attempt asking for consent reaches the visitor before the center.
        call_order: if request.consent_key.is_some() {
            words::CallOrder::UserFirst
        } else {
            policy.call_order
        },
        ani: user_number.clone(),
        user_number,
        center_number: center_number.clone(),
        fallback_numbers: route.fallback_numbers.clone(),
        // A drawn code replaces the fixed one (a route has one or the other); a call drawn
        // before its route lost its range keeps the code it holds.
        dnis: request.drawn_dnis.clone().or_else(|| route.dnis.clone()),
        uui: if context.uui {
            user_to_user(request)
        } else {
            Vec::new()
        },
        center_headers: if context.x_headers {
            x_headers(request, &context.x_header_names)
        } else {
            Vec::new()
        },
        send_ref_digits: context.dtmf_ref,
        texts,
        sign_on: policy.sign_on.clone(),
        timeouts,
        pin_retries: PIN_RETRIES,
        call_reference: None,
        consent: request.consent_key.map(|key| flow::Consent {
            key,
            prompt: super::sentences::consent_prompt(key),
            timeout: secs(policy.callback.consent_timeout_secs.get()),
        }),
    };
    CallSetup {
        spec,
        user_leg_caller: center_number,
        route_label: route.label.as_ref().map(|l| l.as_str().to_owned()),
    }
}

/// TAG2 User-to-User payload (RFC 7433): the whisper code and the session reference as ASCII
/// `wc=CODE;ref=REF` (`wc` left out when the link had none). `voice` hex-encodes it on the
/// wire (RFC 7433 §4.1), so any byte would do; ASCII keeps it readable in CTI logs. The
/// reference is the numeric one every channel carries, not the browser's session id: that
/// one is the browser's capability and never leaves the platform.
pub(super) fn user_to_user(request: &CallRequest) -> Vec<u8> {
    let mut uui = String::new();
    if let Some(code) = &request.whisper_code {
        uui.push_str("wc=");
        uui.push_str(code.as_str());
        uui.push(';');
    }
    uui.push_str("ref=");
    uui.push_str(request.session_ref.as_str());
    uui.into_bytes()
}

/// TAG2 `X-` headers: the session reference and the TAG1 fields (subject code, whisper code
/// when the link had one, subscriber id), under the route's names. Every value is a
/// validated word (digits, `[A-Za-z0-9_.-]`, a slug), so none can carry CR or LF.
pub(super) fn x_headers(request: &CallRequest, names: &XHeaderNames) -> Vec<(String, String)> {
    let mut headers = vec![
        (
            names.session_ref.to_string(),
            request.session_ref.to_string(),
        ),
        (names.subject.to_string(), request.subject.to_string()),
    ];
    if let Some(code) = &request.whisper_code {
        headers.push((names.whisper_code.to_string(), code.to_string()));
    }
    headers.push((names.subscriber.to_string(), request.subscriber.to_string()));
    headers
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use subscriber_db::{SessionId, SubjectCode, SubscriberId, WhisperCode};
    use words::{CallOrder, SignOnMode};

    fn request(wc: Option<&str>) -> CallRequest {
        CallRequest {
            subscriber: SubscriberId::try_from("acme").unwrap(),
            session: SessionId::try_from("0123456789abcdef0123456789abcdef").unwrap(),
            session_ref: "2718281828".parse().unwrap(),
            drawn_dnis: None,
            subject: SubjectCode::try_from("billing").unwrap(),
            whisper_code: wc.map(|c| WhisperCode::try_from(c).unwrap()),
            user_number: E164::try_from("+493055500001").unwrap(),
            page: Some("/tariffs".into()),
            consent_key: None,
        }
    }

    fn route() -> Route {
        serde_json::from_value(serde_json::json!({
            "subject_code": "billing",
            "center_number": "+494012345678",
            "dnis": "8001",
            "whisper_template": "Customer {whisper_code} about {subject}",
            "fallback_numbers": ["+494012345679"],
        }))
        .unwrap()
    }

    #[test]
    fn tag1_becomes_tag2() {
        let setup = build(&request(Some("4711")), &route(), &Policy::default());
        let spec = setup.spec;
        assert_eq!(spec.dnis.as_ref().map(|d| d.as_str()), Some("8001"));
        assert_eq!(spec.ani.as_str(), "+493055500001");
        assert_eq!(spec.center_number.as_str(), "+494012345678");
        assert_eq!(spec.fallback_numbers.len(), 1);
        assert_eq!(spec.texts.whisper, "Customer 4 7 1 1 about billing");
        assert_eq!(spec.uui, b"wc=4711;ref=2718281828");
        assert_eq!(spec.session_ref.as_str(), "2718281828");
        // The defaults: no X- headers, no digits.
        assert!(spec.center_headers.is_empty());
        assert!(!spec.send_ref_digits);
        assert_eq!(spec.call_order, CallOrder::UserFirst);
        assert_eq!(spec.sign_on, SignOnMode::Hash);
        assert_eq!(spec.timeouts.user_ring, Duration::from_secs(30));
        assert_eq!(spec.timeouts.max_call_length, Duration::from_secs(3600));
        assert_eq!(spec.timeouts.max_call_warning, Duration::from_secs(60));
        assert!(
            spec.texts
                .max_call_warning
                .ends_with("will end in one minute.")
        );
        assert_eq!(setup.user_leg_caller.as_str(), "+494012345678");
    }

    #[test]
    fn no_whisper_code_leaves_it_out_of_the_uui() {
        assert_eq!(user_to_user(&request(None)), b"ref=2718281828");
    }

    /// Each channel the route switches on carries the same reference; a drawn DNIS replaces
    /// the fixed one.
    #[test]
    fn route_context_picks_the_channels() {
        let mut route = route();
        route.dnis = None;
        route.context = serde_json::from_value(serde_json::json!({
            "dnis_range": "4700-4709", "uui": false, "x_headers": true,
            "x_header_names": {"subject": "X-Acme-Topic"}, "dtmf_ref": true,
        }))
        .unwrap();
        let mut req = request(Some("4711"));
        req.drawn_dnis = Some("4703".parse().unwrap());
        let spec = build(&req, &route, &Policy::default()).spec;
        assert_eq!(spec.dnis.as_ref().map(|d| d.as_str()), Some("4703"));
        assert!(spec.uui.is_empty(), "uui switched off");
        let headers: Vec<(&str, &str)> = spec
            .center_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("X-Callbond-Ref", "2718281828"),
                ("X-Acme-Topic", "billing"),
                ("X-Callbond-Whisper-Code", "4711"),
                ("X-Callbond-Subscriber", "acme"),
            ]
        );
        assert!(spec.send_ref_digits);
        // Without a whisper code in the link its header is left out.
        let spec = build(&request(None), &route, &Policy::default()).spec;
        let names: Vec<&str> = spec
            .center_headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            names,
            ["X-Callbond-Ref", "X-Acme-Topic", "X-Callbond-Subscriber"]
        );
    }

    #[test]
    fn policy_choices_reach_the_spec() {
        let policy: Policy = serde_json::from_value(serde_json::json!({
            "call_order": "center_first",
            "sign_on": {"mode": "pin", "pin": "2468"},
            "ring_timeout_center_secs": 7,
            "sign_on_timeout_secs": 9,
            "max_call_length_secs": 60,
        }))
        .unwrap();
        let spec = build(&request(None), &route(), &policy).spec;
        assert_eq!(spec.call_order, CallOrder::CenterFirst);
        assert_eq!(spec.sign_on, SignOnMode::Pin("2468".parse().unwrap()));
        assert_eq!(spec.timeouts.center_ring, Duration::from_secs(7));
        assert_eq!(spec.timeouts.sign_on, Duration::from_secs(9));
        assert_eq!(spec.timeouts.max_call_length, Duration::from_secs(60));
        // A quarter of a maximum under four minutes.
        assert_eq!(spec.timeouts.max_call_warning, Duration::from_secs(15));
        assert!(
            spec.texts
                .max_call_warning
                .ends_with("will end in 15 seconds.")
        );
    }
}
