//! At start-up, before the platform serves HTTP or places a call: end what a platform process
//! that died (crash, SIGKILL, power cut) left open. Every call record still open then belongs
//! to that process. Each dial whose stored SIP dialog was ringing gets a CANCEL, each one that
//! was answered a BYE (voice builds and sends them from the stored dialog); then the record is
//! closed as `interrupted` with its legs' end times and causes and a timeline row, so its
//! concurrent-call slot is free again, and the push channel tells a browser that reconnects.
//! All legs of all calls are ended at once: the slowest far end (32 s when it never answers)
//! bounds the start, not their number.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use pagepush::{Hub, PushEvent};
use subscriber_db::{Call, CallEnd, Db, EndedDial, InterruptedCall, LegDialog, OpenDial};
use tokio::task::JoinSet;
use tracing::{info, warn};
use voice::{DialogSnapshot, FarEndAnswer, LegEnded, RecoveryRequest, Voice};
use words::{EndCause, HungUpFirst, Leg, LegEndCause, LegState, SipTransport, TimelineEvent};

use super::legs::{leg_end_cause, utc};
use super::sentences;

/// What the start-up recovery did, for its summary line and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Call records closed as `interrupted`.
    pub calls: usize,
    /// CANCELs sent (ringing legs).
    pub cancelled: usize,
    /// BYEs sent (answered legs, and 2xx that crossed a CANCEL).
    pub byes: usize,
    /// Ringing legs whose far end repeated its final response to the INVITE after the
    /// restart: ACKed, no CANCEL needed (a 2xx among them also counts in `byes`).
    pub finals_heard: usize,
    /// Requests the far end never answered, or that could not be sent.
    pub unanswered: usize,
    /// The numbers (Request-URI users) of the journal's INVITEs no stored leg has: a callback
    /// attempt the dead process was placing may have rung them, so it is not placed again.
    pub unstored_numbers: Vec<String>,
}

