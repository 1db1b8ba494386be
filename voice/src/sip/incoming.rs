//! Requests that reach us unasked. In-dialog requests go to their dialog (rsipstack answers BYE
//! and hands INFO, re-INVITE and OPTIONS to the leg task). Outside a dialog we are
//! outbound-only: an INVITE is refused with 403 and creates nothing, OPTIONS is answered, and
//! everything else gets 481 or 405. Nothing here places or changes a call.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transaction::transaction::Transaction;
use tracing::{debug, warn};

use super::{ALLOWED, Inner};

/// Longest a refused INVITE's transaction is kept to retransmit its 403 until the ACK
/// (RFC 3261 §17.2.1 Timer H = 64·T1).
const REFUSED_INVITE_LINGER: Duration = Duration::from_secs(32);

pub(super) async fn serve(inner: Arc<Inner>, mut incoming: TransactionReceiver) {
    while let Some(tx) = incoming.recv().await {
        // Each request on its own task: a dialog waiting for its leg task to answer an INFO or
        // re-INVITE must not hold up the next request.
        tokio::spawn(handle(inner.clone(), tx));
    }
    debug!("voice: incoming request loop ended");
}

async fn handle(inner: Arc<Inner>, mut tx: Transaction) {
    let method = tx.original.method;
    if let Some(mut dialog) = inner.dialogs.match_dialog(&tx) {
        if let Err(e) = dialog.handle(&mut tx).await {
            debug!(%method, error = %e, "voice: in-dialog request failed");
        }
        return;
    }
    let source = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .map(|a| a.to_string())
        .unwrap_or_default();
    let in_dialog = to_tag(&tx).is_some();
    let result = match method {
        Method::Invite if !in_dialog => {
            // Outbound-only (ARCHITECTURE.md "SIP and media"): no call is ever created here.
            warn!(%source, "voice: refused unsolicited INVITE with 403");
            let sent = tx.reply(StatusCode::Forbidden).await;
            linger_for_ack(&mut tx).await;
            sent
        }
        Method::Options => {
            tx.reply_with(StatusCode::OK, capability_headers(), None)
                .await
        }
        // An ACK without a transaction belongs to nothing we sent; RFC 3261 §17.2.3 drops it.
        Method::Ack => Ok(()),
        // RFC 3261 §12.2.2: a request naming a dialog we do not have.
        _ if in_dialog => tx.reply(StatusCode::CallTransactionDoesNotExist).await,
        _ => {
            debug!(%method, %source, "voice: method not allowed outside a dialog");
            tx.reply_with(StatusCode::MethodNotAllowed, vec![allow_header()], None)
                .await
        }
    };
    if let Err(e) = result {
        debug!(%method, %source, error = %e, "voice: could not answer request");
    }
}

fn to_tag(tx: &Transaction) -> Option<String> {
    let to = tx.original.to_header().ok()?;
    let tag = to.tag().ok()??;
    Some(tag.value().to_string())
}

/// Keep a rejected INVITE's server transaction until its ACK so a lost 403 is retransmitted.
async fn linger_for_ack(tx: &mut Transaction) {
    let drained = async { while tx.receive().await.is_some() {} };
    let _ = tokio::time::timeout(REFUSED_INVITE_LINGER, drained).await;
}

/// RFC 3261 §11.2: an OPTIONS answer lists what we accept.
fn capability_headers() -> Vec<Header> {
    vec![
        allow_header(),
        Header::Accept("application/sdp, application/dtmf-relay".into()),
    ]
}

fn allow_header() -> Header {
    let methods: Vec<String> = ALLOWED.iter().map(|m| m.to_string()).collect();
    Header::Allow(methods.join(", ").into())
}
