//! The Welcome page (seed 002 step 203): who will call and about what, and the form for the
//! callback number. Rendering only (`templates/web/welcome.html`); `speak` decides when it is
//! shown and `request` handles what it submits. Field names are stable: `number`, `csrf`, and
//! the hidden context fields `sid`, `sc`, `wc`, `page`, `iat`.

use askama::Template;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use subscriber_db::{CountryCode, Db, DbResult, Policy, SubjectCode, Subscriber};

use super::brand::{self, Brand};
use super::form::FormContext;
use super::html::{Nonce, Page};

/// What the Welcome page shows.
pub(crate) struct Welcome<'a> {
    pub(crate) facts: &'a Facts,
    pub(crate) ctx: &'a FormContext,
    pub(crate) csrf: &'a str,
    /// Value of the number field: the link's `tel` at first, what the user typed after a
    /// refusal.
    pub(crate) number: &'a str,
    /// Why the last submission was refused.
    pub(crate) error: Option<&'a str>,
}

/// What the Welcome page tells about the call, from the database.
pub(crate) struct Facts {
    pub(crate) brand: Brand,
    /// The route's label, else its subject code.
    pub(crate) subject: String,
    /// The number the visitor's phone will show: the user leg's From, the route's center
    /// number (`runtime::spec`), as a person reads it.
    pub(crate) caller_id: String,
    /// The honest wait, when the subscriber's recent calls give one.
    pub(crate) wait: Option<Wait>,
    /// Countries the policy calls back, to tell the user up front.
    pub(crate) countries: Vec<CountryCode>,
    /// Set when every line is busy and the policy offers the callback queue: what the page
    /// says about the queue (its length and the wait estimate).
    pub(crate) queue: Option<String>,
    /// With the queue offered: slots the visitor may choose instead of the next free line.
    pub(crate) slots: Vec<super::callback::SlotOption>,
}

/// Calls older than this say little about today's wait.
const WAIT_WINDOW_DAYS: i64 = 14;
/// The median is taken over at most this many of the latest calls.
const WAIT_CALLS: u32 = 50;

impl Facts {
    /// Blocking: database.
    pub(crate) fn load(
        db: &Db,
        subscriber: &Subscriber,
        policy: &Policy,
        sc: &SubjectCode,
        came_from: Option<&str>,
        now: DateTime<Utc>,
    ) -> DbResult<Self> {
        let route = db.get_route(&subscriber.id, sc)?;
        let site = brand::site_for(db, &subscriber.id, came_from)?;
        let since = now - chrono::Duration::days(WAIT_WINDOW_DAYS);
        let samples = db.recent_request_to_bridge_millis(&subscriber.id, since, WAIT_CALLS)?;
        Ok(Facts {
            brand: Brand::of(subscriber, site),
            subject: route
                .label
                .as_ref()
                .map_or(sc.as_str(), |l| l.as_str())
                .to_owned(),
            caller_id: route.center_number.international(),
            wait: Wait::from_samples(samples),
            countries: policy.caller_countries(),
            queue: None,
            slots: Vec::new(),
        })
    }
}

/// How long, from asking for the call to talking with an agent, the subscriber's recent
/// calls took: their median, and how many calls it is the median of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) median_secs: i64,
    pub(crate) calls: usize,
}

impl Wait {
    /// Fewer calls than this say too little to promise anything.
    pub(crate) const MIN_CALLS: usize = 3;

    /// The median of `millis` (each a call's time from the request to the bridge), or `None`
    /// with fewer than [`Wait::MIN_CALLS`] calls.
    pub(crate) fn from_samples(mut millis: Vec<i64>) -> Option<Self> {
        if millis.len() < Self::MIN_CALLS {
            return None;
        }
        millis.sort_unstable();
        let n = millis.len();
        let median = if n % 2 == 1 {
            millis[n / 2]
        } else {
            (millis[n / 2 - 1] + millis[n / 2]) / 2
        };
        Some(Wait {
            median_secs: (median + 500) / 1000,
            calls: n,
        })
    }

    /// "about 40 seconds", "about 2 minutes", "under a minute" rounded as a person says it.
    pub(crate) fn text(&self) -> String {
        let secs = self.median_secs.max(1);
        if secs < 60 {
            let rounded = ((secs + 5) / 10 * 10).max(10);
            format!("about {rounded} seconds")
        } else {
            let minutes = (secs + 30) / 60;
            if minutes == 1 {
                "about 1 minute".to_owned()
            } else {
                format!("about {minutes} minutes")
            }
        }
    }
}

#[derive(Template)]
#[template(path = "web/welcome.html")]
struct WelcomeHtml<'a> {
    nonce: Nonce,
    brand: &'a Brand,
    w: &'a Welcome<'a>,
    f: &'a Facts,
}

