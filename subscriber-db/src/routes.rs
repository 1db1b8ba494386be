//! The network abstraction table: per subscriber, subject code → call-center number (E.164),
//! optional DNIS, whisper template and ordered fallback numbers. Single-route edits live here;
//! bulk import is in `import.rs`. Routes are addressed by their subject code, the key TAG1
//! carries.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, col, opt_col, require_subscriber};
use crate::error::{DbError, DbResult};
use crate::route_context::RouteContext;
use crate::types::{Dnis, E164, RouteLabel, SubjectCode, SubscriberId, WhisperTemplate};

/// Most fallback numbers a route may have: each costs a ring timeout while the caller waits.
pub const MAX_FALLBACK_NUMBERS: usize = 10;

/// One row of the network abstraction table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub subject_code: SubjectCode,
    pub center_number: E164,
    /// Digits sent as the Request-URI user to the center; `None` sends the number itself.
    #[serde(default)]
    pub dnis: Option<Dnis>,
    #[serde(default)]
    pub whisper_template: WhisperTemplate,
    /// Tried in order when the center number is busy or does not answer.
    #[serde(default)]
    pub fallback_numbers: Vec<E164>,
    /// How the context travels to the center (DNIS range, UUI, `X-` headers, DTMF).
    #[serde(default)]
    pub context: RouteContext,
    /// What the visitor's pages call the subject ("your bill"); `None`: the subject code.
    #[serde(default)]
    pub label: Option<RouteLabel>,
}

/// Which rows a listing returns, for pagination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub limit: u32,
    pub offset: u32,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            limit: 100,
            offset: 0,
        }
    }
}

/// Selects routes with their fallbacks; the caller appends the WHERE clause. One row per
/// fallback number (or one with NULL when none), ordered so rows of a route are adjacent.
const SELECT_ROUTES: &str =
    "SELECT r.id, r.subject_code, r.center_number, r.dnis, r.whisper_template, f.number,
            r.context, r.label
     FROM routes r LEFT JOIN route_fallbacks f ON f.route_id = r.id";
const ORDER_ROUTES: &str = "ORDER BY r.subject_code, f.position";

/// Runs a route query and folds the per-fallback rows into routes.
fn query_routes(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> DbResult<Vec<Route>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut routes: Vec<(i64, Route)> = Vec::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let fallback: Option<E164> = opt_col(row, 5)?;
        if routes.last().is_none_or(|(last, _)| *last != id) {
            let route = Route {
                subject_code: col(row, 1)?,
                center_number: col(row, 2)?,
                dnis: opt_col(row, 3)?,
                whisper_template: col(row, 4)?,
                fallback_numbers: Vec::new(),
                context: context_col(row, 6)?,
                label: opt_col(row, 7)?,
            };
            routes.push((id, route));
        }
        if let (Some(number), Some((_, route))) = (fallback, routes.last_mut()) {
            route.fallback_numbers.push(number);
        }
    }
    Ok(routes.into_iter().map(|(_, route)| route).collect())
}

