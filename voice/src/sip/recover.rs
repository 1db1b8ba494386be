//! Ending a leg that a process which died left open, from its stored [`DialogSnapshot`] alone:
//! the stack of this process never saw the leg. A ringing INVITE gets a CANCEL (RFC 3261
//! §9.1), an answered dialog a BYE (§15.1.1). Over UDP the ringing INVITE is first listened
//! to for a moment: a far end that answered it while no process ran repeats its final
//! response until that is ACKed, and then the ACK ends it, with a BYE after a 2xx, and no
//! CANCEL goes out for an INVITE that is already over. rsipstack builds and sends both: the CANCEL as
//! a client transaction of its own with the INVITE's Request-URI, Call-ID, From, To, CSeq
//! number and top Via; the BYE through a dialog restored from the snapshot, so it goes where
//! the live process's BYE would have gone. This module only turns stored text back into the
//! stack's types and reports what the far end answered.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{Dialog, DialogSnapshot as StackSnapshot, DialogSnapshotState};
use rsipstack::sip::param::{Branch, Tag};
use rsipstack::sip::{
    CallId, HostWithPort, Method, Param, Request, Response, Route, SipMessage, StatusCodeKind, Uri,
    Version, typed,
};
use rsipstack::transaction::TransactionState;
use rsipstack::transaction::endpoint::EndpointInner;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::message::CancelReason;
use super::{Inner, snapshot};
use crate::config::Transport;
use crate::record::DialogSnapshot;

/// 64·T1: Timer F for the CANCEL and BYE transactions (§17.1.2.2), and how long after a
/// CANCEL the INVITE's final response is awaited (§9.1).
const TRANSACTION_LIMIT: Duration = Duration::from_secs(32);
/// How long the CANCEL's answer is still awaited once the INVITE has its final response
/// (normally the CANCEL's 200 comes first).
const CANCEL_ANSWER_GRACE: Duration = Duration::from_secs(2);
/// How long a ringing UDP leg's INVITE is listened to before its CANCEL goes. A far end that
/// sent a final response the dead process did not ACK repeats it at most T2 (4 s) apart
/// until ACKed (Timer G, §17.2.1; a 2xx likewise, §13.3.1.4), so one repeat falls within
/// this. Over TCP nothing is repeated and the CANCEL goes at once.
const LISTEN_BEFORE_CANCEL: Duration = Duration::from_secs(4);
/// Beyond the stack's own Timer F, so its timeout is what ends a wait.
const MARGIN: Duration = Duration::from_secs(2);
/// How far above the INVITE's CSeq the BYE's goes. The dead process may have sent requests in
/// the dialog after the INVITE (a BYE whose end was not stored yet); a BYE whose CSeq is not
/// above theirs is refused with 500 (§12.2.2). voice sends at most one request per dialog
/// after the INVITE, so 100 is clearly above anything sent, and far below the 2^31 limit.
const BYE_CSEQ_STEP: u32 = 100;

/// The request a recovery sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryRequest {
    /// The leg was ringing.
    Cancel,
    /// The leg was answered.
    Bye,
    /// The leg was stored ringing, but the far end repeated its final response to the INVITE
    /// after the restart (it answered while no process ran): the stack ACKed that and no
    /// CANCEL was sent. The answer is that final response; a 2xx was then ended with a BYE.
    Ack,
}

/// What the far end said to a recovery's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FarEndAnswer {
    /// A final response, with its reason phrase.
    Final { code: u16, reason: String },
    /// No final response before the transaction gave up (Timer F, 32 s). A 408 counts as this:
    /// the stack reports its own timeout as 408 (RFC 3261 §8.1.3.1).
    NoAnswer,
    /// The request could not be built or sent (unreadable snapshot, no route).
    NotSent(String),
}

/// How one leg left open was ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegEnded {
    pub request: RecoveryRequest,
    /// When the request went out (or failed to).
    pub sent_at: SystemTime,
    pub answer: FarEndAnswer,
    /// After a CANCEL: the INVITE's final response (487 Request Terminated), if one came
    /// within 64·T1. With [`RecoveryRequest::Ack`]: the repeated final response.
    pub invite_final: Option<(u16, String)>,
    /// A 2xx that crossed the CANCEL is ACKed by the stack and ended with a BYE (§15); its
    /// answer. `None` when no 2xx came.
    pub bye_after_2xx: Option<FarEndAnswer>,
}

