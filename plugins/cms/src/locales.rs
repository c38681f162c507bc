//! The locales entries may be written in: per site, as an administrator
//! set them (`PUT /locales`, stored at `site/{site}/locales`), else from
//! the plugin configuration (`locales`, `default-locale`). Each locale may
//! name a **fallback chain**: the locales whose values stand in, in order,
//! for a value it lacks; the default locale always ends the chain. Pure
//! apart from [`Locales::configured`] and [`Locales::of_site`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most locales a site may have.
pub const MAX_LOCALES: usize = 50;

/// The locales of a site; the default one is always among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locales {
    all: Vec<String>,
    default: String,
    fallbacks: BTreeMap<String, Vec<String>>,
}

/// One locale as administrators write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleSetting {
    /// Its code: a BCP 47 tag such as `en`, `fr`, `fr-CA`.
    pub code: String,
    /// The locales whose values stand in for one this locale lacks, in
    /// order, before the default locale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
}

/// A site's locale settings as stored and as `GET`/`PUT /locales` show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The default locale: required values live there, and it ends every
    /// fallback chain.
    pub default: String,
    /// Every locale, the default included.
    pub locales: Vec<LocaleSetting>,
}

/// Whether `code` looks like a BCP 47 tag: a 2–3 letter language, then
/// subtags of 2–8 letters or digits.
fn is_code(code: &str) -> bool {
    let mut parts = code.split('-');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|part| {
            (2..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

impl Settings {
    /// Checks the settings: known codes, the default listed, each locale
    /// once, fallbacks among the locales and not the locale itself.
    pub fn check(&self) -> Result<(), String> {
        if self.locales.is_empty() || self.locales.len() > MAX_LOCALES {
            return Err(format!("`locales`: 1 to {MAX_LOCALES} locales"));
        }
        let codes: Vec<&str> = self
            .locales
            .iter()
            .map(|locale| locale.code.as_str())
            .collect();
        for (at, locale) in self.locales.iter().enumerate() {
            if !is_code(&locale.code) {
                return Err(format!(
                    "`{}` is not a locale code such as en, fr or fr-CA",
                    locale.code
                ));
            }
            if codes.iter().take(at).any(|code| *code == locale.code) {
                return Err(format!("`{}` is listed twice", locale.code));
            }
            for fallback in &locale.fallback {
                if fallback == &locale.code {
                    return Err(format!("`{}` cannot fall back to itself", locale.code));
                }
                if !codes.contains(&fallback.as_str()) {
                    return Err(format!(
                        "`{}` falls back to `{fallback}`, which is not one of the locales",
                        locale.code
                    ));
                }
            }
        }
        if !codes.contains(&self.default.as_str()) {
            return Err(format!(
                "the default locale `{}` must be one of the locales",
                self.default
            ));
        }
        Ok(())
    }
}

impl From<&Settings> for Locales {
    fn from(settings: &Settings) -> Self {
        Self {
            all: settings
                .locales
                .iter()
                .map(|locale| locale.code.clone())
                .collect(),
            default: settings.default.clone(),
            fallbacks: settings
                .locales
                .iter()
                .filter(|locale| !locale.fallback.is_empty())
                .map(|locale| (locale.code.clone(), locale.fallback.clone()))
                .collect(),
        }
    }
}

/// The storage key of `site`'s locale settings.
pub fn settings_key(site: &str) -> String {
    format!("site/{site}/locales")
}

impl Locales {
    /// From a comma-separated list and a default (added to the list when
    /// missing; the first listed when empty; `en` when both are empty).
    pub fn parse(list: &str, default: &str) -> Self {
        let mut all: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|locale| !locale.is_empty())
            .map(str::to_owned)
            .collect();
        let default = match default.trim() {
            "" => all.first().cloned().unwrap_or_else(|| "en".to_owned()),
            given => given.to_owned(),
        };
        if !all.contains(&default) {
            all.insert(0, default.clone());
        }
        Self {
            all,
            default,
            fallbacks: BTreeMap::new(),
        }
    }

    /// The locales of `site`: its stored settings, else the plugin's
    /// configuration. Unreadable settings count as none (and are logged).
    pub fn of_site(site: &str) -> Self {
        match tessera_sdk::storage::get_json::<Settings>(&settings_key(site)) {
            Ok(Some(settings)) => Self::from(&settings),
            Ok(None) => Self::configured(),
            Err(error) => {
                tessera_sdk::log::warn(&format!(
                    "the locale settings of site {site} are unreadable, using the configured ones: {error}"
                ));
                Self::configured()
            }
        }
    }

    /// The settings these locales amount to.
    pub fn settings(&self) -> Settings {
        Settings {
            default: self.default.clone(),
            locales: self
                .all
                .iter()
                .map(|code| LocaleSetting {
                    code: code.clone(),
                    fallback: self.fallbacks.get(code).cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Where a value for `locale` is looked for, in order: the locale, its
    /// fallbacks, then the default locale; each once.
    pub fn chain<'a>(&'a self, locale: &'a str) -> Vec<&'a str> {
        let mut chain = vec![locale];
        let fallbacks = self.fallbacks.get(locale).into_iter().flatten();
        for next in fallbacks.map(String::as_str).chain([self.default.as_str()]) {
            if !chain.contains(&next) {
                chain.push(next);
            }
        }
        chain
    }

    /// The plugin's configuration.
    pub fn configured() -> Self {
        Self::parse(
            &tessera_sdk::config::get_or("locales", "en"),
            &tessera_sdk::config::get_or("default-locale", ""),
        )
    }

    /// Whether `locale` is configured.
    pub fn contains(&self, locale: &str) -> bool {
        self.all.iter().any(|known| known == locale)
    }

    /// The default locale.
    pub fn default(&self) -> &str {
        &self.default
    }

    /// Every locale, the default included.
    pub fn all(&self) -> &[String] {
        &self.all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_always_listed() {
        let locales = Locales::parse("fr, de", "en");
        assert_eq!(locales.all(), ["en", "fr", "de"]);
        assert_eq!(locales.default(), "en");
        assert_eq!(Locales::parse("fr,de", "").default(), "fr");
        assert_eq!(Locales::parse("", "").all(), ["en"]);
        assert!(Locales::parse("en,fr", "en").contains("fr"));
        assert!(!Locales::parse("en,fr", "en").contains("de"));
    }

    fn settings(json: &str) -> Settings {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn chains_go_through_the_fallbacks_to_the_default() {
        let site = settings(
            r#"{"default": "en", "locales": [{"code": "en"}, {"code": "fr"}, {"code": "fr-CA", "fallback": ["fr"]}, {"code": "de", "fallback": ["en"]}]}"#,
        );
        site.check().unwrap();
        let locales = Locales::from(&site);
        assert_eq!(locales.chain("fr-CA"), ["fr-CA", "fr", "en"]);
        assert_eq!(locales.chain("de"), ["de", "en"]);
        assert_eq!(locales.chain("en"), ["en"]);
        assert_eq!(locales.settings(), site);
        assert_eq!(Locales::parse("en,fr", "en").chain("fr"), ["fr", "en"]);
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let refused = |json: &str| settings(json).check().unwrap_err();
        assert!(refused(r#"{"default": "en", "locales": []}"#).contains("1 to"));
        assert!(refused(r#"{"default": "en", "locales": [{"code": "EN"}]}"#).contains("`EN`"));
        assert!(refused(r#"{"default": "de", "locales": [{"code": "en"}]}"#).contains("default"));
        assert!(
            refused(r#"{"default": "en", "locales": [{"code": "en"}, {"code": "en"}]}"#)
                .contains("twice")
        );
        assert!(
            refused(r#"{"default": "en", "locales": [{"code": "en", "fallback": ["en"]}]}"#)
                .contains("itself")
        );
        assert!(
            refused(r#"{"default": "en", "locales": [{"code": "en", "fallback": ["xx"]}]}"#)
                .contains("`xx`")
        );
    }
}
