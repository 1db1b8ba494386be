//! How the flow's values are written outside: machine words for the call record and the
//! timeline (`user_busy`, `remote_hangup`, `bridged`), and the sentences the browser shows for
//! each status. No I/O; one place so the admin API, the browser and the logs agree.

use pagepush::{PushEvent, SessionStatus};

use crate::flow::{EndCause, LegEnd, LegFailure, State, Status};

/// The call record's `end_cause`.
pub(crate) fn end_cause(cause: EndCause) -> &'static str {
    match cause {
        EndCause::UserHungUp => "user_hung_up",
        EndCause::AgentHungUp => "agent_hung_up",
        EndCause::UserUnreachable(LegFailure::Busy) => "user_busy",
        EndCause::UserUnreachable(LegFailure::NoAnswer) => "user_no_answer",
        EndCause::UserUnreachable(LegFailure::Rejected(_)) => "user_rejected",
        EndCause::UserUnreachable(LegFailure::Network) => "user_unreachable",
        EndCause::UserLeftBeforeBridge => "user_left_before_bridge",
        EndCause::AgentLeftBeforeBridge => "agent_left_before_bridge",
        EndCause::CenterUnreachable => "center_unreachable",
        EndCause::AgentNeverSignedOn => "agent_never_signed_on",
        EndCause::SignOnFailed => "sign_on_failed",
        EndCause::MaxDuration => "max_call_length",
        EndCause::Cancelled => "cancelled",
    }
}

/// A leg's end cause in the call record.
pub(crate) fn leg_end(end: LegEnd) -> String {
    match end {
        LegEnd::Failed(LegFailure::Busy) => "busy".into(),
        LegEnd::Failed(LegFailure::NoAnswer) => "no_answer".into(),
        LegEnd::Failed(LegFailure::Rejected(code)) => format!("rejected_{code}"),
        LegEnd::Failed(LegFailure::Network) => "network_error".into(),
        LegEnd::Cancelled => "cancelled".into(),
        LegEnd::HungUpByPeer => "remote_hangup".into(),
        LegEnd::HungUpByUs => "local_hangup".into(),
    }
}

/// The call record's `state` while the flow runs.
pub(crate) fn state(state: State) -> &'static str {
    match state {
        State::Idle => "starting",
        State::DialingUser => "dialing_user",
        State::HoldingUser => "holding_user",
        State::DialingCenter => "dialing_center",
        State::AwaitingSignOn => "awaiting_sign_on",
        State::Whispering => "whispering",
        State::HoldingCenter => "holding_center",
        State::Bridged => "bridged",
        State::Ending => "ending",
        State::Ended => "ended",
    }
}

/// The push event the browser gets for a status.
pub(crate) fn push_event(status: &Status) -> PushEvent {
    match status {
        Status::Calling => PushEvent::status(
            SessionStatus::Calling,
            "We are calling your phone now. Please answer it.",
        ),
        Status::Connecting => PushEvent::status(
            SessionStatus::Connecting,
            "We are connecting you to an agent. Please stay on the line.",
        ),
        Status::AgentOnLine => {
            PushEvent::status(SessionStatus::AgentOnLine, "An agent is on the line.")
        }
        Status::Ended { cause } => PushEvent::Ended {
            cause: end_cause(*cause).to_owned(),
            text: ended_text(*cause).to_owned(),
        },
    }
}

/// The timeline word for a status row.
pub(crate) fn status_word(status: &Status) -> &'static str {
    match status {
        Status::Calling => "calling",
        Status::Connecting => "connecting",
        Status::AgentOnLine => "agent_on_line",
        Status::Ended { .. } => "ended",
    }
}

fn ended_text(cause: EndCause) -> &'static str {
    match cause {
        EndCause::UserHungUp | EndCause::AgentHungUp => "The call has ended. Thank you.",
        EndCause::UserUnreachable(LegFailure::Busy) => {
            "Your phone was busy, so we could not connect you. Please try again later."
        }
        EndCause::UserUnreachable(_) => {
            "We could not reach your phone. Check the number and try again."
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
        EndCause::MaxDuration => "The call reached its maximum length and was ended.",
        EndCause::Cancelled => "The call was ended by the service. Please try again later.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_event_carries_the_cause_word() {
        let event = push_event(&Status::Ended {
            cause: EndCause::UserUnreachable(LegFailure::Busy),
        });
        match event {
            PushEvent::Ended { cause, text } => {
                assert_eq!(cause, "user_busy");
                assert!(text.contains("busy"), "{text}");
            }
            other => panic!("not an ended event: {other:?}"),
        }
    }

    #[test]
    fn leg_end_words() {
        for (end, want) in [
            (LegEnd::Failed(LegFailure::Rejected(503)), "rejected_503"),
            (LegEnd::HungUpByPeer, "remote_hangup"),
            (LegEnd::Cancelled, "cancelled"),
        ] {
            assert_eq!(leg_end(end), want);
        }
    }
}
