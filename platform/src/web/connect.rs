//! The pages under a call session (seed 002 steps 205, 217, 219): the Connect page with live
//! status and the pushed page, its event stream, the stored subscriber pages served sandboxed,
//! and the Disconnect page. The 128-bit session id in the path is the browser's capability;
//! our pages never send it on as a referrer.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use pagepush::{PushEvent, SessionId, Snapshot};
use words::Word;
use serde::Deserialize;
use subscriber_db::{Call, DbError, PageContent, PageId};

use super::html::{Page, esc};
use crate::AppState;

/// Seconds between reloads of the Connect page in browsers without JavaScript.
const NO_SCRIPT_REFRESH_SECS: u32 = 5;

/// What the database knows about a session, for titles and for sessions the hub forgot.
struct Known {
    call: Call,
    company: String,
}

async fn known(state: &AppState, session: &SessionId) -> Result<Known, Response> {
    let Ok(id) = session.as_str().parse::<subscriber_db::SessionId>() else {
        return Err(not_found());
    };
    let found = state
        .with_db(move |db| {
            let call = db.get_call_by_session(&id)?;
            let subscriber = db.get_subscriber(&call.subscriber_id)?;
            Ok::<_, DbError>(Known {
                call,
                company: subscriber.display_name.as_str().to_owned(),
            })
        })
        .await;
    match found {
        Ok(Ok(k)) => Ok(k),
        Ok(Err(DbError::NotFound { .. })) => Err(not_found()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "database error on a session page");
            Err(unavailable())
        }
        Err(_) => Err(unavailable()),
    }
}

fn parse_session(raw: &str) -> Result<SessionId, Box<Response>> {
    raw.parse().map_err(|_| Box::new(not_found()))
}

fn not_found() -> Response {
    Page::message(
        StatusCode::NOT_FOUND,
        "Call not found",
        "We do not know this call. If you asked for a call-back, open the company's link again.",
    )
    .into_response()
}

fn unavailable() -> Response {
    Page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is not available right now",
        "Please reload this page in a moment.",
    )
    .into_response()
}

/// `GET /sessions/{id}`: the Connect page.
pub(crate) async fn connect(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let session = match parse_session(&raw) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let known = match known(&state, &session).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    // `None`: the push channel forgot the session (ended and swept, or the platform
    // restarted); the page then only refreshes until the call record says it ended.
    let snapshot = state.hub().snapshot(&session).ok();
    let live = snapshot.is_some();
    let snapshot = snapshot.unwrap_or_default();
    if snapshot.ended.is_some() || known.call.ended_at.is_some() {
        return Redirect::to(&format!("/sessions/{session}/ended")).into_response();
    }
    let (state_name, text) = status_of(&snapshot);
    let mut body = format!(
        "<h1>Your call with {company}</h1>\n<div class=\"card\">\n\
         <p id=\"status\" class=\"status\" data-state=\"{state_name}\" role=\"status\" \
         aria-live=\"polite\">{text}</p>\n\
         <p class=\"hint\">Keep this page open: the agent can show you pages here during the \
         call.</p>\n</div>\n<section id=\"page-area\" aria-label=\"Page from the agent\">\n",
        company = esc(&known.company),
        text = esc(&text),
    );
    if let Some(PushEvent::Page {
        page_id,
        title,
        url,
    }) = &snapshot.last_page
    {
        body.push_str(&page_frame(*page_id, title, url));
    }
    body.push_str("</section>\n");
    let mut page = Page::new(
        StatusCode::OK,
        format!("Your call with {}", known.company),
        body,
    );
    page.frames = true;
    let refresh = format!("<meta http-equiv=\"refresh\" content=\"{NO_SCRIPT_REFRESH_SECS}\">");
    if live {
        page.head = format!("<noscript>{refresh}</noscript>\n");
        page.script = Some(live_script(&session, snapshot.last_event_id));
    } else {
        page.head = format!("{refresh}\n");
    }
    page.into_response()
}

/// The status line for a snapshot; before the runtime's first status, say what happens next.
fn status_of(snapshot: &Snapshot) -> (&'static str, String) {
    match &snapshot.status {
        Some((s, text)) => (s.word(), text.clone()),
        None => (
            "calling",
            "We are calling you now. Please answer your phone.".to_owned(),
        ),
    }
}

/// The frame for a pushed page: stored HTML (ours, under the session) runs with no script and
/// an opaque origin; a subscriber URL may run its own script, never with our origin.
fn page_frame(page_id: i64, title: &str, url: &str) -> String {
    let stored = url.starts_with("/sessions/");
    let sandbox = if stored {
        pagepush::frame_sandbox_for_html()
    } else {
        pagepush::frame_sandbox_for_url()
    };
    let mut html = format!(
        "<h2 id=\"page-title\" data-page-id=\"{page_id}\">{title}</h2>\n\
         <iframe id=\"page-frame\" title=\"{title}\" src=\"{url}\" sandbox=\"{sandbox}\" \
         referrerpolicy=\"no-referrer\"></iframe>\n",
        title = esc(title),
        url = esc(url),
    );
    if !stored {
        html.push_str(&format!(
            "<p><a id=\"page-open\" href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">\
             Open this page in a new tab</a></p>\n",
            esc(url)
        ));
    }
    html
}

