//! Page push (seed 002 steps 216–217): a page from the subscriber's page table, chosen by the
//! agent's digits or by page id, shown in the user's browser. One function for both paths (DTMF
//! during the bridge, `POST /admin/v1/calls/{id}/push` from a call center's computer), so they
//! publish the same event and write the same timeline row. It blocks on the database: call it
//! from a blocking thread.

use chrono::{DateTime, Utc};
use pagepush::{Hub, PageLink, PushEvent};
use subscriber_db::{Db, DbError, DtmfKeys, Page, PageContent, PageId, SessionId, SubscriberId};
pub use words::PushSource;
use words::TimelineEvent;

/// Which page to push.
#[derive(Debug, Clone)]
pub enum PushTarget {
    Digits(DtmfKeys),
    Page(PageId),
}

/// Why nothing was pushed.
#[derive(Debug, thiserror::Error)]
pub enum PushPageError {
    /// No page for these digits or this id (the subscriber's page table decides).
    #[error("no page for {0}")]
    NoPage(String),
    /// The call is unknown or another subscriber's.
    #[error("call not found")]
    NoCall,
    /// The browser session has ended (or never opened): nobody can see a page any more.
    #[error("the call's web session has ended")]
    SessionEnded,
    #[error(transparent)]
    Db(DbError),
}

/// What was pushed.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub page_id: PageId,
    pub event_id: u64,
    pub url: String,
}

/// Looks up the page, publishes it to the call's browser session and records it on the
/// call's timeline.
pub fn push_page(
    db: &Db,
    hub: &Hub,
    subscriber: &SubscriberId,
    call: &SessionId,
    target: &PushTarget,
    source: PushSource,
    now: DateTime<Utc>,
) -> Result<Pushed, PushPageError> {
    db.get_call(subscriber, call).map_err(|e| match e {
        DbError::NotFound { .. } => PushPageError::NoCall,
        other => PushPageError::Db(other),
    })?;
    let page: Page = match target {
        PushTarget::Digits(keys) => db.find_page_by_keys(subscriber, keys),
        PushTarget::Page(id) => db.get_page(subscriber, *id),
    }
    .map_err(|e| match e {
        DbError::NotFound { .. } => PushPageError::NoPage(match target {
            PushTarget::Digits(keys) => format!("digits {}", keys.as_str()),
            PushTarget::Page(id) => format!("page id {id}"),
        }),
        other => PushPageError::Db(other),
    })?;
    let session = call;
    // Stored HTML is served by us under the session (sandboxed); a URL page is framed as is.
    let url = match &page.content {
        PageContent::Html(_) => PageLink::new("").stored_page(session, page.id.0),
        PageContent::Url(u) => u.as_str().to_owned(),
    };
    let event_id = hub
        .publish(
            session,
            PushEvent::Page {
                page_id: page.id.0,
                title: page.title.as_str().to_owned(),
                url: url.clone(),
            },
        )
        .map_err(|_| PushPageError::SessionEnded)?;
    let event = TimelineEvent::PagePushed {
        page_id: page.id.0,
        keys: page.keys.to_string(),
        source,
        event_id,
    };
    db.append_call_event(subscriber, call, now, &event)
        .map_err(PushPageError::Db)?;
    Ok(Pushed {
        page_id: page.id,
        event_id,
        url,
    })
}
