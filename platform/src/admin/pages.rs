//! `/admin/v1/subscribers/{sid}/pages`: the subscriber's page table (agent DTMF keys → a title
//! and stored HTML or a URL) that page push shows in the user's browser.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use subscriber_db::{
    DtmfKeys, Page, PageContent, PageHtml, PageId, PageInput, PageTitle, PageUrl, SubscriberId,
};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, numeric_id, subscriber_id};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribers/{sid}/pages", get(list).post(create))
        .route(
            "/subscribers/{sid}/pages/{page_id}",
            get(read).put(update).delete(remove),
        )
}

/// The request body of a page: exactly one of `html` and `url`. Read here rather than as
/// `PageInput` so a body with both, or a misspelt key, is refused instead of half-ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageBody {
    keys: DtmfKeys,
    title: PageTitle,
    #[serde(default)]
    html: Option<PageHtml>,
    #[serde(default)]
    url: Option<PageUrl>,
}

impl PageBody {
    pub(crate) fn into_input(self) -> Result<PageInput, ApiError> {
        if !self.keys.agent_can_key() {
            return Err(ApiError::invalid_field(
                None,
                "keys",
                "page keys are 1 to 8 of 0-9 and *: an agent's # ends the key run, so a page \
                 whose keys hold # could never be selected from the keypad",
            ));
        }
        let content = match (self.html, self.url) {
            (Some(html), None) => PageContent::Html(html),
            (None, Some(url)) => PageContent::Url(url),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field(
                    None,
                    "url",
                    "give either `html` (a stored page) or `url` (a linked page), not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid_field(
                    None,
                    "html",
                    "a page needs `html` (a stored page) or `url` (a linked page)",
                ));
            }
        };
        Ok(PageInput {
            keys: self.keys,
            title: self.title,
            content,
        })
    }
}

fn page_path(
    caller: &Caller,
    sid: &str,
    page_id: &str,
) -> Result<(SubscriberId, PageId), ApiError> {
    let sid = subscriber_id(sid)?;
    caller.scope(&sid, "page")?;
    Ok((sid, PageId(numeric_id(page_id, "page")?)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    ApiJson(body): ApiJson<PageBody>,
) -> Result<(StatusCode, Json<Page>), ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let input = body.into_input()?;
    let page = state
        .with_db(move |db| db.create_page(&sid, &input))
        .await??;
    Ok((StatusCode::CREATED, Json(page)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Json<Vec<Page>>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let pages = state
        .with_db(move |db| {
            db.get_subscriber(&sid)?;
            db.list_pages(&sid)
        })
        .await??;
    Ok(Json(pages))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, page_id)): Path<(String, String)>,
) -> Result<Json<Page>, ApiError> {
    let (sid, id) = page_path(&caller, &sid, &page_id)?;
    Ok(Json(state.with_db(move |db| db.get_page(&sid, id)).await??))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, page_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<PageBody>,
) -> Result<Json<Page>, ApiError> {
    let (sid, id) = page_path(&caller, &sid, &page_id)?;
    let input = body.into_input()?;
    let page = state
        .with_db(move |db| db.update_page(&sid, id, &input))
        .await??;
    Ok(Json(page))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, page_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (sid, id) = page_path(&caller, &sid, &page_id)?;
    state.with_db(move |db| db.delete_page(&sid, id)).await??;
    Ok(StatusCode::NO_CONTENT)
}