/// Listens on the event stream and updates the page in place. Starts after the events the
/// server already rendered; the browser's own reconnects carry `Last-Event-ID`.
fn live_script(session: &SessionId, after: u64) -> String {
    let html_sandbox = pagepush::frame_sandbox_for_html();
    let url_sandbox = pagepush::frame_sandbox_for_url();
    format!(
        r#"(function(){{
"use strict";
var base="/sessions/{session}";
var st=document.getElementById("status"),area=document.getElementById("page-area");
var es=new EventSource(base+"/events?after={after}");
function seen(e){{if(e.lastEventId){{document.body.setAttribute("data-last-event-id",e.lastEventId);}}}}
function show(p){{
  var stored=p.url.indexOf("/sessions/")===0;
  area.textContent="";
  var h=document.createElement("h2");h.id="page-title";h.textContent=p.title;
  h.setAttribute("data-page-id",String(p.page_id));area.appendChild(h);
  var f=document.createElement("iframe");f.id="page-frame";f.title=p.title;
  f.setAttribute("sandbox",stored?"{html_sandbox}":"{url_sandbox}");
  f.setAttribute("referrerpolicy","no-referrer");f.src=p.url;area.appendChild(f);
  if(!stored){{var q=document.createElement("p"),a=document.createElement("a");a.id="page-open";
    a.href=p.url;a.target="_blank";a.rel="noopener noreferrer";
    a.textContent="Open this page in a new tab";q.appendChild(a);area.appendChild(q);}}
}}
es.addEventListener("status",function(e){{seen(e);var d=JSON.parse(e.data);
  st.textContent=d.text;st.setAttribute("data-state",d.state);}});
es.addEventListener("page",function(e){{seen(e);show(JSON.parse(e.data));}});
es.addEventListener("ended",function(e){{seen(e);es.close();location.replace(base+"/ended");}});
es.addEventListener("reload",function(){{es.close();location.reload();}});
es.onerror=function(){{if(es.readyState===2){{setTimeout(function(){{location.reload();}},3000);}}}};
}})();"#
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    /// Where the page's server render stopped; `Last-Event-ID` wins when the browser sends it.
    after: Option<u64>,
}

/// `GET /sessions/{id}/events`: the push channel (Server-Sent Events).
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(session) = raw.parse::<SessionId>() else {
        return (StatusCode::NOT_FOUND, "unknown session\n").into_response();
    };
    let from_query = query.after.map(HeaderValue::from);
    let last = headers.get("last-event-id").or(from_query.as_ref());
    match pagepush::sse_response(state.hub(), &session, last) {
        Ok(sse) => {
            let mut response = sse.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => (StatusCode::NOT_FOUND, "unknown or finished session\n").into_response(),
    }
}

/// `GET /sessions/{id}/pages/{page_id}`: a stored page of the session's subscriber, served
/// with the sandboxing CSP so its scripts never run with our origin, even opened directly.
pub(crate) async fn stored_page(
    State(state): State<AppState>,
    Path((raw, page_id)): Path<(String, String)>,
) -> Response {
    let (Ok(session), Ok(page_id)) = (raw.parse::<SessionId>(), page_id.parse::<i64>()) else {
        return (StatusCode::NOT_FOUND, "page not found\n").into_response();
    };
    let known = match known(&state, &session).await {
        Ok(k) => k,
        Err(_) => return (StatusCode::NOT_FOUND, "page not found\n").into_response(),
    };
    let sid = known.call.subscriber_id.clone();
    let page = state
        .with_db(move |db| db.get_page(&sid, PageId(page_id)))
        .await;
    let html = match page {
        Ok(Ok(p)) => match p.content {
            PageContent::Html(html) => html.as_str().to_owned(),
            PageContent::Url(_) => {
                return (StatusCode::NOT_FOUND, "page not found\n").into_response();
            }
        },
        _ => return (StatusCode::NOT_FOUND, "page not found\n").into_response(),
    };
    let mut response = (StatusCode::OK, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(pagepush::sandbox_csp()),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /sessions/{id}/ended`: the Disconnect page.
pub(crate) async fn ended(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let session = match parse_session(&raw) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let known = match known(&state, &session).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let pushed = state.hub().snapshot(&session).ok().and_then(|s| s.ended);
    let text = match (&pushed, &known.call.ended_at) {
        (Some(PushEvent::Ended { text, .. }), _) => text.clone(),
        (_, Some(_)) => "The call has ended.".to_owned(),
        // Still in progress: this page is not the right one yet.
        _ => return Redirect::to(&format!("/sessions/{session}")).into_response(),
    };
    let body = format!(
        "<h1>Call ended</h1>\n<div class=\"card\">\n\
         <p id=\"status\" class=\"status\" data-state=\"ended\" role=\"status\">{text}</p>\n\
         <p>Thank you for contacting {company}. You can close this page.</p>\n</div>\n",
        text = esc(&text),
        company = esc(&known.company),
    );
    Page::new(StatusCode::OK, "Call ended", body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_sandboxed_by_kind() {
        let stored = page_frame(1, "<t>", "/sessions/0123/pages/1");
        assert!(stored.contains(pagepush::frame_sandbox_for_html()));
        assert!(!stored.contains("page-open"));
        assert!(!stored.contains("<t>"));
        let url = page_frame(2, "t", "https://shop.example/a?b=\"c\"");
        assert!(url.contains(pagepush::frame_sandbox_for_url()));
        assert!(url.contains("page-open"));
        assert!(url.contains("&quot;c&quot;"));
        // A protocol-relative URL is not one of ours.
        assert!(page_frame(3, "t", "//evil.example/x").contains("page-open"));
    }
}
