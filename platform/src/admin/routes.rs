//! `/admin/v1/subscribers/{sid}/routes`: the network abstraction table, one route per subject
//! code, and its bulk import as CSV or JSON (all or nothing; see `route_file` for the format).
//! `import` is a fixed path segment, so a subject code spelled `import` can only be reached
//! through listings and imports.

use std::time::Instant;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use subscriber_db::{DbError, ImportMode, ImportSummary, Route, SubjectCode, SubscriberId};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, BodyKind, QueryParams, body_kind, read_body, subscriber_id};
use super::route_file;
use crate::AppState;

/// Largest page of a route listing.
const MAX_ROUTES_PER_PAGE: u32 = 1000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribers/{sid}/routes", get(list).post(create))
        .route("/subscribers/{sid}/routes/import", post(import))
        .route(
            "/subscribers/{sid}/routes/{subject_code}",
            get(read).put(update).delete(remove),
        )
}

fn route_path(
    caller: &Caller,
    sid: &str,
    code: &str,
) -> Result<(SubscriberId, SubjectCode), ApiError> {
    let sid = subscriber_id(sid)?;
    caller.scope(&sid, "route")?;
    let code = code.parse().map_err(|_| ApiError::not_found("route"))?;
    Ok((sid, code))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    ApiJson(route): ApiJson<Route>,
) -> Result<(StatusCode, Json<Route>), ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let route = state
        .with_db(move |db| db.create_route(&sid, &route))
        .await??;
    Ok((StatusCode::CREATED, Json(route)))
}

/// One page of routes in subject-code order.
#[derive(Debug, Serialize)]
struct RoutePage {
    routes: Vec<Route>,
    /// Routes the subscriber has in all.
    total: u64,
    /// The `after` of the next page (the last subject code of this one), absent on the last.
    next_after: Option<SubjectCode>,
}

/// `?limit=` (1 to 1000, default 100) and `?after=SUBJECT_CODE` (start after that code, in
/// byte order; keyset pagination, so pages neither skip nor repeat routes while the table
/// changes).
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<RoutePage>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let query = QueryParams::parse(query.as_deref(), &["limit", "after"])?;
    let limit = query.limit(100, MAX_ROUTES_PER_PAGE)?;
    let after = query.parse_as::<SubjectCode>("after", "a subject code")?;
    // One more than asked tells whether another page follows.
    let (mut routes, total) = state
        .with_db(move |db| {
            db.get_subscriber(&sid)?;
            let routes = db.list_routes_after(&sid, after.as_ref(), limit + 1)?;
            Ok::<_, DbError>((routes, db.count_routes(&sid)?))
        })
        .await??;
    let more = routes.len() > limit as usize;
    routes.truncate(limit as usize);
    let next_after = more
        .then(|| routes.last().map(|r| r.subject_code.clone()))
        .flatten();
    Ok(Json(RoutePage {
        routes,
        total,
        next_after,
    }))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, code)): Path<(String, String)>,
) -> Result<Json<Route>, ApiError> {
    let (sid, code) = route_path(&caller, &sid, &code)?;
    Ok(Json(
        state.with_db(move |db| db.get_route(&sid, &code)).await??,
    ))
}

/// Replaces the route; the body's `subject_code` may differ from the path's (a rename).
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, code)): Path<(String, String)>,
    ApiJson(route): ApiJson<Route>,
) -> Result<Json<Route>, ApiError> {
    let (sid, code) = route_path(&caller, &sid, &code)?;
    let route = state
        .with_db(move |db| db.update_route(&sid, &code, &route))
        .await??;
    Ok(Json(route))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, code)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (sid, code) = route_path(&caller, &sid, &code)?;
    state
        .with_db(move |db| db.delete_route(&sid, &code))
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/routes/import?mode=merge|replace` with a CSV or JSON body. Merge (the default)
/// inserts or overwrites by subject code; replace makes the table exactly the file. Either
/// way a bad row stores nothing and the answer names its row and field.
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Json<ImportSummary>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let query = QueryParams::parse(query.as_deref(), &["mode"])?;
    let mode = import_mode(query.get("mode"))?;
    let Some(kind) = body_kind(request.headers()) else {
        return Err(ApiError::unsupported_media_type(
            "send the routes as `Content-Type: text/csv` (header row subject_code,center_number,dnis,whisper_template,fallback_numbers) or `application/json` (an array of route objects)",
        ));
    };
    let body = read_body(request, &state).await?;
    let started = Instant::now();
    let rows = match kind {
        BodyKind::Csv => route_file::parse_csv(&body),
        BodyKind::Json => route_file::parse_json(&body),
    }
    .map_err(DbError::Import)?;
    let count = rows.len();
    let owner = sid.clone();
    let summary = state
        .with_db(move |db| db.import_routes(&owner, &rows, mode))
        .await??;
    tracing::info!(
        subscriber = %sid,
        rows = count,
        removed = summary.removed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "routes imported"
    );
    Ok(Json(summary))
}

fn import_mode(text: Option<&str>) -> Result<ImportMode, ApiError> {
    match text {
        None | Some("merge") => Ok(ImportMode::Merge),
        Some("replace") => Ok(ImportMode::Replace),
        Some(other) => Err(ApiError::invalid_field(
            None,
            "mode",
            format!("query parameter `mode` must be merge or replace, got {other:?}"),
        )),
    }
}
