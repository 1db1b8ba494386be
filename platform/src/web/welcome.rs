//! The Welcome page (seed 002 step 203): who will call and about what, and the form for the
//! callback number. Rendering only; `speak` decides when it is shown and `request` handles
//! what it submits. Field names are stable: `number`, `csrf`, and the hidden context fields
//! `sid`, `sc`, `wc`, `page`, `iat`.

use axum::http::StatusCode;

use super::form::FormContext;
use super::html::{Page, esc};

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
    pub(crate) countries: &'a [String],
}

impl Welcome<'_> {
    pub(crate) fn page(&self, status: StatusCode) -> Page {
        let mut body = String::with_capacity(2048);
        body.push_str(&format!(
            "<h1>Talk to {company}</h1>\n<div class=\"card\">\n\
             <p><strong>{company}</strong> will call you about <strong>{subject}</strong> \
             and connect you to an agent, while this page stays open.</p>\n",
            company = esc(self.company),
            subject = esc(self.subject),
        ));
        if let Some(error) = self.error {
            body.push_str(&format!(
                "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>\n",
                esc(error)
            ));
        }
        let hidden = |name: &str, value: &str| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n",
                esc(value)
            )
        };
        body.push_str("<form method=\"post\" action=\"/speak\" id=\"callback\">\n");
        body.push_str(&hidden("sid", &self.ctx.sid));
        body.push_str(&hidden("sc", &self.ctx.sc));
        if let Some(wc) = &self.ctx.wc {
            body.push_str(&hidden("wc", wc));
        }
        if let Some(page) = &self.ctx.page {
            body.push_str(&hidden("page", page));
        }
        body.push_str(&hidden("iat", &self.ctx.iat.to_string()));
        body.push_str(&hidden("csrf", self.csrf));
        let described = if self.error.is_some() {
            "number-hint error"
        } else {
            "number-hint"
        };
        body.push_str(&format!(
            "<label for=\"number\">Your phone number</label>\n\
             <input type=\"tel\" id=\"number\" name=\"number\" value=\"{number}\" \
             autocomplete=\"tel\" inputmode=\"tel\" required maxlength=\"32\" \
             aria-describedby=\"{described}\">\n\
             <p class=\"hint\" id=\"number-hint\">{hint}</p>\n\
             <button type=\"submit\" id=\"call-me\">Call me now</button>\n</form>\n</div>\n",
            number = esc(self.number),
            hint = esc(&self.hint()),
        ));
        Page::new(status, format!("Talk to {}", self.company), body)
    }

    fn hint(&self) -> String {
        let base = "We call this number once, now. Numbers with a + are read as international.";
        if self.countries.is_empty() {
            base.to_owned()
        } else {
            format!(
                "{base} We can call numbers in: {}.",
                self.countries.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn everything_from_outside_is_escaped() {
        let ctx = FormContext {
            sid: "acme".into(),
            sc: "billing".into(),
            wc: None,
            page: Some("https://x.example/\"><script>".into()),
            iat: 1,
        };
        let w = Welcome {
            company: "<b>Evil</b>",
            subject: "billing",
            ctx: &ctx,
            csrf: "00",
            number: "\"><img src=x>",
            error: Some("<i>"),
            countries: &[],
        };
        let body = w.page(StatusCode::OK).body;
        assert!(!body.contains("<b>Evil"));
        assert!(!body.contains("\"><script>"));
        assert!(!body.contains("\"><img"));
        assert!(!body.contains("<i>"));
        assert!(body.contains("&lt;b&gt;Evil&lt;/b&gt;"));
        let _ = w.page(StatusCode::OK).into_response();
    }
}