impl Welcome<'_> {
    pub(crate) fn page(&self, status: StatusCode) -> Page {
        Page::render(status, &self.facts.brand, |nonce| WelcomeHtml {
            nonce,
            brand: &self.facts.brand,
            w: self,
            f: self.facts,
        })
    }

    fn hint(&self) -> String {
        let base = if self.facts.queue.is_some() {
            "We call this number once, when an agent line is free for you. Numbers with a + \
             are read as international."
        } else {
            "We call this number once, now. Numbers with a + are read as international."
        };
        if self.facts.countries.is_empty() {
            base.to_owned()
        } else {
            let names: Vec<String> = self
                .facts
                .countries
                .iter()
                .map(brand::country_name)
                .collect();
            format!("{base} We can call numbers in {}.", brand::and_list(&names))
        }
    }

    fn wait_text(&self) -> Option<String> {
        self.facts.wait.map(|w| {
            format!(
                "Usually an agent is on the line {} after you ask (the middle of {} last {} calls).",
                w.text(),
                self.facts.brand.possessive(),
                w.calls
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::html::hostile;

    fn render(w: &Welcome<'_>) -> String {
        w.page(StatusCode::OK).html().to_owned()
    }

    #[test]
    fn every_field_from_outside_is_escaped() {
        let evil = hostile::VALUE.to_owned();
        let ctx = FormContext {
            sid: evil.clone(),
            sc: evil.clone(),
            wc: Some(evil.clone()),
            page: Some(evil.clone()),
            iat: 1,
        };
        let brand = Brand {
            name: hostile::VALUE.to_owned(),
            ..Brand::neutral()
        };
        let facts = Facts {
            brand,
            subject: hostile::VALUE.to_owned(),
            caller_id: hostile::VALUE.to_owned(),
            wait: Some(Wait {
                median_secs: 90,
                calls: 3,
            }),
            countries: Vec::new(),
            queue: None,
            slots: Vec::new(),
        };
        let w = Welcome {
            facts: &facts,
            ctx: &ctx,
            csrf: hostile::VALUE,
            number: hostile::VALUE,
            error: Some(hostile::VALUE),
        };
        // company ×7 (title, header, heading, card, wait, privacy ×2), subject, caller id,
        // error, sid, sc, wc, page, csrf, number.
        hostile::assert_escaped(&render(&w), 16);
    }

    #[test]
    fn the_form_keeps_its_fields_and_tells_the_countries() -> Result<(), Box<dyn std::error::Error>>
    {
        let ctx = FormContext {
            sid: "acme".into(),
            sc: "billing".into(),
            wc: None,
            page: None,
            iat: 17,
        };
        let facts = Facts {
            brand: Brand {
                name: "Jones".to_owned(),
                ..Brand::neutral()
            },
            subject: "your bill".to_owned(),
            caller_id: "+1 202-555-0199".to_owned(),
            wait: None,
            countries: vec!["US".parse()?, "CA".parse()?],
            queue: None,
            slots: Vec::new(),
        };
        let w = Welcome {
            facts: &facts,
            ctx: &ctx,
            csrf: "00ff",
            number: "+12015550123",
            error: None,
        };
        let html = render(&w);
        for field in [
            "<input type=\"hidden\" name=\"sid\" value=\"acme\">",
            "<input type=\"hidden\" name=\"iat\" value=\"17\">",
            "<input type=\"hidden\" name=\"csrf\" value=\"00ff\">",
            "name=\"number\" value=\"+12015550123\"",
            "aria-describedby=\"number-hint\"",
            "We can call numbers in the United States and Canada.",
            "about <strong id=\"subject\">your bill</strong>",
            "<strong>Your phone will show</strong>+1 202-555-0199",
            "it is kept with Jones&#39; record of the call.",
        ] {
            assert!(html.contains(field), "no {field:?} in\n{html}");
        }
        assert!(!html.contains("name=\"wc\"") && !html.contains("role=\"alert\""));
        // No recent calls to speak for: no waiting time at all, rather than a guess.
        assert!(!html.contains("id=\"wait\""), "{html}");
        let refused = render(&Welcome {
            error: Some("No."),
            ..w
        });
        assert!(refused.contains("aria-describedby=\"number-hint error\""));
        assert!(refused.contains("<p class=\"error\" id=\"error\" role=\"alert\">No.</p>"));
        Ok(())
    }

    /// Bridge times in ms → (median secs, calls, sentence), `None`: no wait shown.
    type WaitCase<'a> = (&'a [i64], Option<(i64, usize, &'a str)>);

    #[test]
    fn the_wait_is_a_median_of_enough_calls_said_plainly() {
        let cases: &[WaitCase<'_>] = &[
            (&[], None),
            (&[30_000, 40_000], None),
            (
                &[30_000, 41_000, 300_000],
                Some((41, 3, "about 40 seconds")),
            ),
            (
                &[60_000, 80_000, 100_000, 500_000],
                Some((90, 4, "about 2 minutes")),
            ),
            (&[3_000, 4_000, 5_000], Some((4, 3, "about 10 seconds"))),
            (&[70_000, 75_000, 80_000], Some((75, 3, "about 1 minute"))),
        ];
        for (samples, want) in cases {
            let got =
                Wait::from_samples(samples.to_vec()).map(|w| (w.median_secs, w.calls, w.text()));
            assert_eq!(
                got,
                want.map(|(s, n, t)| (s, n, t.to_owned())),
                "{samples:?}"
            );
        }
    }
}
