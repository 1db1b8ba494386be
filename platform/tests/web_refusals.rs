//! Every way the web front says no (seed 002 steps 201–205): broken, tampered, expired and
//! unknown links; a closed, inactive or full call center; a forged form; numbers we must not
//! call; the per-number and per-IP rate limits. Each answers its own page and status, and no
//! call record appears.
#![allow(clippy::unwrap_used)]

mod web_support;

use chrono::{Timelike, Utc};
use subscriber_db::{MaxConcurrentCalls, Policy, SubscriberUpdate, TimeRange, WeeklyHours};
use testkit::Browser;
use testkit::browser::fantoccini::Locator;
use web_support::{Fixture, SID, SUBJECT, Setup, USER_NUMBER, WelcomeForm, http, request_call};

/// GETs `url` with optional extra headers; returns status and body.
async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = http().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn expect(case: &str, got: (u16, String), status: u16, text: &str) {
    assert_eq!(got.0, status, "{case}: {}", got.1);
    assert!(got.1.contains(text), "{case}: no {text:?} in\n{}", got.1);
    assert!(got.1.contains("<html lang=\"en\">"), "{case}: not our page");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_links_get_their_page_and_store_nothing() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let good = fx.signed_link(SUBJECT, Some("C42"), None);
    expect("good link", get(&good, &[]).await, 200, "Talk to");

    let tampered_wc = good.replace("wc=C42", "wc=C43");
    assert_ne!(tampered_wc, good);
    expect("tampered wc", get(&tampered_wc, &[]).await, 403, "altered");
    let sig_at = good.find("sig=").unwrap() + 4;
    let mut flipped = good.clone();
    let c = if &good[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    flipped.replace_range(sig_at..sig_at + 1, c);
    expect("flipped sig", get(&flipped, &[]).await, 403, "altered");
    let expired = fx.link_expiring(SUBJECT, None, None, Utc::now().timestamp() - 5);
    expect("expired", get(&expired, &[]).await, 410, "expired");
    let unknown_sc = fx.signed_link("no-such-subject", None, None);
    expect(
        "unknown sc",
        get(&unknown_sc, &[]).await,
        404,
        "do not know",
    );
    let unknown_sid = fx.cb.url(&format!(
        "/speak?sid=nobody&sc={SUBJECT}&exp=9999999999&sig=00"
    ));
    expect(
        "unknown sid",
        get(&unknown_sid, &[]).await,
        404,
        "do not know",
    );
    let no_sc = fx.cb.url(&format!("/speak?sid={SID}"));
    expect("no sc", get(&no_sc, &[]).await, 400, "subject code");
    let garbage = fx.cb.url("/speak?sid=%3Cscript%3E&sc=x");
    let page = get(&garbage, &[]).await;
    expect("garbage sid", page.clone(), 400, "company id");
    assert!(!page.1.contains("<script>"), "input echoed unescaped");
    // Unsigned links: only from a site that accepts them (this one does not).
    let unsigned = fx.cb.url(&format!("/speak?sid={SID}&sc={SUBJECT}"));
    expect(
        "unsigned, no origin",
        get(&unsigned, &[]).await,
        403,
        "own web site",
    );
    let referer = fx.site.url();
    expect(
        "unsigned, site refuses them",
        get(&unsigned, &[("referer", &referer)]).await,
        403,
        "own web site",
    );
    assert!(fx.calls().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_links_only_from_a_site_that_accepts_them() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup {
        site_accepts_unsigned: true,
        ..Setup::default()
    })
    .await?;
    let unsigned = fx.cb.url(&format!("/speak?sid={SID}&sc={SUBJECT}"));
    let referer = fx.site.url();
    expect(
        "from the site",
        get(&unsigned, &[("referer", &referer)]).await,
        200,
        "Talk to",
    );
    expect(
        "from another origin",
        get(&unsigned, &[("referer", "http://127.0.0.1:1/x")]).await,
        403,
        "own web site",
    );
    expect("no referer", get(&unsigned, &[]).await, 403, "own web site");
    // And in a real browser: the subscriber's page links without a signature.
    let browser = Browser::start().await?;
    fx.site.serve_link(&unsigned);
    browser.client.goto(&fx.site.url()).await?;
    browser.click("speak").await?;
    browser.wait_for_text("h1", "Talk to").await?;
    browser.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_inactive_and_full_call_centers() -> anyhow::Result<()> {
    // Open one hour a day, starting two hours from now in Tokyo.
    let tokyo_hour = Utc::now()
        .with_timezone(&"Asia/Tokyo".parse::<subscriber_db::TimeZone>()?.tz())
        .hour();
    let opens = (tokyo_hour + 2) % 24;
    let range: TimeRange = format!("{opens:02}:00-{:02}:00", opens + 1).parse()?;
    let fx = Fixture::start(Setup::with_policy(move |p: &mut Policy| {
        p.time_zone = "Asia/Tokyo".parse().unwrap();
        p.weekly_hours = WeeklyHours::new(std::array::from_fn(|_| vec![range])).unwrap();
        // Without the callback queue closed and full refuse (with it, the visitor may queue:
        // tests/callback_queue.rs).
        p.callback.offer = false;
    }))
    .await?;
    let link = fx.signed_link(SUBJECT, None, None);
    let (status, body) = get(&link, &[]).await;
    expect("closed", (status, body.clone()), 503, "closed now");
    assert!(
        body.contains(&format!("at {opens:02}:00 (Asia/Tokyo time)")),
        "{body}"
    );

    let db = fx.db();
    let mut policy = db.get_policy(&fx.sid)?;
    policy.weekly_hours = WeeklyHours::always_open();
    policy.max_concurrent_calls = MaxConcurrentCalls::new(1)?;
    db.put_policy(&fx.sid, &policy)?;
    request_call(&fx, USER_NUMBER).await?;
    expect("full", get(&link, &[]).await, 503, "busy");

    db.update_subscriber(
        &fx.sid,
        &SubscriberUpdate {
            active: Some(false),
            ..SubscriberUpdate::default()
        },
    )?;
    expect("inactive", get(&link, &[]).await, 503, "does not offer");
    assert_eq!(fx.calls().len(), 1, "only the call made while open");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_forms_and_numbers_we_must_not_call() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::with_policy(|p: &mut Policy| {
        p.allowed_caller_countries = vec!["US".parse().unwrap(), "CA".parse().unwrap()];
    }))
    .await?;
    let link = fx.signed_link(SUBJECT, Some("C42"), None);

    type Change = Box<dyn Fn(&mut WelcomeForm)>;
    let cases: &[(&str, Change, u16, &str)] = &[
        (
            "no csrf",
            Box::new(|f| {
                f.remove("csrf");
                f.set("number", USER_NUMBER);
            }),
            403,
            "security token",
        ),
        (
            "wrong cookie",
            Box::new(|f| {
                f.cookie = "0123456789abcdef0123456789abcdef".into();
                f.set("number", USER_NUMBER);
            }),
            403,
            "does not belong",
        ),
        (
            "changed subject",
            Box::new(|f| {
                f.set("wc", "C99");
                f.set("number", USER_NUMBER);
            }),
            403,
            "was changed",
        ),
        (
            "premium rate",
            Box::new(|f| f.set("number", "+1 900 555 0123")),
            422,
            "premium-rate",
        ),
        (
            "not allowed country",
            Box::new(|f| f.set("number", "+33 6 12 34 56 78")),
            422,
            "only call numbers in the United States and Canada",
        ),
        (
            "unreadable",
            Box::new(|f| f.set("number", "call me maybe")),
            422,
            "could not read",
        ),
        (
            "empty",
            Box::new(|f| f.set("number", "")),
            422,
            "enter the phone number",
        ),
    ];
    for (case, change, status, text) in cases {
        let mut form = WelcomeForm::fetch(&link).await?;
        change(&mut form);
        let (got, location, body) = form.submit(&fx.cb.url("")).await?;
        assert_eq!(got, *status, "{case}: {body}");
        assert!(location.is_none(), "{case}");
        assert!(body.contains(text), "{case}: no {text:?} in\n{body}");
        if *status == 422 {
            // The form comes back, with the reason and what was typed.
            assert!(body.contains("id=\"callback\""), "{case}: no form");
            assert!(body.contains("role=\"alert\""), "{case}");
        }
        assert!(fx.calls().is_empty(), "{case} stored a call");
    }

    // The same refusal in a real browser: the reason is shown above the field.
    let browser = Browser::start().await?;
    browser.client.goto(&link).await?;
    let field = browser.client.find(Locator::Id("number")).await?;
    field.send_keys("+1 900 555 0123").await?;
    browser.click("call-me").await?;
    let error = browser.wait_for_text("#error", "premium-rate").await?;
    assert!(error.contains("ordinary mobile or landline"), "{error}");
    let kept = browser
        .client
        .find(Locator::Id("number"))
        .await?
        .prop("value")
        .await?;
    assert_eq!(kept.as_deref(), Some("+1 900 555 0123"));
    browser.screenshot("welcome-refused").await?;
    // The refused form still works for a good number.
    browser.retype("number", USER_NUMBER).await?;
    browser.click("call-me").await?;
    browser.wait_for_url(|u| u.contains("/sessions/")).await?;
    browser.close().await?;
    assert_eq!(fx.calls().len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_number_is_called_at_most_three_times_an_hour_and_an_ip_is_limited() -> anyhow::Result<()>
{
    let fx = Fixture::start(Setup {
        extra_config: "[web]\nmax_calls_per_ip_per_hour = 5\n".to_owned(),
        ..Setup::default()
    })
    .await?;
    for _ in 0..3 {
        request_call(&fx, USER_NUMBER).await?;
    }
    // The same number written another way is the same number.
    let link = fx.signed_link(SUBJECT, None, None);
    let (status, _, body) =
        WelcomeForm::submit_number(&link, &fx.cb.url(""), "(201) 555-0123").await?;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("already been called 3 times"), "{body}");
    assert_eq!(fx.calls().len(), 3);

    // Other numbers still go through, until the IP limit (5 an hour).
    request_call(&fx, "+12015550124").await?;
    request_call(&fx, "+12015550125").await?;
    let (status, _, body) =
        WelcomeForm::submit_number(&link, &fx.cb.url(""), "+12015550126").await?;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("from your network"), "{body}");
    assert_eq!(fx.calls().len(), 5);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn toll_fraud_destinations_are_refused_before_any_call() -> anyhow::Result<()> {
    // Default policy (default country US, no country list) and an operator block on +1202.
    let fx = Fixture::start(Setup {
        extra_config: "[dialing]\nblocked_prefixes = [\"+1202\"]\n".to_owned(),
        ..Setup::default()
    })
    .await?;
    let link = fx.signed_link(SUBJECT, None, None);
    for (number, text) in [
        ("+881631234567", "a satellite phone number"),
        ("+870772123456", "a satellite (Inmarsat) number"),
        ("+882164000000", "an international network number"),
        ("+883510000000", "an international network number"),
        ("+12025550123", "a range this service does not call"),
        // Default-deny: a country the subscriber never listed.
        ("+447912345678", "only call numbers in the United States"),
    ] {
        let (status, location, body) =
            WelcomeForm::submit_number(&link, &fx.cb.url(""), number).await?;
        assert_eq!(status, 422, "{number}: {body}");
        assert!(location.is_none(), "{number}");
        assert!(body.contains(text), "{number}: no {text:?} in\n{body}");
    }
    assert!(fx.calls().is_empty(), "no call was stored or placed");
    // An ordinary number of the subscriber's own country still goes through.
    let (status, _, body) = WelcomeForm::submit_number(&link, &fx.cb.url(""), USER_NUMBER).await?;
    assert_eq!(status, 303, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_number_no_trunk_reaches_is_refused_at_the_form() -> anyhow::Result<()> {
    // Default policy (US). The only trunk carries +1 201 numbers.
    let fx = Fixture::start(Setup {
        trunk_prefix: "+1201",
        ..Setup::default()
    })
    .await?;
    let link = fx.signed_link(SUBJECT, None, None);
    // A US number the policy allows, in a range no trunk reaches.
    let (status, location, body) =
        WelcomeForm::submit_number(&link, &fx.cb.url(""), "+1 312 555 0123").await?;
    assert_eq!(status, 422, "{body}");
    assert!(location.is_none());
    assert!(
        body.contains("no telephone line that reaches this number"),
        "{body}"
    );
    assert!(fx.calls().is_empty(), "no call was stored or placed");
    assert!(
        fx.cb
            .logs()
            .contains("no trunk carries the callback number"),
        "the operator is told why"
    );
    // A number the trunk carries goes through.
    assert!(USER_NUMBER.starts_with("+1201"));
    let (status, _, body) = WelcomeForm::submit_number(&link, &fx.cb.url(""), USER_NUMBER).await?;
    assert_eq!(status, 303, "{body}");
    Ok(())
}