/// Ends every leg the dead process left open and closes its call records, then ends each
/// INVITE in the journal at `journal` whose leg was never stored (the process died between
/// sending it and writing the leg) and clears the journal. A leg stored as ringing whose 2xx
/// the journal holds (the process died between receiving the answer and storing it) is ended
/// as answered, with a BYE. Failures are logged: a record that cannot be closed stays open, a
/// leg that cannot be ended is logged as left up at the far end.
pub async fn recover_interrupted_calls(
    db: &Arc<Db>,
    hub: &Hub,
    voice: &Voice,
    journal: Option<&Path>,
) -> Recovery {
    let journaled = match journal {
        Some(path) => {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || voice::read_invite_journal(&path))
                .await
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    let answered: Arc<HashMap<String, DialogSnapshot>> = Arc::new(
        journaled
            .iter()
            .filter(|d| d.is_answered())
            .map(|d| (d.call_id.clone(), d.clone()))
            .collect(),
    );
    // At once: the slowest far end bounds the start, not how many there are.
    let (mut total, unstored) = tokio::join!(
        recover_stored_calls(db, hub, voice, &answered),
        end_unstored_invites(db, voice, journaled)
    );
    total.cancelled += unstored.cancelled;
    total.byes += unstored.byes;
    total.finals_heard += unstored.finals_heard;
    total.unanswered += unstored.unanswered;
    total.unstored_numbers = unstored.unstored_numbers;
    if let Some(path) = journal
        && let Err(e) = voice::clear_invite_journal(path)
    {
        warn!(error = %e, path = %path.display(), "recovery: INVITE journal not cleared");
    }
    total
}

/// Ends the journal's INVITEs that no stored leg has (see [`recover_interrupted_calls`]): a
/// CANCEL, or a BYE when the journal holds the 2xx.
async fn end_unstored_invites(
    db: &Arc<Db>,
    voice: &Voice,
    journaled: Vec<DialogSnapshot>,
) -> Recovery {
    if journaled.is_empty() {
        return Recovery::default();
    }
    let db = Arc::clone(db);
    let found = tokio::task::spawn_blocking(move || {
        journaled
            .into_iter()
            // A failed lookup counts as stored: a request is sent only when the leg is known
            // to be missing.
            .filter(|d| matches!(db.knows_sip_call_id(&d.call_id), Ok(false)))
            .collect::<Vec<_>>()
    })
    .await;
    let unstored = found.unwrap_or_default();
    let mut outcome = Recovery {
        unstored_numbers: unstored
            .iter()
            .filter_map(|d| request_uri_user(&d.request_uri))
            .collect(),
        ..Recovery::default()
    };
    let mut legs = JoinSet::new();
    for dialog in unstored {
        let voice = voice.clone();
        legs.spawn(async move {
            let ended = voice.end_left_open(&dialog, dialog.is_answered()).await;
            (dialog, ended)
        });
    }
    while let Some(done) = legs.join_next().await {
        let Ok((dialog, result)) = done else { continue };
        count(&mut outcome, &result);
        warn!(
            sip_call_id = %dialog.call_id,
            sent = %sent_name(result.request),
            answer = %describe(&result.answer),
            "recovery: an INVITE the dead process sent but never stored was ended"
        );
    }
    outcome
}

/// The user part of a `sip:` or `sips:` Request-URI (`sip:+4930555@host` → `+4930555`).
fn request_uri_user(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let (user, _) = rest.split_once('@')?;
    let user = user.split(';').next().unwrap_or(user);
    (!user.is_empty()).then(|| user.to_owned())
}

/// The calls the database holds open: each leg ended from its stored dialog, each record
/// closed.
async fn recover_stored_calls(
    db: &Arc<Db>,
    hub: &Hub,
    voice: &Voice,
    answered: &Arc<HashMap<String, DialogSnapshot>>,
) -> Recovery {
    let started = Instant::now();
    let found = {
        let db = Arc::clone(db);
        tokio::task::spawn_blocking(move || db.interrupted_calls()).await
    };
    let interrupted = match found {
        Ok(Ok(calls)) => calls,
        Ok(Err(e)) => {
            warn!(error = %e, "recovery: cannot read unfinished calls; none closed");
            return Recovery::default();
        }
        Err(_) => {
            warn!("recovery: the database task did not finish; no call closed");
            return Recovery::default();
        }
    };
    if interrupted.is_empty() {
        return Recovery::default();
    }
    let mut calls = JoinSet::new();
    for call in interrupted {
        calls.spawn(recover_call(
            Arc::clone(db),
            hub.clone(),
            voice.clone(),
            call,
            Arc::clone(answered),
        ));
    }
    let mut total = Recovery::default();
    while let Some(done) = calls.join_next().await {
        if let Ok(one) = done {
            total.calls += one.calls;
            total.cancelled += one.cancelled;
            total.byes += one.byes;
            total.finals_heard += one.finals_heard;
            total.unanswered += one.unanswered;
        }
    }
    info!(
        calls = total.calls,
        cancelled = total.cancelled,
        byes = total.byes,
        finals_heard = total.finals_heard,
        unanswered = total.unanswered,
        secs = format!("{:.3}", started.elapsed().as_secs_f64()),
        "recovery: calls interrupted by the last stop closed"
    );
    total
}

/// Ends one call's open dials at once, then closes its record. `answered`: the journal's
/// answered dialogs by Call-ID.
async fn recover_call(
    db: Arc<Db>,
    hub: Hub,
    voice: Voice,
    call: InterruptedCall,
    answered: Arc<HashMap<String, DialogSnapshot>>,
) -> Recovery {
    let InterruptedCall { call, open } = call;
    for cdr in call.legs.iter().filter(|c| c.ended_at.is_none()) {
        let stored = open
            .iter()
            .any(|d| d.leg == cdr.leg && d.attempt == cdr.attempt);
        if !stored {
            // Written by a Callbond that kept no dialogs, or its dialog row was lost.
            warn!(
                session = %call.id,
                leg = %cdr.leg,
                attempt = cdr.attempt,
                sip_call_id = %cdr.sip_call_id,
                "recovery: no SIP dialog stored for a leg left open; it cannot be ended from here"
            );
        }
    }
    let mut legs = JoinSet::new();
    for dial in open {
        let voice = voice.clone();
        let (dialog, answered) = with_journaled_answer(&dial.dialog, &answered);
        if answered && dial.dialog.state != LegState::Answered {
            info!(
                session = %call.id,
                leg = %dial.leg,
                attempt = dial.attempt,
                sip_call_id = %dial.dialog.sip_call_id,
                "recovery: a leg stored as ringing was answered (its 2xx is in the journal)"
            );
        }
        legs.spawn(async move {
            let ended = voice.end_left_open(&dialog, answered).await;
            (dial, ended)
        });
    }
    let mut outcome = Recovery {
        calls: 1,
        ..Recovery::default()
    };
    let mut ended = Vec::new();
    let mut hung_up_answered = false;
    while let Some(done) = legs.join_next().await {
        let Ok((dial, result)) = done else { continue };
        log_leg(&call, &dial, &result);
        count(&mut outcome, &result);
        hung_up_answered |=
            result.request == RecoveryRequest::Bye || result.bye_after_2xx.is_some();
        ended.push(ended_dial(&dial, &result));
    }
    let end = call_end(&call, &ended, hung_up_answered);
    let event = TimelineEvent::Interrupted {
        legs_ended: u32::try_from(ended.len()).unwrap_or(u32::MAX),
    };
    let (sid, id) = (call.subscriber_id.clone(), call.id.clone());
    let closed = tokio::task::spawn_blocking(move || {
        db.close_interrupted_call(&sid, &id, &ended, &end, &event, Utc::now())
    })
    .await;
    match closed {
        Ok(Ok(_)) => {
            // A browser that reconnects to the push channel hears that the call is over.
            hub.open(&call.id);
            let cause = EndCause::Interrupted;
            let text = sentences::ended_text(cause).to_owned();
            let _ = hub.publish(&call.id, PushEvent::Ended { cause, text });
        }
        Ok(Err(e)) => {
            warn!(session = %call.id, error = %e, "recovery: call record not closed");
            outcome.calls = 0;
        }
        Err(_) => {
            warn!(session = %call.id, "recovery: call record task did not finish");
            outcome.calls = 0;
        }
    }
    outcome
}

fn count(outcome: &mut Recovery, result: &LegEnded) {
    match result.request {
        RecoveryRequest::Cancel => outcome.cancelled += 1,
        RecoveryRequest::Bye => outcome.byes += 1,
        RecoveryRequest::Ack => outcome.finals_heard += 1,
    }
    if !matches!(result.answer, FarEndAnswer::Final { .. }) {
        outcome.unanswered += 1;
    }
    if let Some(answer) = &result.bye_after_2xx {
        outcome.byes += 1;
        if !matches!(answer, FarEndAnswer::Final { .. }) {
            outcome.unanswered += 1;
        }
    }
}

/// One line per leg: which call and dial, what was sent and what the far end answered.
fn log_leg(call: &Call, dial: &OpenDial, result: &LegEnded) {
    let sent = sent_name(result.request);
    let invite = match (&result.invite_final, result.request) {
        (Some((code, reason)), _) => format!("{code} {reason}"),
        (None, RecoveryRequest::Cancel | RecoveryRequest::Ack) => "no final response".to_owned(),
        (None, RecoveryRequest::Bye) => "answered before".to_owned(),
    };
    let bye_after_2xx = result
        .bye_after_2xx
        .as_ref()
        .map_or_else(|| "-".to_owned(), describe);
    let line = format!("recovery: {sent} sent for a leg left open");
    match &result.answer {
        FarEndAnswer::Final { .. } => info!(
            session = %call.id,
            leg = %dial.leg,
            attempt = dial.attempt,
            sip_call_id = %dial.dialog.sip_call_id,
            %sent,
            answer = %describe(&result.answer),
            %invite,
            %bye_after_2xx,
            "{line}"
        ),
        _ => warn!(
            session = %call.id,
            leg = %dial.leg,
            attempt = dial.attempt,
            sip_call_id = %dial.dialog.sip_call_id,
            %sent,
            answer = %describe(&result.answer),
            %invite,
            %bye_after_2xx,
            "{line}; the far end may still hold it"
        ),
    }
}

/// The request a recovery sent, as the log names it.
fn sent_name(request: RecoveryRequest) -> &'static str {
    match request {
        RecoveryRequest::Cancel => "CANCEL",
        RecoveryRequest::Bye => "BYE",
        // The ACK of the final response the far end repeated.
        RecoveryRequest::Ack => "ACK",
    }
}

