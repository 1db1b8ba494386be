//! Steps and readings that call-flow tests repeat on a [`Rig`]: request a call and read its
//! push stream to the end, the leg causes of a finished record, when a timeline step
//! happened, where the legs were dialed, and the set-up and clean-up of many short flows.
//! Assertions stay in the tests except where a helper says what it asserts.

use std::time::Duration;

use subscriber_db::{Call, CallEvent, EndCause, SessionId, TimelineEvent, Word};

use crate::flow::{Rig, RigOptions, summary};
use crate::seed::Seed;
use crate::sipp::SippOptions;

/// What the browser sees of one short flow (`flow_center_quick.xml`, no whisper).
pub const QUICK_FLOW_EVENTS: [&str; 5] = [
    "status:calling",
    "status:connecting",
    "status:agent_on_line",
    "page:Tariff overview",
    "ended:agent_hung_up",
];

/// The browser's events and the record's end cause of one flow.
pub type FlowOutcome = anyhow::Result<(Vec<String>, Option<EndCause>)>;

/// What is left behind after a run of flows, for the leak assertions of a test.
#[derive(Debug, Clone, Copy)]
pub struct Leftovers {
    /// Sockets the binary settled at.
    pub sockets: usize,
    /// Runtime `leg dialed` / `leg ended` log lines.
    pub dialed: usize,
    pub ended: usize,
    /// Calls still active in the database.
    pub active_calls: u64,
}

impl Rig {
    /// Requests a call for `number` and reads its push stream until `ended` (within `limit`):
    /// the session and the events as [`summary`] spells them.
    pub async fn call_until_ended(
        &self,
        number: &str,
        limit: Duration,
    ) -> anyhow::Result<(SessionId, Vec<String>)> {
        let session = self.request_call(number).await?;
        let events = self.sse_until_ended(&session, limit).await?;
        Ok((session, summary(&events)))
    }

    /// Waits for the center's and then the user's SIPp scenario to pass (each fails unless
    /// our signalling went as the scenario expects), then for the record to finish (10 s);
    /// returns the record and its timeline.
    pub async fn finished_after_phones(
        &mut self,
        session: &SessionId,
        center: Duration,
        user: Duration,
    ) -> anyhow::Result<(Call, Vec<CallEvent>)> {
        self.center.passed(center).await?;
        self.user.passed(user).await?;
        let call = self.wait_finished(session, Duration::from_secs(10)).await?;
        Ok((call, self.timeline(session)?))
    }

    /// One short flow for `number`: what the browser saw and how the record ended.
    pub async fn quick_flow(
        &self,
        number: &str,
        stream: Duration,
        record: Duration,
    ) -> FlowOutcome {
        let (session, events) = self.call_until_ended(number, stream).await?;
        let call = self.wait_finished(&session, record).await?;
        Ok((events, call.end_cause))
    }

    /// After a run of flows: waits for both phones' scenarios to pass (30 s each) and the
    /// binary's sockets to settle at `baseline` (10 s), then reads what is left.
    pub async fn leftovers(&mut self, baseline: usize) -> anyhow::Result<Leftovers> {
        self.center.passed(Duration::from_secs(30)).await?;
        self.user.passed(Duration::from_secs(30)).await?;
        let sockets = self
            .sockets_settle(baseline, Duration::from_secs(10))
            .await?;
        let (dialed, ended) = self.legs_dialed_and_ended();
        Ok(Leftovers {
            sockets,
            dialed,
            ended,
            active_calls: self.active_calls()?,
        })
    }
}

/// Rig options for `flows` short flows in a row or at once: both phones take `flows` calls
/// (pausing 300 ms, giving up after `timeout`), the agent signs on at once and hangs up after
/// page 1, and nothing is whispered.
pub fn quick_flows(flows: u32, timeout: Duration) -> RigOptions {
    let peer = SippOptions {
        calls: flows,
        pause_ms: 300,
        timeout,
        port: None,
    };
    RigOptions {
        user: peer.clone(),
        center_scenario: "flow_center_quick.xml",
        center: peer,
        seed: Seed::without_whisper(),
        ..RigOptions::default()
    }
}

