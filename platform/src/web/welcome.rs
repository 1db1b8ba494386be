//! The Welcome page (seed 002 step 203): who will call and about what, and the form for the
//! callback number. Rendering only (`templates/web/welcome.html`); `speak` decides when it is
//! shown and `request` handles what it submits. Field names are stable: `number`, `csrf`, and
//! the hidden context fields `sid`, `sc`, `wc`, `page`, `iat`.

use askama::Template;
use axum::http::StatusCode;
use subscriber_db::CountryCode;

use super::form::FormContext;
use super::html::{Nonce, Page};

/// What the Welcome page shows.
pub(crate) struct Welcome<'a> {
    pub(crate) company: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) ctx: &'a FormContext,
    pub(crate) csrf: &'a str,
    /// Value of the number field: the link's `tel` at first, what the user typed after a
    /// refusal.
    pub(crate) number: &'a str,
    /// Why the last submission was refused.
    pub(crate) error: Option<&'a str>,
    /// Countries allowed by the policy (empty: any), to tell the user up front.
    pub(crate) countries: &'a [CountryCode],
}

#[derive(Template)]
#[template(path = "web/welcome.html")]
struct WelcomeHtml<'a> {
    nonce: Nonce,
    w: &'a Welcome<'a>,
}

impl Welcome<'_> {
    pub(crate) fn page(&self, status: StatusCode) -> Page {
        Page::render(status, |nonce| WelcomeHtml { nonce, w: self })
    }

    fn hint(&self) -> String {
        let base = "We call this number once, now. Numbers with a + are read as international.";
        if self.countries.is_empty() {
            base.to_owned()
        } else {
            let names: Vec<&str> = self.countries.iter().map(CountryCode::as_str).collect();
            format!("{base} We can call numbers in: {}.", names.join(", "))
        }
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
        let w = Welcome {
            company: hostile::VALUE,
            subject: hostile::VALUE,
            ctx: &ctx,
            csrf: hostile::VALUE,
            number: hostile::VALUE,
            error: Some(hostile::VALUE),
            countries: &[],
        };
        // company ×3 (title, heading, card), subject, error, sid, sc, wc, page, csrf, number.
        hostile::assert_escaped(&render(&w), 11);
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
        let countries = ["US".parse()?, "CA".parse()?];
        let w = Welcome {
            company: "Acme",
            subject: "billing",
            ctx: &ctx,
            csrf: "00ff",
            number: "+12015550123",
            error: None,
            countries: &countries,
        };
        let html = render(&w);
        for field in [
            "<input type=\"hidden\" name=\"sid\" value=\"acme\">",
            "<input type=\"hidden\" name=\"iat\" value=\"17\">",
            "<input type=\"hidden\" name=\"csrf\" value=\"00ff\">",
            "name=\"number\" value=\"+12015550123\"",
            "aria-describedby=\"number-hint\"",
            "We can call numbers in: US, CA.",
        ] {
            assert!(html.contains(field), "no {field:?} in\n{html}");
        }
        assert!(!html.contains("name=\"wc\"") && !html.contains("role=\"alert\""));
        let refused = render(&Welcome {
            error: Some("No."),
            ..w
        });
        assert!(refused.contains("aria-describedby=\"number-hint error\""));
        assert!(refused.contains("<p class=\"error\" id=\"error\" role=\"alert\">No.</p>"));
        Ok(())
    }
}
