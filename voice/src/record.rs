//! The call detail record facts of one leg ([`LegRecord`]) and the rules that fill them in as
//! the leg's SIP exchange goes by: which response is the first provisional one, what ends the
//! leg, who hung up; and the leg's SIP dialog ([`DialogSnapshot`]), which a process started
//! after this one died needs to end the leg. Plain values in, values out: the leg task
//! (`sip::call`) stamps the times and reads the dialog off the wire (`sip::snapshot`);
//! nothing here reads a clock or touches the network.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::config::Transport;

/// What a leg's call detail record needs, as the leg task saw it on the wire.
///
/// Times are wall-clock times taken when the leg task sends the request or sees the response;
/// after the INVITE they advance with the monotonic clock, so they never go backwards within
/// a leg even when the system clock is stepped during the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegRecord {
    /// The SIP Call-ID of the leg's INVITE dialog.
    pub call_id: String,
    /// The trunk's configured target (e.g. "sip.carrier.example:5060"); `None` for a SIP URI
    /// destination.
    pub trunk: Option<String>,
    /// When we sent the INVITE (the first one, when a trunk challenged it with 401/407).
    pub invite_at: SystemTime,
    /// The first provisional response other than 100 Trying (180, 183, …): its distance from
    /// `invite_at` is the post-dial delay (RFC 6076 §4.3.1, Session Request Delay).
    pub first_provisional_at: Option<SystemTime>,
    /// The 200 OK. Also set when we hung up at once because its SDP was unusable (the leg then
    /// ends with `Rejected(488)` and never reports `Answered`).
    pub answered_at: Option<SystemTime>,
    /// The end: the BYE we sent or received, the final failure response, or the CANCEL we
    /// sent (the 487 that follows it does not move the end). When nothing came at all (no
    /// response before the ring timeout, a network error), the moment the leg gave up. Always
    /// set before `LegEvent::HungUp`.
    pub ended_at: Option<SystemTime>,
    /// Final response to the INVITE: code and reason phrase as received (200 "OK", 486 "Busy
    /// Here", 487 "Request Terminated", …); `None` when none came. A phrase that is the
    /// standard one but for letter case, or an empty one, reads as the standard phrase.
    pub final_status: Option<u16>,
    pub final_reason: Option<String>,
    /// Who ended an answered leg: the far end's BYE or ours; `None` when it never answered.
    pub hung_up_by: Option<HangupSide>,
    /// The leg's SIP dialog as far as ending it needs; `None` only if the stack's INVITE
    /// lacked a header it always writes.
    pub dialog: Option<DialogSnapshot>,
}

/// What a later process needs to end this leg's SIP dialog without the stack's memory of it:
/// CANCEL while the INVITE rings (same Request-URI, Call-ID, From, To, CSeq number and top
/// Via as the INVITE, RFC 3261 §9.1), BYE once answered (both tags, the remote target and the
/// route set, §12.2.1.1). Header values are kept as sent or received, so they read back
/// exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogSnapshot {
    pub call_id: String,
    /// The From header value, with our tag.
    pub from: String,
    /// The INVITE's To header value: no tag.
    pub to: String,
    /// The far end's To tag, from the 2xx.
    pub remote_tag: Option<String>,
    pub request_uri: String,
    /// The INVITE's CSeq number; after a digest challenge, that of the INVITE sent again.
    pub cseq: u32,
    /// The INVITE's top Via branch and sent-by (`host:port`), which a CANCEL repeats.
    pub via_branch: String,
    pub via_sent_by: String,
    pub transport: Transport,
    /// Where the INVITE was sent (`host:port`, from its Request-URI).
    pub destination: String,
    /// The Contact URI of the 2xx.
    pub remote_target: Option<String>,
    /// Route values in the order a request in the dialog carries them: the 2xx's
    /// Record-Route reversed (§12.1.2).
    pub route_set: Vec<String>,
}

impl DialogSnapshot {
    /// The 2xx's facts are in: the far end's tag and its Contact, so a BYE can be sent.
    pub fn is_answered(&self) -> bool {
        self.remote_tag.is_some() && self.remote_target.is_some()
    }
}

/// Which side ended an answered leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupSide {
    /// We sent the BYE (hangup, dropped handle, shutdown, media timeout, unusable answer).
    Local,
    /// The far end sent the BYE.
    Remote,
}

impl LegRecord {
    pub(crate) fn new(
        call_id: String,
        trunk: Option<String>,
        invite_at: SystemTime,
        dialog: Option<DialogSnapshot>,
    ) -> Self {
        Self {
            call_id,
            trunk,
            invite_at,
            first_provisional_at: None,
            answered_at: None,
            ended_at: None,
            final_status: None,
            final_reason: None,
            hung_up_by: None,
            dialog,
        }
    }

    /// A provisional response other than 100 arrived; only the first one counts for the
    /// post-dial delay (RFC 6076 §4.3.1: the first non-100 provisional response).
    pub(crate) fn provisional(&mut self, at: SystemTime) {
        self.first_provisional_at.get_or_insert(at);
    }

