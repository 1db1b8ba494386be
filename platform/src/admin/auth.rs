//! Bearer API keys: `Authorization: Bearer <key>` → the [`Principal`] the key belongs to.
//! Unknown, revoked and missing keys all answer 401 with the same sentence.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subscriber_db::{Principal, SubscriberId};

use super::error::ApiError;
use crate::AppState;

/// The authenticated caller of an admin request.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Principal);

impl Caller {
    /// The subscriber a subscriber key is bound to; operators must name one in the path.
    pub(crate) fn subscriber(&self) -> Option<&SubscriberId> {
        match &self.0 {
            Principal::Operator => None,
            Principal::Subscriber(sid) => Some(sid),
        }
    }

    /// Whether this caller may act on `sid`'s objects. A subscriber key on another subscriber
    /// gets `NotFound`, never `Forbidden`: it must not learn that the other subscriber exists.
    pub(crate) fn scope(&self, sid: &SubscriberId, what: &str) -> Result<(), ApiError> {
        match &self.0 {
            Principal::Operator => Ok(()),
            Principal::Subscriber(own) if own == sid => Ok(()),
            Principal::Subscriber(_) => Err(ApiError::not_found(what)),
        }
    }

    /// The `{sid}` of a path, parsed and checked against this caller: malformed or another
    /// subscriber's id both answer 404.
    pub(crate) fn subscriber_in_path(&self, text: &str) -> Result<SubscriberId, ApiError> {
        let sid = super::extract::subscriber_id(text)?;
        self.scope(&sid, "subscriber")?;
        Ok(sid)
    }

    pub(crate) fn require_operator(&self) -> Result<(), ApiError> {
        match &self.0 {
            Principal::Operator => Ok(()),
            Principal::Subscriber(_) => Err(ApiError::forbidden(
                "this needs an operator key; subscriber keys manage only their own subscriber",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned())
            .ok_or_else(ApiError::unauthorized)?;
        let principal = state.with_db(move |db| db.authenticate(&token)).await??;
        Ok(Caller(principal))
    }
}
