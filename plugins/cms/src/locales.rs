//! The locales entries may be written in, from the plugin configuration
//! (`locales`, `default-locale`). Pure apart from [`Locales::configured`].

/// The configured locales; the default one is always among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locales {
    all: Vec<String>,
    default: String,
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
        Self { all, default }
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
}