fn describe(answer: &FarEndAnswer) -> String {
    match answer {
        FarEndAnswer::Final { code, reason } => format!("{code} {reason}"),
        FarEndAnswer::NoAnswer => "no answer".to_owned(),
        FarEndAnswer::NotSent(why) => format!("not sent: {why}"),
    }
}

/// The stored dialog as voice takes it, and whether it was answered: as stored, or by the
/// journal's 2xx to the same INVITE (Call-ID and CSeq) when it is stored as ringing.
fn with_journaled_answer(
    dialog: &LegDialog,
    answered: &HashMap<String, DialogSnapshot>,
) -> (DialogSnapshot, bool) {
    let mut stored = snapshot(dialog);
    if dialog.state == LegState::Answered {
        return (stored, true);
    }
    match answered.get(&dialog.sip_call_id) {
        Some(journaled) if journaled.cseq == dialog.cseq => {
            stored.remote_tag.clone_from(&journaled.remote_tag);
            stored.remote_target.clone_from(&journaled.remote_target);
            stored.route_set.clone_from(&journaled.route_set);
            (stored, true)
        }
        _ => (stored, false),
    }
}

/// The stored dialog as voice takes it.
fn snapshot(dialog: &LegDialog) -> DialogSnapshot {
    DialogSnapshot {
        call_id: dialog.sip_call_id.clone(),
        from: dialog.from.clone(),
        to: dialog.to.clone(),
        remote_tag: dialog.remote_tag.clone(),
        request_uri: dialog.request_uri.clone(),
        cseq: dialog.cseq,
        via_branch: dialog.via_branch.clone(),
        via_sent_by: dialog.via_sent_by.clone(),
        transport: match dialog.transport {
            SipTransport::Udp => voice::Transport::Udp,
            SipTransport::Tcp => voice::Transport::Tcp,
        },
        destination: dialog.destination.clone(),
        remote_target: dialog.remote_target.clone(),
        route_set: dialog.route_set.clone(),
    }
}