impl LegEnded {
    /// With [`RecoveryRequest::Ack`] and a failure response: the cause it stands for, as a
    /// live leg would record it (a 487 answers a CANCEL the dead process sent).
    pub fn heard_failure(&self) -> Option<crate::EndCause> {
        match (self.request, &self.invite_final) {
            (RecoveryRequest::Ack, Some((code, _))) if *code >= 300 => Some(
                super::message::end_cause_for_status(*code, Some(CancelReason::Local)),
            ),
            _ => None,
        }
    }
}

/// Ends one leg from its snapshot: CANCEL when it was ringing, BYE when it was answered.
/// Returns when the far end answered or the transaction gave up (at most about 34 s).
pub(super) async fn end_left_open(
    inner: &Arc<Inner>,
    dialog: &DialogSnapshot,
    answered: bool,
) -> LegEnded {
    let sent_at = SystemTime::now();
    if answered {
        return LegEnded {
            request: RecoveryRequest::Bye,
            sent_at,
            answer: bye(inner, dialog).await,
            invite_final: None,
            bye_after_2xx: None,
        };
    }
    let (request, answer, invite_final) = cancel(&inner.dialogs.endpoint, dialog).await;
    let mut ended = LegEnded {
        request,
        sent_at,
        answer,
        invite_final: invite_final.as_ref().map(status_of),
        bye_after_2xx: None,
    };
    if let Some(ok) = invite_final.filter(|r| r.status_code.kind() == StatusCodeKind::Successful) {
        let mut answered = dialog.clone();
        snapshot::apply_answer(&mut answered, &ok);
        ended.bye_after_2xx = Some(bye(inner, &answered).await);
    }
    ended
}

/// Sends the CANCEL and waits for its answer and for the INVITE's final response, or, when
/// the far end repeats a final response while it is listened to first, only ACKs that.
///
/// The INVITE's client transaction is resumed in the Proceeding state it was in when the
/// process died (§17.1.1.2: a provisional response came, no final one), without sending the
/// INVITE again. The far end's 487 then meets a transaction, which ACKs it (§17.1.1.3) so the
/// far end stops repeating it; a 2xx is ACKed the same way and handed back.
async fn cancel(
    endpoint: &Arc<EndpointInner>,
    dialog: &DialogSnapshot,
) -> (RecoveryRequest, FarEndAnswer, Option<Response>) {
    let (answer, invite_final) = cancel_after_listening(endpoint, dialog).await;
    match answer {
        Some(answer) => (RecoveryRequest::Cancel, answer, invite_final),
        None => {
            let heard = invite_final.as_ref().map(status_of);
            let answer = heard.map_or(FarEndAnswer::NoAnswer, |(code, reason)| {
                FarEndAnswer::Final { code, reason }
            });
            (RecoveryRequest::Ack, answer, invite_final)
        }
    }
}

