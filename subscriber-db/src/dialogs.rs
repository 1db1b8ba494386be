//! The SIP dialog of every dial (`leg_dialogs`) and where it is, so a platform that starts
//! after one that died can end the legs it left open, and closing such a call record in one
//! transaction. The platform writes a dial's row when its INVITE goes out, again when the 2xx
//! arrives and when the leg ends; it reads the open ones only at start-up. The SIP values are
//! stored as the platform hands them over: nothing here parses SIP.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};
use serde::{Deserialize, Serialize};

use crate::calls::{COLUMNS, Call, CallEnd, append_event, complete, finish_row, from_row};
use crate::db::{Db, col, millis};
use crate::error::{DbError, DbResult};
use crate::types::{
    Leg, LegEndCause, LegState, SessionId, SipTransport, SubscriberId, TimelineEvent, Word,
};

/// What a later process needs to end one dial's SIP dialog: CANCEL while it rings (the
/// INVITE's Request-URI, Call-ID, From, To, CSeq number and top Via, RFC 3261 §9.1), BYE once
/// answered (both tags, the remote target and the route set, §12.2.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegDialog {
    pub state: LegState,
    pub sip_call_id: String,
    /// The From header value, with our tag.
    pub from: String,
    /// The INVITE's To header value, without a tag.
    pub to: String,
    /// The far end's To tag, from the 2xx.
    pub remote_tag: Option<String>,
    pub request_uri: String,
    /// The INVITE's CSeq number (the last INVITE sent, after a digest challenge).
    pub cseq: u32,
    pub via_branch: String,
    /// The top Via's sent-by (`host:port`).
    pub via_sent_by: String,
    pub transport: SipTransport,
    /// Where the INVITE went (`host:port`).
    pub destination: String,
    /// The Contact URI of the 2xx.
    pub remote_target: Option<String>,
    /// Route values in the order they are sent: the 2xx's Record-Route reversed (§12.1.2).
    pub route_set: Vec<String>,
}

/// A dial whose dialog the dead process left ringing or answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDial {
    pub leg: Leg,
    pub attempt: u32,
    pub dialog: LegDialog,
}

/// A call record a dead process left unfinished, with its dials still open at the far end.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptedCall {
    pub call: Call,
    pub open: Vec<OpenDial>,
}

/// How the restarted platform ended one open dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedDial {
    pub leg: Leg,
    pub attempt: u32,
    /// When the CANCEL or BYE went out.
    pub ended_at: DateTime<Utc>,
    pub end_cause: LegEndCause,
    /// The INVITE's final response when the recovery saw one (the 487 after its CANCEL).
    pub final_status: Option<u16>,
    pub final_reason: Option<String>,
}

const DIALOG_COLUMNS: &str = "state, sip_call_id, from_header, to_header, remote_tag, request_uri,
     cseq, via_branch, via_sent_by, transport, destination, remote_target, route_set";

fn dialog_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<LegDialog> {
    let routes: String = row.get(at + 12)?;
    let route_set = serde_json::from_str(&routes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(at + 12, rusqlite::types::Type::Text, e.into())
    })?;
    Ok(LegDialog {
        state: col(row, at)?,
        sip_call_id: row.get(at + 1)?,
        from: row.get(at + 2)?,
        to: row.get(at + 3)?,
        remote_tag: row.get(at + 4)?,
        request_uri: row.get(at + 5)?,
        cseq: row.get(at + 6)?,
        via_branch: row.get(at + 7)?,
        via_sent_by: row.get(at + 8)?,
        transport: col(row, at + 9)?,
        destination: row.get(at + 10)?,
        remote_target: row.get(at + 11)?,
        route_set,
    })
}

impl Db {
    /// Writes (or rewrites, as the dial moves on) the SIP dialog of one dial of a call's leg.
    pub fn upsert_leg_dialog(
        &self,
        sid: &SubscriberId,
        id: &SessionId,
        leg: Leg,
        attempt: u32,
        dialog: &LegDialog,
    ) -> DbResult<()> {
        let routes =
            serde_json::to_string(&dialog.route_set).map_err(|source| DbError::CorruptJson {
                what: "route set",
                source,
            })?;
        let rows = self.conn().execute(
            &format!(
                "INSERT OR REPLACE INTO leg_dialogs (call_id, leg, attempt, {DIALOG_COLUMNS})
                 SELECT id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17
                 FROM calls WHERE id = ?1 AND subscriber_id = ?2"
            ),
            params![
                id.as_str(),
                sid.as_str(),
                leg.word(),
                attempt,
                dialog.state.word(),
                dialog.sip_call_id,
                dialog.from,
                dialog.to,
                dialog.remote_tag,
                dialog.request_uri,
                dialog.cseq,
                dialog.via_branch,
                dialog.via_sent_by,
                dialog.transport.word(),
                dialog.destination,
                dialog.remote_target,
                routes,
            ],
        )?;
        crate::db::changed(rows, "call")
    }