/// How the record names the end of one dial the recovery ended. The end is when the request
/// went out: the leg was held open at the far end until then, dead process or not.
fn ended_dial(dial: &OpenDial, result: &LegEnded) -> EndedDial {
    let end_cause = match (&result.answer, result.request) {
        // A 2xx crossed the CANCEL and was hung up with a BYE.
        _ if result.bye_after_2xx.is_some() => LegEndCause::LocalHangup,
        (FarEndAnswer::Final { .. }, RecoveryRequest::Cancel) => LegEndCause::Cancelled,
        (FarEndAnswer::Final { .. }, RecoveryRequest::Bye) => LegEndCause::LocalHangup,
        // The far end ended the INVITE itself while no process ran (busy, declined, ...).
        (FarEndAnswer::Final { .. }, RecoveryRequest::Ack) => result
            .heard_failure()
            .map_or(LegEndCause::Rejected, |end| leg_end_cause(&end, false)),
        // The CANCEL went unanswered but the INVITE ended: the dial is over all the same.
        (FarEndAnswer::NoAnswer, RecoveryRequest::Cancel) if result.invite_final.is_some() => {
            LegEndCause::Cancelled
        }
        // No response, or none could be sent: the existing word for "no response".
        (FarEndAnswer::NoAnswer | FarEndAnswer::NotSent(_), _) => LegEndCause::NetworkError,
    };
    let (final_status, final_reason) = match &result.invite_final {
        Some((code, reason)) => (Some(*code), Some(reason.clone())),
        None => (None, None),
    };
    EndedDial {
        leg: dial.leg,
        attempt: dial.attempt,
        ended_at: utc(result.sent_at),
        end_cause,
        final_status,
        final_reason,
    }
}