/// [`cancel`]'s work: the CANCEL's answer (`None` when none was sent because the INVITE's
/// final response came first) and the INVITE's final response.
async fn cancel_after_listening(
    endpoint: &Arc<EndpointInner>,
    dialog: &DialogSnapshot,
) -> (Option<FarEndAnswer>, Option<Response>) {
    let built = (|| {
        let invite = rebuild(endpoint, dialog, Method::Invite)?;
        let cancel = rebuild(endpoint, dialog, Method::Cancel)?;
        Ok::<_, String>((invite, cancel, destination(dialog)?))
    })();
    let (invite, cancel, destination) = match built {
        Ok(built) => built,
        Err(e) => return (Some(FarEndAnswer::NotSent(e)), None),
    };
    let mut invite_tx = match client_transaction(endpoint, invite, &destination) {
        Ok(tx) => tx,
        Err(e) => return (Some(FarEndAnswer::NotSent(e)), None),
    };
    invite_tx.state = TransactionState::Proceeding;
    if dialog.transport == Transport::Udp
        && let Some(heard) = final_response(&mut invite_tx, LISTEN_BEFORE_CANCEL).await
    {
        debug!(status = heard.status_code.code(), call_id = %dialog.call_id,
            "voice: recovery: the INVITE's final response came again; ACKed, no CANCEL");
        return (None, Some(heard));
    }
    let mut cancel_tx = match client_transaction(endpoint, cancel, &destination) {
        Ok(tx) => tx,
        Err(e) => return (Some(FarEndAnswer::NotSent(e)), None),
    };
    if let Err(e) = cancel_tx.send().await {
        return (Some(FarEndAnswer::NotSent(e.to_string())), None);
    }
    // A far end that does not accept the CANCEL (481: it has no such INVITE any more) sends
    // no 487 either: stop waiting for it then. And once the INVITE has its final response,
    // the CANCEL's answer says nothing more: wait for it only a moment (a far end that never
    // answers a CANCEL for an INVITE it already ended, as SIPp in a wait-for-ACK step does,
    // held a restart for the whole transaction limit).
    let no_final_coming = CancellationToken::new();
    let invite_ended = CancellationToken::new();
    let cancel_side = async {
        let answered = final_response(&mut cancel_tx, TRANSACTION_LIMIT + MARGIN);
        let moot = async {
            invite_ended.cancelled().await;
            tokio::time::sleep(CANCEL_ANSWER_GRACE).await;
        };
        let response = tokio::select! {
            response = answered => response,
            () = moot => None,
        };
        let answer = answer_of(response);
        if !matches!(
            answer,
            FarEndAnswer::Final {
                code: 200..=299,
                ..
            }
        ) {
            no_final_coming.cancel();
        }
        answer
    };
    let invite_side = async {
        let response = tokio::select! {
            response = final_response(&mut invite_tx, TRANSACTION_LIMIT) => response,
            () = no_final_coming.cancelled() => None,
        };
        invite_ended.cancel();
        response
    };
    let (answer, invite_final) = tokio::join!(cancel_side, invite_side);
    (Some(answer), invite_final)
}

/// Sends the BYE through a dialog restored from the snapshot, then forgets the dialog.
async fn bye(inner: &Arc<Inner>, dialog: &DialogSnapshot) -> FarEndAnswer {
    let restored = match stack_snapshot(dialog) {
        Ok(restored) => restored,
        Err(e) => return FarEndAnswer::NotSent(e),
    };
    let id = restored.id.clone();
    let (states, _receiver) = inner.dialogs.new_dialog_state_channel();
    match inner.dialogs.restore_from_snapshot(restored, states) {
        Ok(true) => {}
        Ok(false) => return FarEndAnswer::NotSent("dialog already known or not confirmed".into()),
        Err(e) => return FarEndAnswer::NotSent(e.to_string()),
    }
    let answer = match inner.dialogs.get_dialog(&id) {
        Some(Dialog::Invite(restored)) => {
            let sent = restored.request(Method::Bye, None, None);
            match tokio::time::timeout(TRANSACTION_LIMIT + MARGIN, sent).await {
                Ok(Ok(response)) => answer_of(response),
                Ok(Err(e)) => FarEndAnswer::NotSent(e.to_string()),
                Err(_) => FarEndAnswer::NoAnswer,
            }
        }
        _ => FarEndAnswer::NotSent("restored dialog not found".into()),
    };
    inner.dialogs.remove_dialog(&id);
    answer
}

/// The INVITE as the dead process sent it, as far as a CANCEL repeats it, or that CANCEL:
/// Request-URI, top Via (its branch and sent-by), From, To, Call-ID and CSeq number (§9.1).
/// We never send a Route with an initial INVITE, so there is none to repeat.
fn rebuild(
    endpoint: &EndpointInner,
    dialog: &DialogSnapshot,
    method: Method,
) -> Result<Request, String> {
    let uri = parse_uri(&dialog.request_uri)?;
    let from = typed::From::parse(&dialog.from).map_err(|e| format!("From: {e}"))?;
    let to = typed::To::parse(&dialog.to).map_err(|e| format!("To: {e}"))?;
    let sent_by = HostWithPort::try_from(dialog.via_sent_by.as_str())
        .map_err(|e| format!("Via sent-by: {e}"))?;
    let via = typed::Via {
        version: Version::V2,
        transport: sip_transport(dialog.transport),
        uri: sent_by.into(),
        params: vec![
            Param::Branch(Branch::new(dialog.via_branch.clone())),
            Param::Rport(None),
        ],
    };
    let call_id = CallId::new(dialog.call_id.clone());
    Ok(endpoint.make_request(method, uri, via, from, to, dialog.cseq, Some(call_id)))
}

