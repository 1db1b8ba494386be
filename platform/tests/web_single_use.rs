//! Replays get a clear page and change nothing (issue 10, hardened edges): a Welcome form
//! asks for at most one call, however often it is sent, and a signed link whose expiry lies
//! further ahead than the subscriber's maximum link lifetime (default 30 days) is refused.
#![allow(clippy::unwrap_used)]

mod web_support;

use chrono::Utc;
use subscriber_db::MaxLinkLifetimeSecs;
use web_support::{Fixture, SUBJECT, Setup, USER_NUMBER, WelcomeForm, http};

#[tokio::test(flavor = "multi_thread")]
async fn a_form_sent_twice_makes_one_call() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let link = fx.signed_link(SUBJECT, None, None);
    let mut form = WelcomeForm::fetch(&link).await?;
    form.set("number", USER_NUMBER);
    let (first, location, body) = form.submit(&fx.cb.url("")).await?;
    assert_eq!(first, 303, "{body}");
    assert!(location.is_some_and(|l| l.starts_with("/sessions/")));
    for _ in 0..2 {
        let (again, location, body) = form.submit(&fx.cb.url("")).await?;
        assert_eq!(again, 409, "{body}");
        assert!(location.is_none());
        assert!(
            body.contains("This form has already asked for a call"),
            "{body}"
        );
        assert!(body.contains("click the link again"), "{body}");
    }
    assert_eq!(fx.calls().len(), 1, "one form, one call");
    // A fresh form from the same link still works: the limit is per form, not per link.
    let (status, _, body) =
        WelcomeForm::submit_number(&link, &fx.cb.url(""), "+12015550124").await?;
    assert_eq!(status, 303, "{body}");
    assert_eq!(fx.calls().len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_valid_for_ten_years_is_refused() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let now = Utc::now().timestamp();
    let day = 86_400;
    let ten_years = fx.link_expiring(SUBJECT, None, None, now + 3650 * day);
    let response = http().get(&ten_years).send().await?;
    assert_eq!(response.status().as_u16(), 403);
    let body = response.text().await?;
    assert!(body.contains("longer than the 30 days"), "{body}");
    assert!(
        !body.contains("id=\"callback\""),
        "no form for a refused link"
    );
    // Just inside the default lifetime: the Welcome form.
    let fine = fx.link_expiring(SUBJECT, None, None, now + 29 * day);
    let response = http().get(&fine).send().await?;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await?.contains("id=\"callback\""));
    assert!(fx.calls().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifetime_is_the_subscribers_policy() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::with_policy(|p| {
        p.max_link_lifetime_secs = MaxLinkLifetimeSecs::new(3600).unwrap();
    }))
    .await?;
    let now = Utc::now().timestamp();
    let two_hours = fx.link_expiring(SUBJECT, None, None, now + 7200);
    let response = http().get(&two_hours).send().await?;
    assert_eq!(response.status().as_u16(), 403);
    assert!(response.text().await?.contains("this company allows"));
    let half_hour = fx.link_expiring(SUBJECT, None, None, now + 1800);
    assert_eq!(http().get(&half_hour).send().await?.status().as_u16(), 200);
    Ok(())
}