    /// The final response to the INVITE arrived.
    pub(crate) fn final_response(&mut self, code: u16, reason: String, at: SystemTime) {
        self.final_status = Some(code);
        self.final_reason = Some(reason);
        if (200..300).contains(&code) {
            self.answered_at = Some(at);
            if self.ended_at.is_some() {
                // A 2xx that crossed our CANCEL: rsipstack ACKs and BYEs it at once
                // (RFC 3261 §15), so the call ends here, by us, not at the CANCEL.
                self.ended_at = Some(at);
                self.hung_up_by = Some(HangupSide::Local);
            }
        } else {
            // After a CANCEL the 487 only confirms the end we already recorded.
            self.ended_at.get_or_insert(at);
        }
    }

    /// A BYE was sent (`Local`) or received (`Remote`).
    pub(crate) fn bye(&mut self, side: HangupSide, at: SystemTime) {
        self.ended_at.get_or_insert(at);
        if self.answered_at.is_some() {
            self.hung_up_by.get_or_insert(side);
        }
    }

    /// The leg ended without a BYE or final failure response to mark it: we sent CANCEL, or
    /// gave up waiting. Keeps an end already recorded.
    pub(crate) fn ended(&mut self, at: SystemTime) {
        self.ended_at.get_or_insert(at);
    }
}

/// The record shared by the leg task, which writes it, and every [`crate::CallLeg`] clone,
/// which reads snapshots. Written a handful of times per call, never per media packet.
#[derive(Clone, Debug)]
pub(crate) struct RecordCell(Arc<Mutex<LegRecord>>);

impl RecordCell {
    pub(crate) fn new(record: LegRecord) -> Self {
        Self(Arc::new(Mutex::new(record)))
    }

    pub(crate) fn snapshot(&self) -> LegRecord {
        match self.0.lock() {
            Ok(record) => record.clone(),
            // Only the rules above run under this lock and each leaves a whole record.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut LegRecord)) {
        match self.0.lock() {
            Ok(mut record) => change(&mut record),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn record() -> LegRecord {
        LegRecord::new("c1@h".into(), Some("gw:5060".into()), at(0), None)
    }

    /// One step of a leg's life, applied to the record.
    #[derive(Clone, Copy)]
    enum Step {
        Provisional(u64),
        Final(u16, u64),
        Bye(HangupSide, u64),
        Ended(u64),
    }

    /// (what happened, answered, ended, final status, hung up by)
    #[test]
    fn records_follow_the_wire() {
        use HangupSide::{Local, Remote};
        use Step::*;
        type Want = (Option<u64>, Option<u64>, Option<u16>, Option<HangupSide>);
        let table: [(&str, &[Step], Want); 8] = [
            (
                "answered, we hang up",
                &[
                    Provisional(30),
                    Provisional(40),
                    Final(200, 90),
                    Bye(Local, 500),
                ],
                (Some(90), Some(500), Some(200), Some(Local)),
            ),
            (
                "answered, far end hangs up",
                &[Provisional(30), Final(200, 90), Bye(Remote, 700)],
                (Some(90), Some(700), Some(200), Some(Remote)),
            ),
            (
                "busy",
                &[Final(486, 20), Ended(25)],
                (None, Some(20), Some(486), None),
            ),
            (
                "ring timeout: the CANCEL is the end, the 487 confirms it",
                &[Provisional(30), Ended(1500), Final(487, 1503)],
                (None, Some(1500), Some(487), None),
            ),
            (
                "cancel before any response: no final response",
                &[Ended(800)],
                (None, Some(800), None, None),
            ),
            (
                "2xx crossed our CANCEL: the stack BYEs it",
                &[Provisional(30), Ended(1500), Final(200, 1502)],
                (Some(1502), Some(1502), Some(200), Some(Local)),
            ),
            (
                "unusable answer SDP: we BYE the 200 at once",
                &[Final(200, 90), Bye(Local, 91)],
                (Some(90), Some(91), Some(200), Some(Local)),
            ),
            (
                "a BYE after the end does not move it",
                &[Final(503, 40), Bye(Local, 60), Ended(70)],
                (None, Some(40), Some(503), None),
            ),
        ];
        for (what, steps, want) in table {
            let mut r = record();
            for step in steps {
                match *step {
                    Provisional(ms) => r.provisional(at(ms)),
                    Final(code, ms) => r.final_response(code, "x".into(), at(ms)),
                    Bye(side, ms) => r.bye(side, at(ms)),
                    Ended(ms) => r.ended(at(ms)),
                }
            }
            let got = (r.answered_at, r.ended_at, r.final_status, r.hung_up_by);
            let want = (want.0.map(at), want.1.map(at), want.2, want.3);
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn first_provisional_is_kept() {
        let mut r = record();
        r.provisional(at(30));
        r.provisional(at(40));
        assert_eq!(r.first_provisional_at, Some(at(30)));
    }

    #[test]
    fn cell_snapshots_are_copies() {
        let cell = RecordCell::new(record());
        let before = cell.snapshot();
        cell.update(|r| r.final_response(486, "Busy Here".into(), at(20)));
        assert_eq!(before.final_status, None);
        let after = cell.snapshot();
        assert_eq!(after.final_status, Some(486));
        assert_eq!(after.final_reason.as_deref(), Some("Busy Here"));
    }
}
