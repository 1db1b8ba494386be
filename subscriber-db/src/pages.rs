//! The page table: agent DTMF keys → a page pushed to the caller's browser, either HTML stored
//! here (served sandboxed by `pagepush`) or a URL. Keys are unique per subscriber.

use std::fmt;

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, changed, col, opt_col, require_subscriber};
use crate::error::{DbError, DbResult};
use crate::types::{DtmfKeys, PageHtml, PageTitle, PageUrl, SubscriberId};

/// A page's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageId(pub i64);

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the page shows. In JSON, exactly one of `"html": "…"` or `"url": "…"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageContent {
    Html(PageHtml),
    Url(PageUrl),
}

/// A stored page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub id: PageId,
    pub keys: DtmfKeys,
    pub title: PageTitle,
    #[serde(flatten)]
    pub content: PageContent,
}

/// What a subscriber sets on a page (create and full update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageInput {
    pub keys: DtmfKeys,
    pub title: PageTitle,
    #[serde(flatten)]
    pub content: PageContent,
}

const COLUMNS: &str = "id, keys, title, html, url";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Page> {
    let html: Option<PageHtml> = opt_col(row, 3)?;
    let url: Option<PageUrl> = opt_col(row, 4)?;
    // The CHECK constraint keeps exactly one of the two set.
    let content = match (html, url) {
        (Some(html), _) => PageContent::Html(html),
        (None, Some(url)) => PageContent::Url(url),
        (None, None) => {
            return Err(rusqlite::Error::InvalidColumnType(
                3,
                "html".into(),
                rusqlite::types::Type::Null,
            ));
        }
    };
    Ok(Page {
        id: PageId(row.get(0)?),
        keys: col(row, 1)?,
        title: col(row, 2)?,
        content,
    })
}

fn content_columns(content: &PageContent) -> (Option<&str>, Option<&str>) {
    match content {
        PageContent::Html(html) => (Some(html.as_str()), None),
        PageContent::Url(url) => (None, Some(url.as_str())),
    }
}

impl Db {
    /// Adds a page; keys already used by another page of the subscriber are a `Conflict`.
    pub fn create_page(&self, sid: &SubscriberId, input: &PageInput) -> DbResult<Page> {
        let (html, url) = content_columns(&input.content);
        let id: i64 = {
            let conn = self.conn();
            require_subscriber(&conn, sid)?;
            conn.query_row(
                "INSERT INTO pages (subscriber_id, keys, title, html, url) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                params![sid.as_str(), input.keys.as_str(), input.title.as_str(), html, url],
                |r| r.get(0),
            )
            .map_err(|e| DbError::conflict_or(e, "page with these keys"))?
        };
        self.get_page(sid, PageId(id))
    }

    pub fn get_page(&self, sid: &SubscriberId, id: PageId) -> DbResult<Page> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM pages WHERE id = ?1 AND subscriber_id = ?2"),
                params![id.0, sid.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "page" })
    }

    /// The subscriber's pages ordered by keys.
    pub fn list_pages(&self, sid: &SubscriberId) -> DbResult<Vec<Page>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM pages WHERE subscriber_id = ?1 ORDER BY keys"
        ))?;
        let rows = statement.query_map([sid.as_str()], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn update_page(&self, sid: &SubscriberId, id: PageId, input: &PageInput) -> DbResult<Page> {
        let (html, url) = content_columns(&input.content);
        let rows = self
            .conn()
            .execute(
                "UPDATE pages SET keys = ?3, title = ?4, html = ?5, url = ?6 WHERE id = ?1 AND subscriber_id = ?2",
                params![id.0, sid.as_str(), input.keys.as_str(), input.title.as_str(), html, url],
            )
            .map_err(|e| DbError::conflict_or(e, "page with these keys"))?;
        changed(rows, "page")?;
        self.get_page(sid, id)
    }

    pub fn delete_page(&self, sid: &SubscriberId, id: PageId) -> DbResult<()> {
        let rows = self.conn().execute(
            "DELETE FROM pages WHERE id = ?1 AND subscriber_id = ?2",
            params![id.0, sid.as_str()],
        )?;
        changed(rows, "page")
    }

    /// The page the agent's digits select (page push, seed 002 steps 216–217).
    pub fn find_page_by_keys(&self, sid: &SubscriberId, keys: &DtmfKeys) -> DbResult<Page> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM pages WHERE subscriber_id = ?1 AND keys = ?2"),
                params![sid.as_str(), keys.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "page" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{db_with, sid};

    #[test]
    fn pages_by_keys_with_html_or_url() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let html: PageInput =
            serde_json::from_str(r#"{"keys":"1","title":"Offer","html":"<h1>Offer</h1>"}"#)
                .expect("html page");
        let url: PageInput = serde_json::from_str(
            r#"{"keys":"2#","title":"Terms","url":"https://shop.example/terms"}"#,
        )
        .expect("url");
        let first = db.create_page(&a, &html).expect("create");
        let second = db.create_page(&a, &url).expect("create");
        assert!(matches!(
            db.create_page(&a, &html),
            Err(DbError::Conflict { .. })
        ));
        assert_eq!(
            db.find_page_by_keys(&a, &"2#".parse().expect("keys"))
                .expect("find"),
            second
        );
        assert!(matches!(
            db.find_page_by_keys(&a, &"3".parse().expect("keys")),
            Err(DbError::NotFound { .. })
        ));
        let json = serde_json::to_value(&first).expect("json");
        assert_eq!(json["html"], "<h1>Offer</h1>");
        assert!(json.get("url").is_none());

        let mut change = url.clone();
        change.keys = "1".parse().expect("keys");
        assert!(matches!(
            db.update_page(&a, second.id, &change),
            Err(DbError::Conflict { .. })
        ));
        change.keys = "9".parse().expect("keys");
        change.content = PageContent::Html("<p>now stored</p>".try_into().expect("html"));
        let updated = db.update_page(&a, second.id, &change).expect("update");
        assert_eq!(updated.content, change.content);
        assert_eq!(db.list_pages(&a).expect("list").len(), 2);
        db.delete_page(&a, first.id).expect("delete");
        assert_eq!(db.list_pages(&a).expect("list"), vec![updated]);
    }

    #[test]
    fn page_json_is_validated() {
        for bad in [
            r#"{"keys":"A","title":"x","html":"<p>"}"#,
            r#"{"keys":"1","title":"","html":"<p>"}"#,
            r#"{"keys":"1","title":"x","url":"javascript:alert(1)"}"#,
            r#"{"keys":"1","title":"x"}"#,
        ] {
            assert!(serde_json::from_str::<PageInput>(bad).is_err(), "{bad}");
        }
        let huge = format!(
            r#"{{"keys":"1","title":"x","html":"{}"}}"#,
            "x".repeat(256 * 1024 + 1)
        );
        assert!(serde_json::from_str::<PageInput>(&huge).is_err());
    }
}