/// The stack's snapshot of the confirmed dialog: our From (with tag), the To with the far
/// end's tag, the remote target and route set, and a local CSeq the BYE goes
/// [`BYE_CSEQ_STEP`] above the INVITE's with (the stack adds one before sending).
fn stack_snapshot(dialog: &DialogSnapshot) -> Result<StackSnapshot, String> {
    let from = typed::From::parse(&dialog.from).map_err(|e| format!("From: {e}"))?;
    let local_tag = from
        .tag()
        .map(|t| t.value().to_owned())
        .ok_or("From has no tag")?;
    let remote_tag = dialog.remote_tag.clone().ok_or("no To tag from the 2xx")?;
    let to = typed::To::parse(&dialog.to)
        .map_err(|e| format!("To: {e}"))?
        .with_tag(Tag::new(remote_tag.clone()));
    let remote_target = dialog
        .remote_target
        .as_deref()
        .ok_or("no Contact from the 2xx")?;
    Ok(StackSnapshot {
        state: DialogSnapshotState::Confirmed,
        role: TransactionRole::Client,
        id: DialogId {
            call_id: dialog.call_id.clone(),
            local_tag,
            remote_tag,
        },
        from,
        to,
        local_cseq: dialog.cseq.saturating_add(BYE_CSEQ_STEP - 1),
        remote_cseq: 0,
        local_contact: None,
        remote_uri: parse_uri(remote_target)?,
        remote_contact: None,
        route_set: dialog.route_set.iter().map(Route::new).collect(),
        supports_100rel: false,
        session_id: None,
    })
}

/// A client transaction for `request` to `destination`, in the endpoint's table so the far
/// end's responses find it.
fn client_transaction(
    endpoint: &Arc<EndpointInner>,
    request: Request,
    destination: &SipAddr,
) -> Result<Transaction, String> {
    let key = TransactionKey::from_request(&request, TransactionRole::Client)
        .map_err(|e| format!("transaction key: {e}"))?;
    let mut tx = Transaction::new_client(key, request, endpoint.clone(), None);
    tx.destination = Some(destination.clone());
    Ok(tx)
}

/// Where the INVITE went: a CANCEL goes to the same place (§9.1).
fn destination(dialog: &DialogSnapshot) -> Result<SipAddr, String> {
    let addr = HostWithPort::try_from(dialog.destination.as_str())
        .map_err(|e| format!("destination: {e}"))?;
    Ok(SipAddr {
        r#type: Some(sip_transport(dialog.transport)),
        addr,
    })
}

/// The first final response the transaction hands up, or `None` when it ended or `limit`
/// passed without one.
async fn final_response(tx: &mut Transaction, limit: Duration) -> Option<Response> {
    let wait = async {
        while let Some(message) = tx.receive().await {
            match message {
                SipMessage::Response(r) if r.status_code.kind() != StatusCodeKind::Provisional => {
                    return Some(r);
                }
                other => debug!(message = %first_line(&other), "voice: recovery: not final yet"),
            }
        }
        None
    };
    tokio::time::timeout(limit, wait).await.ok().flatten()
}

fn answer_of(response: Option<Response>) -> FarEndAnswer {
    match response {
        Some(r) if r.status_code.code() != 408 => {
            let (code, reason) = status_of(&r);
            FarEndAnswer::Final { code, reason }
        }
        _ => FarEndAnswer::NoAnswer,
    }
}

fn status_of(response: &Response) -> (u16, String) {
    let reason = response
        .wire_reason
        .clone()
        .unwrap_or_else(|| response.status_code.text().to_string());
    (response.status_code.code(), reason)
}

