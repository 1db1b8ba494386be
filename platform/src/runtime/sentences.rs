//! What the visitor's browser is told for each status of the flow: the status word (from
//! `words`, the same the call record and the logs use) and the sentence shown with it. No I/O;
//! the one table of those sentences.

use pagepush::PushEvent;
use words::{CallStatus, EndCause};

use crate::flow::Status;

/// The call record's word for a flow status.
pub(crate) fn call_status(status: &Status) -> CallStatus {
    match status {
        Status::Calling => CallStatus::Calling,
        Status::Connecting | Status::AwaitingConsent { .. } => CallStatus::Connecting,
        Status::AgentOnLine => CallStatus::AgentOnLine,
        Status::Ended { .. } => CallStatus::Ended,
    }
}

/// The push event the browser gets for a status.
pub(crate) fn push_event(status: &Status) -> PushEvent {
    match status {
        Status::Calling => PushEvent::status(
            CallStatus::Calling,
            "We are calling your phone now. Please answer it.",
        ),
        Status::Connecting => PushEvent::status(
            CallStatus::Connecting,
            "We are connecting you to an agent. Please stay on the line.",
        ),
        Status::AwaitingConsent { key } => {
            PushEvent::status(CallStatus::Connecting, consent_text(*key))
        }
        Status::AgentOnLine => {
            PushEvent::status(CallStatus::AgentOnLine, "An agent is on the line.")
        }
        Status::Ended { cause } => PushEvent::Ended {
            cause: *cause,
            text: ended_text(*cause).to_owned(),
        },
    }
}

/// What the visitor's page says while their phone waits for the consent key.
pub(crate) fn consent_text(key: words::DtmfKey) -> String {
    format!("Press {key} on your phone's keypad now to be connected to an agent.")
}

/// What the visitor hears, looped, when they answer a callback attempt.
pub(crate) fn consent_prompt(key: words::DtmfKey) -> String {
    format!(
        "We are calling you back, as you asked on the web. To talk to an agent now, press {key}."
    )
}

/// What the agent alone hears when its keys select no page: each key said on its own.
pub(crate) fn no_page_notice(keys: &str) -> String {
    let spoken: Vec<String> = keys
        .chars()
        .map(|k| match k {
            '*' => "star".to_owned(),
            '#' => "hash".to_owned(),
            k => k.to_string(),
        })
        .collect();
    format!("No page for {}.", spoken.join(" "))
}

/// What the agent hears, looped, while a console offer waits: the call reference digit by
/// digit, so "427" is heard as "4 2 7" and matched against the console.
pub(crate) fn claim_prompt(reference: &str) -> String {
    let spoken: Vec<String> = reference.chars().map(String::from).collect();
    format!(
        "Call reference {}. Claim it on your console.",
        spoken.join(" ")
    )
}

/// The sentence the Connect page shows when the call ended this way.
pub(crate) fn ended_text(cause: EndCause) -> &'static str {
    match cause {
        EndCause::UserHungUp | EndCause::AgentHungUp => "The call has ended. Thank you.",
        EndCause::UserBusy => {
            "Your phone was busy, so we could not connect you. Please try again later."
        }
        EndCause::UserNoAnswer => {
            "Your phone rang, but nobody answered. Please try again when you can take the call."
        }
        EndCause::UserRejected => {
            "Your phone's network turned the call away. Check the number and try again."
        }
        // Our side of the phone network did not answer: nothing the visitor can fix.
        EndCause::UserUnreachable => {
            "We could not get through to the phone network, so your phone was not called. \
             Please try again in a few minutes."
        }
        EndCause::UserLeftBeforeBridge => {
            "You hung up before an agent joined. Start again whenever you like."
        }
        EndCause::AgentLeftBeforeBridge
        | EndCause::CenterUnreachable
        | EndCause::AgentNeverSignedOn
        | EndCause::SignOnFailed => {
            "Sorry, no agent could take your call right now. Please try again later."
        }
        EndCause::UserLineLost => {
            "The line to your phone dropped, so the call has ended. Please start again if you \
             still need help."
        }
        EndCause::AgentLineLost => {
            "The line to the agent dropped, so the call has ended. We are sorry; please start \
             again."
        }
        EndCause::MaxCallLength => "The call reached its maximum length and was ended.",
        EndCause::UserNoConsent => {
            "We called you but did not hear the key your page showed, so no agent was called."
        }
        // The visitor's cancel button, or the platform shutting down.
        EndCause::Cancelled => "The call was cancelled.",
        EndCause::Interrupted => {
            "The call was cut off by a fault on our side. We are sorry; please start again."
        }
        EndCause::NoRoute
        | EndCause::BadRoute
        | EndCause::DatabaseError
        | EndCause::StartFailed
        | EndCause::InternalError => {
            "Sorry, this call cannot be placed right now. Please try again later."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_reference_is_said_digit_by_digit() {
        assert_eq!(
            claim_prompt("427"),
            "Call reference 4 2 7. Claim it on your console."
        );
        assert!(claim_prompt("1009").starts_with("Call reference 1 0 0 9."));
    }

    #[test]
    fn ended_event_carries_the_cause_word() {
        let event = push_event(&Status::Ended {
            cause: EndCause::UserBusy,
        });
        let json = serde_json::to_value(&event).expect("json");
        assert_eq!(json["cause"], "user_busy");
        assert!(
            json["text"].as_str().is_some_and(|t| t.contains("busy")),
            "{json}"
        );
    }

    #[test]
    fn the_no_page_notice_says_each_key() {
        assert_eq!(no_page_notice("3"), "No page for 3.");
        assert_eq!(no_page_notice("12*"), "No page for 1 2 star.");
    }

    #[test]
    fn every_end_cause_has_a_sentence() {
        for cause in EndCause::ALL {
            assert!(ended_text(*cause).ends_with('.'), "{cause}");
        }
    }
}
