//! How the visitor's pages present the subscriber: its name (with a correct possessive), logo,
//! accent colour and the way back to its site; and the words pages build sentences from
//! (country names, lists). Values only: what the database says goes in, text comes out. The
//! templates print everything through askama's escaping.

use subscriber_db::{CountryCode, Db, DbResult, Origin, Subscriber, SubscriberId};

use super::tag1::request_origin;

/// The accent of pages that belong to no subscriber (a link we cannot read), and of
/// subscribers that chose none: 5.13:1 against white text (WCAG AA).
const DEFAULT_ACCENT: &str = "#0b5fff";

/// What every page's header and actions show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Brand {
    /// Empty for pages that belong to no subscriber.
    pub(crate) name: String,
    pub(crate) logo_url: Option<String>,
    /// `#rrggbb` of the header band and buttons.
    pub(crate) accent: String,
    /// `#rrggbb` of text on the accent, chosen to stay readable on it.
    pub(crate) on_accent: &'static str,
    /// The subscriber's site (an origin), for "back to …'s site".
    pub(crate) site: Option<String>,
}

impl Brand {
    /// A page that belongs to no subscriber we know.
    pub(crate) fn neutral() -> Self {
        Brand {
            name: String::new(),
            logo_url: None,
            accent: DEFAULT_ACCENT.to_owned(),
            on_accent: "#ffffff",
            site: None,
        }
    }

    /// The subscriber's branding; `site` is where "back" leads.
    pub(crate) fn of(subscriber: &Subscriber, site: Option<Origin>) -> Self {
        let (accent, on_accent) = match subscriber.accent_color {
            Some(c) => (c.hex(), c.text_color()),
            None => (DEFAULT_ACCENT.to_owned(), "#ffffff"),
        };
        Brand {
            name: subscriber.display_name.as_str().to_owned(),
            logo_url: subscriber.logo_url.as_ref().map(|u| u.as_str().to_owned()),
            accent,
            on_accent,
            site: site.map(|o| o.as_str().to_owned()),
        }
    }

    /// "Acme's", "Jones'".
    pub(crate) fn possessive(&self) -> String {
        possessive(&self.name)
    }
}

/// The subscriber's site the visitor came from, else its first one. Blocking.
pub(crate) fn site_for(
    db: &Db,
    sid: &SubscriberId,
    came_from: Option<&str>,
) -> DbResult<Option<Origin>> {
    let sites = db.list_sites(sid)?;
    let from = request_origin(None, came_from);
    let matching = sites.iter().find(|s| Some(&s.origin) == from.as_ref());
    Ok(matching.or(sites.first()).map(|s| s.origin.clone()))
}

/// English possessive of a name: `'s`, or a bare apostrophe after a final s ("Jones'",
/// "Acme Systems'"), as most style guides write plural-looking business names.
pub(crate) fn possessive(name: &str) -> String {
    if name.ends_with(['s', 'S']) {
        format!("{name}'")
    } else {
        format!("{name}'s")
    }
}

/// The country's name as an English sentence uses it ("Germany", "the United States").
pub(crate) fn country_name(code: &CountryCode) -> String {
    // ISO 3166's names are formal ("United Kingdom of Great Britain and Northern Ireland");
    // a visitor reads the short form.
    let short = match code.as_str() {
        "US" => Some("the United States"),
        "GB" => Some("the United Kingdom"),
        "NL" => Some("the Netherlands"),
        "KR" => Some("South Korea"),
        "KP" => Some("North Korea"),
        "RU" => Some("Russia"),
        "IR" => Some("Iran"),
        "SY" => Some("Syria"),
        "VN" => Some("Vietnam"),
        "LA" => Some("Laos"),
        "BO" => Some("Bolivia"),
        "VE" => Some("Venezuela"),
        "TZ" => Some("Tanzania"),
        "MD" => Some("Moldova"),
        "TW" => Some("Taiwan"),
        "CZ" => Some("Czechia"),
        "AE" => Some("the United Arab Emirates"),
        "PH" => Some("the Philippines"),
        "DO" => Some("the Dominican Republic"),
        "CD" => Some("the Democratic Republic of the Congo"),
        "CG" => Some("the Republic of the Congo"),
        "BS" => Some("the Bahamas"),
        "GM" => Some("the Gambia"),
        "BN" => Some("Brunei"),
        "FM" => Some("Micronesia"),
        "PS" => Some("Palestine"),
        "VA" => Some("Vatican City"),
        "MK" => Some("North Macedonia"),
        _ => None,
    };
    if let Some(name) = short {
        return name.to_owned();
    }
    isocountry::CountryCode::for_alpha2(code.as_str())
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|_| code.as_str().to_owned())
}

/// "A", "A and B", "A, B and C".
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn possessives() {
        for (name, want) in [
            ("Acme", "Acme's"),
            ("Jones", "Jones'"),
            ("ACME SYSTEMS", "ACME SYSTEMS'"),
            ("Acme Inc.", "Acme Inc.'s"),
            ("Zoë", "Zoë's"),
        ] {
            assert_eq!(possessive(name), want);
        }
    }

    #[test]
    fn country_names_read_as_in_a_sentence() -> Result<(), Box<dyn std::error::Error>> {
        for (code, want) in [
            ("DE", "Germany"),
            ("US", "the United States"),
            ("GB", "the United Kingdom"),
            ("FR", "France"),
            ("CA", "Canada"),
            ("JP", "Japan"),
        ] {
            assert_eq!(country_name(&code.parse()?), want);
        }
        let names: Vec<String> = ["DE", "AT", "CH"]
            .iter()
            .map(|c| c.parse().map(|c| country_name(&c)))
            .collect::<Result<_, _>>()?;
        assert_eq!(and_list(&names), "Germany, Austria and Switzerland");
        assert_eq!(and_list(&names[..1]), "Germany");
        assert_eq!(and_list(&names[..2]), "Germany and Austria");
        Ok(())
    }
}