/// `None` if flow `n` went as [`QUICK_FLOW_EVENTS`] and ended `agent_hung_up`; otherwise a
/// line saying what happened.
pub fn quick_flow_failure(n: u32, outcome: FlowOutcome) -> Option<String> {
    match outcome {
        Ok((events, cause))
            if events == QUICK_FLOW_EVENTS && cause == Some(EndCause::AgentHungUp) =>
        {
            None
        }
        other => Some(format!("flow {n}: {other:?}")),
    }
}

/// Asserts the record's end cause and each leg's (`local_hangup`, `remote_hangup`, ...).
pub fn assert_end_causes(call: &Call, end: &str, user: &str, center: &str) {
    assert_eq!(call.end_cause.map(|c| c.word()), Some(end));
    assert_eq!(call.user_end_cause.map(|c| c.word()), Some(user));
    assert_eq!(call.center_end_cause.map(|c| c.word()), Some(center));
}

/// When the first `kind` step of the timeline happened, in Unix milliseconds; panics if the
/// timeline lacks it.
pub fn first_at_ms(timeline: &[CallEvent], kind: &str) -> i64 {
    timeline
        .iter()
        .find(|e| e.kind() == kind)
        .unwrap_or_else(|| panic!("timeline lacks {kind}: {timeline:?}"))
        .at
        .timestamp_millis()
}

/// The `dialing` steps in order as `LEG leg attempt N to NUMBER [as DNIS]`, from their
/// structured detail (`leg`, `attempt`, masked `number`, `request_user`).
pub fn dial_details(timeline: &[CallEvent]) -> Vec<String> {
    timeline
        .iter()
        .filter_map(|e| match &e.event {
            TimelineEvent::Dialing {
                leg,
                attempt,
                number,
                request_user,
            } => Some(match request_user {
                Some(dnis) => format!("{leg} leg attempt {attempt} to {number} as {dnis}"),
                None => format!("{leg} leg attempt {attempt} to {number}"),
            }),
            _ => None,
        })
        .collect()
}

/// Fails if a timeline row looks like Rust `Debug` output instead of a stored word or a
/// sentence: a kind that is not snake_case, or a detail string holding `Some(`, `None`, `::`,
/// or a CamelCase identifier such as `HungUpByPeer` or `UserUnreachable(Busy)`.
pub fn assert_no_debug_output(timeline: &[CallEvent]) {
    let mut found = Vec::new();
    for event in timeline {
        let kind = event.kind();
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            found.push(format!("kind {kind:?}"));
        }
        let mut strings = Vec::new();
        collect_strings(&event.detail(), &mut strings);
        for text in strings {
            if looks_like_debug(&text) {
                found.push(format!("{kind}: {text:?}"));
            }
        }
    }
    assert!(found.is_empty(), "Debug output in the timeline: {found:#?}");
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                out.push(key.clone());
                collect_strings(v, out);
            }
        }
        _ => {}
    }
}

fn looks_like_debug(text: &str) -> bool {
    if text.contains("Some(") || text.contains("::") || text.split_whitespace().any(|w| w == "None")
    {
        return true;
    }
    // Two or more capital humps in one word: how Rust spells variants, not how people write.
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && word.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2
                && word.chars().any(|c| c.is_ascii_lowercase())
        })
}

#[cfg(test)]
mod tests {
    use super::looks_like_debug;

    #[test]
    fn debug_shapes_are_caught_and_sentences_are_not() {
        for debug in [
            "UserUnreachable(Busy)",
            "user leg: HungUpByPeer",
            "Some(503)",
            "None",
            "flow::Leg",
        ] {
            assert!(looks_like_debug(debug), "{debug}");
        }
        for fine in [
            "user_busy",
            "+********123",
            "no trunk for +********123; add one to callbond.toml",
            "Busy Here",
            "8001",
        ] {
            assert!(!looks_like_debug(fine), "{fine}");
        }
    }
}