/// Reads the route's context document; NULL (a route stored before contexts existed) is the
/// default context.
fn context_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<RouteContext> {
    let text: Option<String> = row.get(idx)?;
    text.map_or(Ok(RouteContext::default()), |t| {
        serde_json::from_str(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
}

/// The context as stored: JSON of a typed value, which always serializes.
pub(crate) fn context_json(context: &RouteContext) -> String {
    serde_json::to_string(context).unwrap_or_else(|_| "{}".to_owned())
}

/// What each route is checked for beyond its fields' own shapes.
pub(crate) fn check_route(route: &Route) -> Result<(), crate::error::ValidationError> {
    check_fallback_count(route.fallback_numbers.len())?;
    route.context.check(route.dnis.is_some())
}

/// Writes a route's fallback list, replacing the old one.
pub(crate) fn write_fallbacks(conn: &Connection, route_id: i64, numbers: &[E164]) -> DbResult<()> {
    conn.prepare_cached("DELETE FROM route_fallbacks WHERE route_id = ?1")?
        .execute([route_id])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO route_fallbacks (route_id, position, number) VALUES (?1, ?2, ?3)",
    )?;
    for (position, number) in numbers.iter().enumerate() {
        insert.execute(params![route_id, position as i64, number.as_str()])?;
    }
    Ok(())
}

/// Refuses more than [`MAX_FALLBACK_NUMBERS`].
pub(crate) fn check_fallback_count(count: usize) -> Result<(), crate::error::ValidationError> {
    if count > MAX_FALLBACK_NUMBERS {
        return Err(crate::error::ValidationError::TooMany {
            field: "fallback_numbers",
            max: MAX_FALLBACK_NUMBERS,
            got: count,
        });
    }
    Ok(())
}

impl Db {
    /// Adds a route; a subject code already in the table is a `Conflict`.
    pub fn create_route(&self, sid: &SubscriberId, route: &Route) -> DbResult<Route> {
        check_route(route)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_subscriber(&tx, sid)?;
        let id: i64 = tx
            .query_row(
                "INSERT INTO routes (subscriber_id, subject_code, center_number, dnis, whisper_template, context, label)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                params![
                    sid.as_str(),
                    route.subject_code.as_str(),
                    route.center_number.as_str(),
                    route.dnis.as_ref().map(Dnis::as_str),
                    route.whisper_template.as_str(),
                    context_json(&route.context),
                    route.label.as_ref().map(RouteLabel::as_str),
                ],
                |r| r.get(0),
            )
            .map_err(|e| DbError::conflict_or(e, "route with this subject code"))?;
        write_fallbacks(&tx, id, &route.fallback_numbers)?;
        tx.commit()?;
        drop(conn);
        self.get_route(sid, &route.subject_code)
    }

    /// The route for a subject code: what the call flow looks up for TAG1 → TAG2.
    pub fn get_route(&self, sid: &SubscriberId, code: &SubjectCode) -> DbResult<Route> {
        let sql = format!(
            "{SELECT_ROUTES} WHERE r.subscriber_id = ?1 AND r.subject_code = ?2 {ORDER_ROUTES}"
        );
        let conn = self.conn();
        let mut routes = query_routes(&conn, &sql, &[&sid.as_str(), &code.as_str()])?;
        routes.pop().ok_or(DbError::NotFound { what: "route" })
    }

    /// A window of the table ordered by subject code.
    pub fn list_routes(&self, sid: &SubscriberId, window: Window) -> DbResult<Vec<Route>> {
        let sql = format!(
            "{SELECT_ROUTES} WHERE r.id IN (SELECT id FROM routes WHERE subscriber_id = ?1
             ORDER BY subject_code LIMIT ?2 OFFSET ?3) {ORDER_ROUTES}"
        );
        let conn = self.conn();
        query_routes(&conn, &sql, &[&sid.as_str(), &window.limit, &window.offset])
    }

    /// Up to `limit` routes whose subject code sorts after `after` (all when `None`), in
    /// subject-code order: keyset pagination, which stays fast deep into a large table and
    /// neither skips nor repeats a route when others are added or removed between pages.
    pub fn list_routes_after(
        &self,
        sid: &SubscriberId,
        after: Option<&SubjectCode>,
        limit: u32,
    ) -> DbResult<Vec<Route>> {
        let sql = format!(
            "{SELECT_ROUTES} WHERE r.id IN (SELECT id FROM routes WHERE subscriber_id = ?1
             AND (?2 IS NULL OR subject_code > ?2) ORDER BY subject_code LIMIT ?3) {ORDER_ROUTES}"
        );
        let conn = self.conn();
        let after = after.map(SubjectCode::as_str);
        query_routes(&conn, &sql, &[&sid.as_str(), &after, &limit])
    }

    /// How many routes the subscriber has (for pagination).
    pub fn count_routes(&self, sid: &SubscriberId) -> DbResult<u64> {
        let count: i64 = self.conn().query_row(
            "SELECT count(*) FROM routes WHERE subscriber_id = ?1",
            [sid.as_str()],
            |r| r.get(0),
        )?;
        Ok(count.max(0) as u64)
    }

    /// Replaces the route stored under `code` by `route`; `route.subject_code` may differ
    /// (renaming), and a rename onto an existing code is a `Conflict`.
    pub fn update_route(
        &self,
        sid: &SubscriberId,
        code: &SubjectCode,
        route: &Route,
    ) -> DbResult<Route> {
        check_route(route)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id: i64 = tx
            .query_row(
                "UPDATE routes SET subject_code = ?3, center_number = ?4, dnis = ?5, whisper_template = ?6,
                     context = ?7, label = ?8
                 WHERE subscriber_id = ?1 AND subject_code = ?2 RETURNING id",
                params![
                    sid.as_str(),
                    code.as_str(),
                    route.subject_code.as_str(),
                    route.center_number.as_str(),
                    route.dnis.as_ref().map(Dnis::as_str),
                    route.whisper_template.as_str(),
                    context_json(&route.context),
                    route.label.as_ref().map(RouteLabel::as_str),
                ],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| DbError::conflict_or(e, "route with this subject code"))?
            .ok_or(DbError::NotFound { what: "route" })?;
        write_fallbacks(&tx, id, &route.fallback_numbers)?;
        tx.commit()?;
        drop(conn);
        self.get_route(sid, &route.subject_code)
    }

    pub fn delete_route(&self, sid: &SubscriberId, code: &SubjectCode) -> DbResult<()> {
        let rows = self.conn().execute(
            "DELETE FROM routes WHERE subscriber_id = ?1 AND subject_code = ?2",
            params![sid.as_str(), code.as_str()],
        )?;
        crate::db::changed(rows, "route")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{db_with, route, sid};

    #[test]
    fn create_get_update_rename_delete() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let mut sales = route("sales", "+12015550123");
        sales.fallback_numbers = vec![
            "+12015550188".parse().expect("n"),
            "+33142685300".parse().expect("n"),
        ];
        assert_eq!(db.create_route(&a, &sales).expect("create"), sales);
        assert!(matches!(
            db.create_route(&a, &sales),
            Err(DbError::Conflict { .. })
        ));

        let code = sales.subject_code.clone();
        let mut changed = sales.clone();
        changed.dnis = None;
        changed.fallback_numbers.reverse();
        assert_eq!(
            db.update_route(&a, &code, &changed).expect("update"),
            changed
        );

        db.create_route(&a, &route("support", "+12015550124"))
            .expect("second");
        let mut renamed = changed.clone();
        renamed.subject_code = "support".parse().expect("code");
        assert!(matches!(
            db.update_route(&a, &code, &renamed),
            Err(DbError::Conflict { .. })
        ));
        renamed.subject_code = "billing".parse().expect("code");
        db.update_route(&a, &code, &renamed).expect("rename");
        assert!(matches!(
            db.get_route(&a, &code),
            Err(DbError::NotFound { .. })
        ));
        assert_eq!(
            db.get_route(&a, &renamed.subject_code).expect("renamed"),
            renamed
        );

        db.delete_route(&a, &renamed.subject_code).expect("delete");
        assert!(matches!(
            db.delete_route(&a, &renamed.subject_code),
            Err(DbError::NotFound { .. })
        ));
        assert_eq!(db.count_routes(&a).expect("count"), 1);
    }

    #[test]
    fn listing_is_ordered_and_paginated_with_fallbacks_intact() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        for code in ["c", "a", "d", "b"] {
            db.create_route(&a, &route(code, "+12015550123"))
                .expect("create");
        }
        let codes = |w: Window| -> Vec<String> {
            db.list_routes(&a, w)
                .expect("list")
                .iter()
                .map(|r| r.subject_code.to_string())
                .collect()
        };
        assert_eq!(codes(Window::default()), ["a", "b", "c", "d"]);
        assert_eq!(
            codes(Window {
                limit: 2,
                offset: 1
            }),
            ["b", "c"]
        );
        assert!(
            codes(Window {
                limit: 2,
                offset: 4
            })
            .is_empty()
        );
        let listed = db
            .list_routes(
                &a,
                Window {
                    limit: 1,
                    offset: 0,
                },
            )
            .expect("list");
        assert_eq!(listed[0].fallback_numbers.len(), 1);
    }

    #[test]
    fn keyset_listing_continues_after_a_code_and_stays_in_its_subscriber() {
        let db = db_with(&["alpha", "bravo"]);
        let (a, b) = (sid("alpha"), sid("bravo"));
        for code in ["c", "A", "a", "d", "b"] {
            db.create_route(&a, &route(code, "+12015550123"))
                .expect("create");
        }
        db.create_route(&b, &route("bb", "+12015550123"))
            .expect("create");
        let codes = |after: Option<&str>, limit: u32| -> Vec<String> {
            let after = after.map(|c| c.parse::<SubjectCode>().expect("code"));
            db.list_routes_after(&a, after.as_ref(), limit)
                .expect("list")
                .iter()
                .map(|r| r.subject_code.to_string())
                .collect()
        };
        // Byte order, as the primary listing: upper case before lower case.
        assert_eq!(codes(None, 10), ["A", "a", "b", "c", "d"]);
        assert_eq!(codes(None, 2), ["A", "a"]);
        assert_eq!(codes(Some("a"), 2), ["b", "c"]);
        // A code that is not in the table still positions the page.
        assert_eq!(codes(Some("ba"), 10), ["c", "d"]);
        assert!(codes(Some("d"), 10).is_empty());
        let listed = db.list_routes_after(&a, None, 1).expect("list");
        assert_eq!(listed[0].fallback_numbers.len(), 1);
    }

    #[test]
    fn too_many_fallbacks_are_refused() {
        let db = db_with(&["alpha"]);
        let mut many = route("sales", "+12015550123");
        many.fallback_numbers = vec!["+12015550188".parse().expect("n"); MAX_FALLBACK_NUMBERS + 1];
        assert!(matches!(
            db.create_route(&sid("alpha"), &many),
            Err(DbError::Invalid(crate::ValidationError::TooMany { .. }))
        ));
    }

    #[test]
    fn route_json_validates_fields() {
        let ok = r#"{"subject_code":"sales","center_number":"+12015550123","dnis":"12"}"#;
        let parsed: Route = serde_json::from_str(ok).expect("valid");
        assert!(parsed.fallback_numbers.is_empty() && parsed.whisper_template.as_str().is_empty());
        let bad = r#"{"subject_code":"sales","center_number":"+12015550123","dnis":"12a"}"#;
        let error = serde_json::from_str::<Route>(bad).expect_err("bad dnis");
        assert!(
            error.to_string().contains("dnis must be 1 to 15 digits"),
            "{error}"
        );
    }
}