    /// Every unfinished call record of every subscriber, oldest first, with its dials whose
    /// dialog is not ended. Meant for start-up, before this process runs calls: every
    /// unfinished record then belongs to a process that died.
    pub fn interrupted_calls(&self) -> DbResult<Vec<InterruptedCall>> {
        let conn = self.conn();
        let mut calls = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM calls WHERE ended_at IS NULL ORDER BY created_at, id"
        ))?;
        let calls: Vec<Call> = calls.query_map([], from_row)?.collect::<Result<_, _>>()?;
        let mut dials = conn.prepare_cached(&format!(
            "SELECT leg, attempt, {DIALOG_COLUMNS} FROM leg_dialogs
             WHERE call_id = ?1 AND state <> 'ended' ORDER BY leg, attempt"
        ))?;
        let mut out = Vec::with_capacity(calls.len());
        for call in calls {
            let open = dials
                .query_map([call.id.as_str()], |row| {
                    Ok(OpenDial {
                        leg: col(row, 0)?,
                        attempt: row.get(1)?,
                        dialog: dialog_from_row(row, 2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let call = complete(&conn, call)?;
            out.push(InterruptedCall { call, open });
        }
        Ok(out)
    }

    /// Closes a call a dead process left open, all or nothing: each of `ended` gets its
    /// dialog marked ended and its CDR the end time, cause and final status it lacks, the
    /// timeline gets `event`, and the record is finished with `end`. A finished call is a
    /// `Conflict` and changes nothing.
    pub fn close_interrupted_call(
        &self,
        sid: &SubscriberId,
        id: &SessionId,
        ended: &[EndedDial],
        end: &CallEnd,
        event: &TimelineEvent,
        at: DateTime<Utc>,
    ) -> DbResult<Call> {
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            if finish_row(&tx, sid, id, end, at)? == 0 {
                drop(tx);
                drop(conn);
                self.get_call(sid, id)?;
                return Err(DbError::Conflict {
                    what: "finished call",
                });
            }
            for dial in ended {
                let key = params![id.as_str(), dial.leg.word(), dial.attempt];
                tx.execute(
                    "UPDATE leg_dialogs SET state = 'ended'
                     WHERE call_id = ?1 AND leg = ?2 AND attempt = ?3",
                    key,
                )?;
                // The reason goes with the status: only where no final status was stored.
                tx.execute(
                    "UPDATE call_legs SET ended_at = coalesce(ended_at, ?4),
                         end_cause = coalesce(end_cause, ?5),
                         final_reason = CASE WHEN final_status IS NULL THEN ?7 ELSE final_reason END,
                         final_status = coalesce(final_status, ?6)
                     WHERE call_id = ?1 AND leg = ?2 AND attempt = ?3",
                    params![
                        id.as_str(),
                        dial.leg.word(),
                        dial.attempt,
                        millis(dial.ended_at),
                        dial.end_cause.word(),
                        dial.final_status,
                        dial.final_reason,
                    ],
                )?;
            }
            append_event(&tx, sid, id, at, event)?;
            tx.commit()?;
        }
        self.get_call(sid, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::LegCdr;
    use crate::new_session_id;
    use crate::tests::{at, db_with, new_call, sid};
    use crate::types::{EndCause, HungUpFirst};

    fn dialog(state: LegState) -> LegDialog {
        LegDialog {
            state,
            sip_call_id: "a84b4c76e66710@10.0.0.5".into(),
            from: "<sip:+12015550188@10.0.0.5>;tag=1928301774".into(),
            to: "<sip:+12015550123@gw.example:5060>".into(),
            remote_tag: None,
            request_uri: "sip:+12015550123@gw.example:5060".into(),
            cseq: 2,
            via_branch: "z9hG4bK776asdhds".into(),
            via_sent_by: "10.0.0.5:5060".into(),
            transport: SipTransport::Udp,
            destination: "gw.example:5060".into(),
            remote_target: None,
            route_set: Vec::new(),
        }
    }

    fn cdr(leg: Leg, attempt: u32) -> LegCdr {
        LegCdr {
            leg,
            attempt,
            number: "+12015550123".parse().expect("number"),
            trunk: Some("gw.example:5060".into()),
            sip_call_id: format!("{leg}-{attempt}@10.0.0.5"),
            invite_at: at(1),
            first_provisional_at: Some(at(2)),
            answered_at: None,
            ended_at: None,
            final_status: None,
            final_reason: None,
            end_cause: None,
        }
    }

    #[test]
    fn open_dials_of_unfinished_calls_are_found_and_closed_at_once() {
        let db = db_with(&["alpha", "beta"]);
        let (a, b) = (sid("alpha"), sid("beta"));
        let (bridged, ringing, done) = (new_session_id(), new_session_id(), new_session_id());
        for (owner, id) in [(&a, &bridged), (&b, &ringing), (&a, &done)] {
            db.create_call(owner, &new_call(id, "+12015550123"), at(0))
                .expect("create");
        }
        // Bridged: both legs answered, with the 2xx's dialog facts.
        let mut answered = dialog(LegState::Answered);
        answered.remote_tag = Some("a6c85cf".into());
        answered.remote_target = Some("sip:+12015550123@192.0.2.4:5060".into());
        answered.route_set = vec!["<sip:p1.example;lr>".into(), "<sip:p2.example;lr>".into()];
        for leg in [Leg::User, Leg::Center] {
            let mut leg_cdr = cdr(leg, 0);
            leg_cdr.answered_at = Some(at(3));
            leg_cdr.final_status = Some(200);
            leg_cdr.final_reason = Some("OK".into());
            db.upsert_call_leg(&a, &bridged, &leg_cdr).expect("cdr");
            db.upsert_leg_dialog(&a, &bridged, leg, 0, &answered)
                .expect("dialog");
        }
        // Ringing: the first center number busy (ended), the fallback still ringing.
        db.upsert_call_leg(&b, &ringing, &cdr(Leg::Center, 0))
            .expect("cdr");
        db.upsert_leg_dialog(&b, &ringing, Leg::Center, 0, &dialog(LegState::Ended))
            .expect("ended dialog");
        db.upsert_call_leg(&b, &ringing, &cdr(Leg::Center, 1))
            .expect("cdr");
        db.upsert_leg_dialog(&b, &ringing, Leg::Center, 1, &dialog(LegState::Ringing))
            .expect("ringing dialog");
        // A finished call is not interrupted, whatever its dialogs say.
        db.upsert_leg_dialog(&a, &done, Leg::User, 0, &dialog(LegState::Ringing))
            .expect("dialog");
        db.finish_call(
            &a,
            &done,
            &CallEnd::before_dialing(EndCause::UserBusy),
            at(5),
        )
        .expect("finish");
        // Another subscriber's call cannot be written to.
        assert!(matches!(
            db.upsert_leg_dialog(&b, &bridged, Leg::User, 0, &answered),
            Err(DbError::NotFound { .. })
        ));

        let found = db.interrupted_calls().expect("interrupted");
        let ids: Vec<&SessionId> = found.iter().map(|c| &c.call.id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&&bridged) && ids.contains(&&ringing));
        let of = |id: &SessionId| found.iter().find(|c| &c.call.id == id).expect("found");
        let open = &of(&bridged).open;
        assert_eq!(open.len(), 2);
        assert_eq!(
            open[0].dialog, answered,
            "the route set reads back in order"
        );
        let open = &of(&ringing).open;
        assert_eq!(
            open.iter().map(|d| (d.leg, d.attempt)).collect::<Vec<_>>(),
            [(Leg::Center, 1)]
        );
        assert_eq!(of(&ringing).call.legs.len(), 2, "the CDRs come along");

        let ended = [EndedDial {
            leg: Leg::Center,
            attempt: 1,
            ended_at: at(60),
            end_cause: LegEndCause::Cancelled,
            final_status: Some(487),
            final_reason: Some("Request Terminated".into()),
        }];
        let end = CallEnd {
            cause: EndCause::Interrupted,
            user_leg_cause: None,
            center_leg_cause: Some(LegEndCause::Cancelled),
            hung_up_first: None,
        };
        let event = TimelineEvent::Interrupted { legs_ended: 1 };
        let closed = db
            .close_interrupted_call(&b, &ringing, &ended, &end, &event, at(61))
            .expect("close");
        assert_eq!(closed.end_cause, Some(EndCause::Interrupted));
        assert_eq!(closed.ended_at, Some(at(61)));
        assert_eq!(closed.center_end_cause, Some(LegEndCause::Cancelled));
        let fallback = &closed.legs[1];
        assert_eq!(
            (fallback.ended_at, fallback.end_cause, fallback.final_status),
            (Some(at(60)), Some(LegEndCause::Cancelled), Some(487))
        );
        assert_eq!(fallback.final_reason.as_deref(), Some("Request Terminated"));
        let events = db.list_call_events(&b, &ringing).expect("events");
        assert_eq!(events.last().map(|e| &e.event), Some(&event));
        assert!(matches!(
            db.close_interrupted_call(&b, &ringing, &ended, &end, &event, at(62)),
            Err(DbError::Conflict { .. })
        ));

        // An answered leg keeps its 200 OK; the BYE only adds the end.
        let ended = [Leg::User, Leg::Center].map(|leg| EndedDial {
            leg,
            attempt: 0,
            ended_at: at(70),
            end_cause: LegEndCause::LocalHangup,
            final_status: None,
            final_reason: None,
        });
        let end = CallEnd {
            cause: EndCause::Interrupted,
            user_leg_cause: Some(LegEndCause::LocalHangup),
            center_leg_cause: Some(LegEndCause::LocalHangup),
            hung_up_first: Some(HungUpFirst::Platform),
        };
        let event = TimelineEvent::Interrupted { legs_ended: 2 };
        let closed = db
            .close_interrupted_call(&a, &bridged, &ended, &end, &event, at(71))
            .expect("close");
        assert!(closed.legs.iter().all(|l| l.final_status == Some(200)
            && l.final_reason.as_deref() == Some("OK")
            && l.ended_at == Some(at(70))
            && l.billable_secs() == 67.0));
        assert!(db.interrupted_calls().expect("none left").is_empty());
        assert_eq!(db.count_active_calls(&a).expect("count"), 0);
        assert_eq!(db.count_active_calls(&b).expect("count"), 0);
    }
}
