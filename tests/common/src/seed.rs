//! Test data for call-flow tests, written straight into the binary's database file with the
//! typed `subscriber-db` API: a subscriber, a site that accepts unsigned links, one route of
//! the network abstraction table, a policy and pages for digits 1 and 2. Values go through
//! the same validation as the admin API.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};
use subscriber_db::{Db, NewSubscriber, PageInput, Policy, Route, SiteInput, SubscriberId};

/// Number prefixes the trunks of a flow test route on: user numbers start with
/// [`USER_PREFIX`], call-center numbers with [`CENTER_PREFIX`].
pub const USER_PREFIX: &str = "+4930555";
pub const CENTER_PREFIX: &str = "+4940";
/// The route's center number and its two fallbacks.
pub const CENTER_NUMBER: &str = "+494012345600";
pub const FALLBACK_NUMBERS: [&str; 2] = ["+494012345601", "+494012345602"];
pub const DNIS: &str = "8001";
pub const SUBJECT: &str = "billing";
pub const ORIGIN: &str = "http://shop.example";

/// The `n`-th user number of a test (distinct numbers keep per-number rate limits apart).
pub fn user_number(n: u32) -> String {
    format!("{USER_PREFIX}{:05}", n % 100_000)
}

/// What a flow test seeds.
#[derive(Debug, Clone)]
pub struct Seed {
    pub subscriber: String,
    /// The route's whisper template; empty: nothing is whispered.
    pub whisper_template: String,
    /// Fallback numbers after the center number.
    pub fallbacks: Vec<String>,
    /// Policy fields as JSON (merged over defaults), e.g. `{"call_order": "center_first"}`.
    pub policy: Value,
}

impl Default for Seed {
    fn default() -> Self {
        Self {
            subscriber: "acme".into(),
            whisper_template: "Customer {whisper_code} about {subject}".into(),
            fallbacks: Vec::new(),
            policy: json!({}),
        }
    }
}

impl Seed {
    /// The default seed with these policy fields, e.g. `{"call_order": "simultaneous"}`.
    pub fn with_policy(policy: Value) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// The default seed with an empty whisper template: the bridge follows the sign-on at once.
    pub fn without_whisper() -> Self {
        Self {
            whisper_template: String::new(),
            ..Self::default()
        }
    }
}

/// Pages for digits 1 and 2: their titles, as the browser shows them.
pub const PAGE_TITLES: [&str; 2] = ["Tariff overview", "Contract terms"];

/// Writes the seed into the database at `db_path`; returns the subscriber id.
pub fn seed(db_path: &Path, seed: &Seed) -> anyhow::Result<SubscriberId> {
    let db = Db::open(db_path).context("opening the test database")?;
    let now = chrono::Utc::now();
    let new: NewSubscriber = serde_json::from_value(json!({
        "id": seed.subscriber, "display_name": "Acme Telecom"
    }))?;
    db.create_subscriber(&new, now)?;
    let sid = new.id;
    let site: SiteInput = serde_json::from_value(json!({
        "origin": ORIGIN, "accept_unsigned": true
    }))?;
    db.create_site(&sid, &site, now)?;
    let route: Route = serde_json::from_value(json!({
        "subject_code": SUBJECT,
        "center_number": CENTER_NUMBER,
        "dnis": DNIS,
        "whisper_template": seed.whisper_template,
        "fallback_numbers": seed.fallbacks,
    }))?;
    db.create_route(&sid, &route)?;
    // The flow tests call German numbers (+4930555…): the subscriber's own country is DE, the
    // only one a default policy calls back (default-deny, issue 10).
    let mut policy = json!({ "max_concurrent_calls": 100, "default_country": "DE" });
    if let (Some(p), Some(extra)) = (policy.as_object_mut(), seed.policy.as_object()) {
        p.extend(extra.clone());
    }
    let policy: Policy = serde_json::from_value(policy).context("test policy")?;
    db.put_policy(&sid, &policy)?;
    for (keys, title) in ["1", "2"].into_iter().zip(PAGE_TITLES) {
        create_page(&db, &sid, keys, title)?;
    }
    Ok(sid)
}

/// Adds a page for `keys` titled `title` to a seeded subscriber (beyond [`PAGE_TITLES`]).
pub fn add_page(db_path: &Path, sid: &SubscriberId, keys: &str, title: &str) -> anyhow::Result<()> {
    let db = Db::open(db_path).context("opening the test database")?;
    create_page(&db, sid, keys, title)
}

fn create_page(db: &Db, sid: &SubscriberId, keys: &str, title: &str) -> anyhow::Result<()> {
    let page: PageInput = serde_json::from_value(json!({
        "keys": keys,
        "title": title,
        "html": format!("<h1>{title}</h1><p>Page for digits {keys}.</p>"),
    }))?;
    db.create_page(sid, &page)?;
    Ok(())
}

/// The link-signing secret of the seeded site.
pub fn site_secret(
    db_path: &Path,
    sid: &SubscriberId,
) -> anyhow::Result<subscriber_db::SiteSecret> {
    let db = Db::open(db_path)?;
    let site = db
        .list_sites(sid)?
        .into_iter()
        .next()
        .context("no site seeded")?;
    Ok(db.get_site_secret(sid, site.id)?)
}

/// The `[[trunks]]` config sending user numbers to `user` and center numbers to `center`.
pub fn trunks_config(user: std::net::SocketAddr, center: std::net::SocketAddr) -> String {
    trunks_config_with(user, center, None)
}

/// [`trunks_config`] with digest credentials (username, password) on the user's trunk.
pub fn trunks_config_with(
    user: std::net::SocketAddr,
    center: std::net::SocketAddr,
    user_auth: Option<(&str, &str)>,
) -> String {
    let auth = user_auth
        .map(|(name, password)| format!("username = \"{name}\"\npassword = \"{password}\"\n"))
        .unwrap_or_default();
    format!(
        "[[trunks]]\nprefix = \"{USER_PREFIX}\"\ntarget = \"{user}\"\n{auth}\
         [[trunks]]\nprefix = \"{CENTER_PREFIX}\"\ntarget = \"{center}\"\n"
    )
}