/// The record's end: `interrupted`, each leg's cause that of its latest dial (ended now or
/// before), and who hung up first: a party whose phone hung up before the crash (the dead
/// process was ending the call), else the platform when it ended an answered leg now.
fn call_end(call: &Call, ended: &[EndedDial], hung_up_answered: bool) -> CallEnd {
    let latest = |leg: Leg| -> Option<LegEndCause> {
        let cdr = call
            .legs
            .iter()
            .filter(|c| c.leg == leg)
            .max_by_key(|c| c.attempt)?;
        ended
            .iter()
            .find(|e| e.leg == leg && e.attempt == cdr.attempt)
            .map(|e| e.end_cause)
            .or(cdr.end_cause)
    };
    CallEnd {
        cause: EndCause::Interrupted,
        user_leg_cause: latest(Leg::User),
        center_leg_cause: latest(Leg::Center),
        hung_up_first: hung_up_before(call).or(hung_up_answered.then_some(HungUpFirst::Platform)),
    }
}

/// The party whose phone hung up first before the crash, from the dials that ended with the
/// far end's BYE.
fn hung_up_before(call: &Call) -> Option<HungUpFirst> {
    let first = call
        .legs
        .iter()
        .filter(|c| c.end_cause == Some(LegEndCause::RemoteHangup))
        .min_by_key(|c| c.ended_at)?;
    Some(match first.leg {
        Leg::User => HungUpFirst::User,
        Leg::Center => HungUpFirst::Center,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::SystemTime;

    use subscriber_db::LegCdr;

    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms)
    }

    fn dialog(state: LegState) -> LegDialog {
        LegDialog {
            state,
            sip_call_id: "8f2c@127.0.0.1".into(),
            from: "<sip:+4940123@127.0.0.1>;tag=ours1".into(),
            to: "<sip:+4930555000@127.0.0.1:5070>".into(),
            remote_tag: Some("theirs9".into()),
            request_uri: "sip:+4930555000@127.0.0.1:5070".into(),
            cseq: 7,
            via_branch: "z9hG4bKfirst".into(),
            via_sent_by: "127.0.0.1:5060".into(),
            transport: SipTransport::Tcp,
            destination: "127.0.0.1:5070".into(),
            remote_target: Some("sip:phone@127.0.0.1:5070".into()),
            route_set: vec!["<sip:p1.example;lr>".into()],
        }
    }

    fn dial(leg: Leg, attempt: u32, state: LegState) -> OpenDial {
        OpenDial {
            leg,
            attempt,
            dialog: dialog(state),
        }
    }

    fn result(request: RecoveryRequest, answer: FarEndAnswer) -> LegEnded {
        LegEnded {
            request,
            sent_at: at(5_000),
            answer,
            invite_final: None,
            bye_after_2xx: None,
        }
    }

    fn ok() -> FarEndAnswer {
        FarEndAnswer::Final {
            code: 200,
            reason: "OK".into(),
        }
    }

    fn cdr(leg: Leg, attempt: u32, end_cause: Option<LegEndCause>) -> LegCdr {
        LegCdr {
            leg,
            attempt,
            number: "+4930555000".parse().unwrap(),
            trunk: None,
            sip_call_id: format!("{leg}{attempt}@h"),
            invite_at: utc(at(1_000)),
            first_provisional_at: None,
            answered_at: None,
            ended_at: None,
            final_status: None,
            final_reason: None,
            end_cause,
        }
    }

    #[test]
    fn a_journal_invites_number_is_its_request_uri_user() {
        assert_eq!(
            request_uri_user("sip:+493055500070@127.0.0.1:5060").as_deref(),
            Some("+493055500070")
        );
        assert_eq!(
            request_uri_user("sips:+4930555;user=phone@h").as_deref(),
            Some("+4930555")
        );
        assert_eq!(request_uri_user("sip:host.example"), None);
        assert_eq!(request_uri_user("tel:+4930555"), None);
        assert_eq!(request_uri_user("sip:@h"), None);
    }

    #[test]
    fn the_stored_dialog_reads_back_as_voice_took_it() {
        let stored = dialog(LegState::Answered);
        let voice = snapshot(&stored);
        assert_eq!(
            super::super::legs::leg_dialog(&voice, LegState::Answered),
            stored
        );
    }

    /// (what was sent, what came back, the 2xx that crossed a CANCEL) → the leg's end cause
    #[test]
    fn each_outcome_names_the_leg_s_end() {
        use RecoveryRequest::{Bye, Cancel};
        let table = [
            (Cancel, ok(), None, LegEndCause::Cancelled),
            (Bye, ok(), None, LegEndCause::LocalHangup),
            (
                Bye,
                FarEndAnswer::Final {
                    code: 481,
                    reason: "Call/Transaction Does Not Exist".into(),
                },
                None,
                LegEndCause::LocalHangup,
            ),
            (
                Cancel,
                FarEndAnswer::NoAnswer,
                None,
                LegEndCause::NetworkError,
            ),
            (
                Bye,
                FarEndAnswer::NotSent("no route".into()),
                None,
                LegEndCause::NetworkError,
            ),
            (Cancel, ok(), Some(ok()), LegEndCause::LocalHangup),
        ];
        for (request, answer, bye_after_2xx, want) in table {
            let mut got = result(request, answer.clone());
            got.bye_after_2xx = bye_after_2xx;
            let ended = ended_dial(&dial(Leg::User, 0, LegState::Ringing), &got);
            assert_eq!(ended.end_cause, want, "{request:?} {answer:?}");
            assert_eq!(ended.ended_at, utc(at(5_000)));
        }
    }

    #[test]
    fn the_invite_s_487_becomes_the_final_status() {
        let mut got = result(RecoveryRequest::Cancel, ok());
        got.invite_final = Some((487, "Request Terminated".into()));
        let ended = ended_dial(&dial(Leg::Center, 1, LegState::Ringing), &got);
        assert_eq!(
            (ended.final_status, ended.final_reason.as_deref()),
            (Some(487), Some("Request Terminated"))
        );
    }

    #[test]
    fn each_leg_s_cause_is_its_latest_dial_s() {
        let mut call: Call = serde_json::from_value(serde_json::json!({
            "id": "0123456789abcdef0123456789abcdef",
            "subscriber_id": "acme",
            "subject_code": "billing",
            "whisper_code": null,
            "user_number": "+4930555000",
            "client_ip": "127.0.0.1",
            "state": "dialing_center",
            "created_at": "2026-11-23T12:00:00Z",
            "ended_at": null,
            "end_cause": null,
            "user_end_cause": null,
            "center_end_cause": null,
            "hung_up_first": null,
            "signed_on_at": null,
            "whisper_ended_at": null,
            "bridged_at": null,
            "legs": [],
        }))
        .unwrap();
        // The user answered (open); the first center number was busy, the fallback rings.
        call.legs = vec![
            cdr(Leg::User, 0, None),
            cdr(Leg::Center, 0, Some(LegEndCause::Busy)),
            cdr(Leg::Center, 1, None),
        ];
        let ended = [
            ended_dial(
                &dial(Leg::User, 0, LegState::Answered),
                &result(RecoveryRequest::Bye, ok()),
            ),
            ended_dial(
                &dial(Leg::Center, 1, LegState::Ringing),
                &result(RecoveryRequest::Cancel, ok()),
            ),
        ];
        let end = call_end(&call, &ended, true);
        assert_eq!(end.cause, EndCause::Interrupted);
        assert_eq!(end.user_leg_cause, Some(LegEndCause::LocalHangup));
        assert_eq!(end.center_leg_cause, Some(LegEndCause::Cancelled));
        assert_eq!(end.hung_up_first, Some(HungUpFirst::Platform));
        // Killed while ending: the user's phone had hung up; the agent's BYE was outstanding.
        call.legs = vec![
            cdr(Leg::User, 0, Some(LegEndCause::RemoteHangup)),
            cdr(Leg::Center, 0, None),
        ];
        let ended = [ended_dial(
            &dial(Leg::Center, 0, LegState::Answered),
            &result(RecoveryRequest::Bye, ok()),
        )];
        let end = call_end(&call, &ended, true);
        assert_eq!(end.user_leg_cause, Some(LegEndCause::RemoteHangup));
        assert_eq!(end.center_leg_cause, Some(LegEndCause::LocalHangup));
        assert_eq!(end.hung_up_first, Some(HungUpFirst::User));
        // Killed before any dial: no leg causes, nobody hung up.
        call.legs.clear();
        assert_eq!(
            call_end(&call, &[], false),
            CallEnd::before_dialing(EndCause::Interrupted)
        );
    }
}
