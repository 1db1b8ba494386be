//! The admin API under `/admin/v1`: JSON over HTTP with bearer API keys. Operator keys manage
//! subscribers; a subscriber key sees and changes only its own subscriber's objects (another
//! subscriber's answer 404, operator-only actions 403). One file per resource; every database
//! call goes through `AppState::with_db`.

pub(crate) mod auth;
mod calls;
pub(crate) mod error;
pub(crate) mod extract;
mod keys;
mod pages;
mod policy;
#[cfg(test)]
mod proptests;
pub(crate) mod route_file;
mod routes;
mod sites;
mod subscribers;

use axum::Router;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    let v1 = Router::new()
        .merge(subscribers::router())
        .merge(keys::router())
        .merge(sites::router())
        .merge(routes::router())
        .merge(pages::router())
        .merge(policy::router())
        .merge(calls::router());
    Router::new().nest("/admin/v1", v1)
}

#[cfg(test)]
mod tests {
    use axum::routing::post;

    use super::*;

    /// The web front adds `POST /admin/v1/calls/{id}/push` to its own router; both must merge
    /// into one app without a route conflict (axum panics at merge time on one).
    #[test]
    fn merges_with_the_push_route_of_the_web_front() {
        let web: Router<AppState> =
            Router::new().route("/admin/v1/calls/{id}/push", post(|| async { "pushed" }));
        let _app = router().merge(web);
    }
}