fn first_line(message: &SipMessage) -> String {
    message.to_string().lines().next().unwrap_or("").to_owned()
}

fn parse_uri(text: &str) -> Result<Uri, String> {
    Uri::try_from(text).map_err(|e| format!("URI {text:?}: {e}"))
}

fn sip_transport(transport: Transport) -> rsipstack::sip::Transport {
    match transport {
        Transport::Udp => rsipstack::sip::Transport::Udp,
        Transport::Tcp => rsipstack::sip::Transport::Tcp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered() -> DialogSnapshot {
        DialogSnapshot {
            call_id: "8f2c@127.0.0.1".into(),
            from: "<sip:+4940123@127.0.0.1>;tag=ours1".into(),
            to: "<sip:+4930555000@127.0.0.1:5070>".into(),
            remote_tag: Some("theirs9".into()),
            request_uri: "sip:+4930555000@127.0.0.1:5070".into(),
            cseq: 7,
            via_branch: "z9hG4bKfirst".into(),
            via_sent_by: "127.0.0.1:5060".into(),
            transport: Transport::Udp,
            destination: "127.0.0.1:5070".into(),
            remote_target: Some("sip:phone@192.0.2.4:5062".into()),
            route_set: vec!["<sip:p1.example;lr>".into(), "<sip:p2.example;lr>".into()],
        }
    }

    #[test]
    fn the_restored_dialog_has_both_tags_the_target_and_a_cseq_well_above_the_invite() {
        let restored = stack_snapshot(&answered()).expect("restorable");
        assert_eq!(
            (
                restored.id.call_id.as_str(),
                restored.id.local_tag.as_str(),
                restored.id.remote_tag.as_str()
            ),
            ("8f2c@127.0.0.1", "ours1", "theirs9")
        );
        assert_eq!(
            restored.to.tag().map(|t| t.value().to_owned()).as_deref(),
            Some("theirs9")
        );
        // The stack adds one before it sends: the BYE carries 7 + 100.
        assert_eq!(restored.local_cseq + 1, 107);
        assert_eq!(restored.remote_uri.to_string(), "sip:phone@192.0.2.4:5062");
        let routes: Vec<&str> = restored.route_set.iter().map(|r| r.value()).collect();
        assert_eq!(routes, ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
    }

    #[test]
    fn a_dialog_without_the_2xx_facts_is_not_restored() {
        for broken in [
            DialogSnapshot {
                remote_tag: None,
                ..answered()
            },
            DialogSnapshot {
                remote_target: None,
                ..answered()
            },
            DialogSnapshot {
                from: "<sip:+4940123@127.0.0.1>".into(),
                ..answered()
            },
        ] {
            assert!(stack_snapshot(&broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn the_cancel_destination_is_the_invite_s() {
        let to = destination(&answered()).expect("destination");
        assert_eq!(to.addr.to_string(), "127.0.0.1:5070");
        assert_eq!(to.r#type, Some(rsipstack::sip::Transport::Udp));
    }

    fn response(status: &str) -> Response {
        let text = format!(
            "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfirst\r\n\
             Call-ID: 8f2c@127.0.0.1\r\nFrom: <sip:a@h>;tag=ours1\r\nTo: <sip:b@h>;tag=t\r\n\
             CSeq: 7 CANCEL\r\nContent-Length: 0\r\n\r\n"
        );
        Response::try_from(text.as_str()).expect("test response parses")
    }

    #[test]
    fn answers_as_reported() {
        let table = [
            (
                Some(response("200 OK")),
                FarEndAnswer::Final {
                    code: 200,
                    reason: "OK".into(),
                },
            ),
            (
                Some(response("481 Gone Away")),
                FarEndAnswer::Final {
                    code: 481,
                    reason: "Gone Away".into(),
                },
            ),
            // The stack reports its own Timer F as 408 (RFC 3261 §8.1.3.1).
            (
                Some(response("408 Request Timeout")),
                FarEndAnswer::NoAnswer,
            ),
            (None, FarEndAnswer::NoAnswer),
        ];
        for (response, want) in table {
            assert_eq!(answer_of(response.clone()), want, "{response:?}");
        }
    }
}
