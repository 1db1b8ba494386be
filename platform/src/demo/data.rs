//! The demo subscriber's tables (issue 5 point 8): one subscriber, a site whose links are
//! signed, a route with DNIS and whisper, a policy whose agents sign on with a personal PIN,
//! two pages for the agent's digits 1 and 2, and the demo agent (issue 12 item 7), whose
//! console shows the call its PIN claims. Written once; a second start finds them and changes
//! nothing but the demo agent's password, which each start draws afresh and prints (a
//! database kept from a demo before the agent existed gets the agent). Blocking database
//! calls.

use chrono::Utc;
use serde_json::json;
use subscriber_db::types::AgentPassword;
use subscriber_db::{
    Db, DbError, NewAgent, NewSubscriber, PageInput, Policy, Route, SiteInput, SiteSecret,
    SubscriberId, SubscriberUpdate,
};

/// The demo subscriber's id and the subject code its links carry.
pub(crate) const SUBSCRIBER: &str = "demo";
pub(crate) const SUBJECT: &str = "support";
/// The demo call center's number; a demo trunk for exactly this prefix reaches the local
/// call-center phone, every other number reaches the local user phone.
pub(crate) const CENTER_NUMBER: &str = "+12025550147";
const ORIGIN: &str = "http://127.0.0.1";
/// The demo agent's console login and the personal PIN the demo call-center phone keys.
pub(crate) const AGENT_LOGIN: &str = "agent";
const AGENT_PIN: &str = "4711";
/// The demo site's colour, on its own page and on Callbond's.
pub(crate) const ACCENT: &str = "#7a1f5c";

/// Why the demo data could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoDataError {
    #[error("the demo data in the database is not usable: {0}")]
    Db(#[from] DbError),
    #[error("a built-in demo value was refused: {0}")]
    Value(#[from] serde_json::Error),
}

/// What a demo start prints: whose tables, how links are signed, how the agent signs in.
pub(crate) struct Demo {
    pub(crate) sid: SubscriberId,
    pub(crate) secret: SiteSecret,
    /// The demo agent's password for this start (the previous one no longer works).
    pub(crate) agent_password: AgentPassword,
}

/// Ensures the demo tables exist and gives the demo agent a fresh password.
pub(crate) fn ensure(db: &Db) -> Result<Demo, DemoDataError> {
    let sid: SubscriberId = serde_json::from_value(json!(SUBSCRIBER))?;
    let now = Utc::now();
    match db.get_subscriber(&sid) {
        Ok(_) => {}
        Err(DbError::NotFound { .. }) => create(db, &sid, now)?,
        Err(e) => return Err(e.into()),
    }
    let site = db
        .list_sites(&sid)?
        .into_iter()
        .next()
        .ok_or(DbError::NotFound { what: "demo site" })?;
    let secret = db.get_site_secret(&sid, site.id)?;
    let agent_password = AgentPassword::generate();
    let agent = db
        .list_agents(&sid)?
        .into_iter()
        .find(|a| a.login.as_str() == AGENT_LOGIN);
    match agent {
        Some(agent) => {
            db.set_agent_password(&sid, agent.id, &agent_password)?;
        }
        None => {
            let new: NewAgent = serde_json::from_value(json!({
                "login": AGENT_LOGIN,
                "display_name": "Demo Agent",
                "password": agent_password.expose(),
                "pin": AGENT_PIN,
            }))?;
            db.create_agent(&sid, &new, now)?;
        }
    }
    Ok(Demo {
        sid,
        secret,
        agent_password,
    })
}

fn create(db: &Db, sid: &SubscriberId, now: chrono::DateTime<Utc>) -> Result<(), DemoDataError> {
    let new: NewSubscriber = serde_json::from_value(json!({
        "id": SUBSCRIBER, "display_name": "Demo Telecom"
    }))?;
    db.create_subscriber(&new, now)?;
    let site: SiteInput = serde_json::from_value(json!({ "origin": ORIGIN }))?;
    db.create_site(sid, &site, now)?;
    let route: Route = serde_json::from_value(json!({
        "subject_code": SUBJECT,
        "center_number": CENTER_NUMBER,
        "dnis": "8001",
        "whisper_template": "Web caller about {subject}, code {whisper_code}.",
        "label": "your tariff or contract",
    }))?;
    db.create_route(sid, &route)?;
    // The demo agent claims with a personal PIN, so the call pops on their console.
    let policy: Policy = serde_json::from_value(json!({ "sign_on": { "mode": "agent_pin" } }))?;
    db.put_policy(sid, &policy)?;
    // The demo site's look on Callbond's pages, and its offer while the visitor waits.
    let brand: SubscriberUpdate = serde_json::from_value(json!({
        "accent_color": ACCENT,
        "promo_html": "<h1 style=\"font-family:sans-serif;color:#7a1f5c\">Winter offer</h1>\
            <p style=\"font-family:sans-serif\">Demo Flat Plus: 50 GB for the price of 20 until March.</p>",
    }))?;
    db.update_subscriber(sid, &brand)?;
    for (keys, title, html) in [
        (
            "1",
            "Your tariff",
            "<h1>Your tariff</h1><p>Demo Flat: unlimited calls, 20 GB of data, 15 a month.</p>",
        ),
        (
            "2",
            "Your contract",
            "<h1>Your contract</h1><p>Runs month to month; cancel any time with 30 days notice.</p>",
        ),
    ] {
        let page: PageInput =
            serde_json::from_value(json!({ "keys": keys, "title": title, "html": html }))?;
        db.create_page(sid, &page)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn demo_data_is_written_once() {
        let db = Db::open_in_memory().unwrap();
        let first = ensure(&db).unwrap();
        let again = ensure(&db).unwrap();
        let sid = first.sid.clone();
        assert_eq!(sid, again.sid);
        assert_eq!(first.secret.as_bytes(), again.secret.as_bytes());
        // One demo agent, with the PIN the demo phone keys; each start a new password.
        let agents = db.list_agents(&sid).unwrap();
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0].login.as_str(), AGENT_LOGIN);
        assert!(agents[0].has_pin);
        assert_eq!(
            db.find_agent_by_pin(&sid, &AGENT_PIN.parse().unwrap())
                .unwrap()
                .id,
            agents[0].id
        );
        assert_ne!(first.agent_password.expose(), again.agent_password.expose());
        let login = AGENT_LOGIN.parse().unwrap();
        assert!(matches!(
            db.check_agent_login(&sid, &login, &again.agent_password)
                .unwrap(),
            subscriber_db::LoginCheck::Accepted(_)
        ));
        assert!(matches!(
            db.check_agent_login(&sid, &login, &first.agent_password)
                .unwrap(),
            subscriber_db::LoginCheck::Refused
        ));
        assert_eq!(
            db.get_policy(&sid).unwrap().sign_on,
            subscriber_db::SignOnMode::AgentPin
        );
        assert_eq!(db.list_pages(&sid).unwrap().len(), 2);
        let route = db.get_route(&sid, &SUBJECT.parse().unwrap()).unwrap();
        assert_eq!(route.center_number.as_str(), CENTER_NUMBER);
        assert_eq!(
            route.label.as_ref().map(|l| l.as_str()),
            Some("your tariff or contract")
        );
        let subscriber = db.get_subscriber(&sid).unwrap();
        assert_eq!(
            subscriber.accent_color.map(|c| c.hex()).as_deref(),
            Some(ACCENT)
        );
        assert!(subscriber.promo_html.is_some());
    }
}
