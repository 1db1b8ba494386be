//! The admin API under `/admin/v1`: JSON over HTTP with bearer API keys. Operator keys manage
//! subscribers; a subscriber key sees and changes only its own subscriber's objects (another
//! subscriber's answer 404, operator-only actions 403). One file per resource; every database
//! call goes through `AppState::with_db`.

pub(crate) mod agents;
pub(crate) mod auth;
pub(crate) mod callbacks;
mod calls;
mod dispositions;
pub(crate) mod error;
pub(crate) mod extract;
mod keys;
pub(crate) mod pages;
mod policy;
#[cfg(test)]
mod proptests;
mod push;
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
        .merge(calls::router())
        .merge(push::router())
        .merge(agents::router())
        .merge(dispositions::router())
        .merge(callbacks::router());
    Router::new().nest("/admin/v1", v1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// axum panics when the router is built with two routes for one path; every resource's
    /// routes, the push route among them, must fit beside each other.
    #[test]
    fn the_resources_routes_do_not_conflict() {
        let _app: Router<AppState> = router();
    }
}
