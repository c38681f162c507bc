//! The bridge's configuration and its topic templates.

use std::time::Duration;

use tessera_host_api::native::NativeConfig;

/// One subscription: a template such as
/// `tessera/{site}/devices/{device}/telemetry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<String>,
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The site named by the topic.
    pub site: String,
    /// The device named by the topic.
    pub device: String,
}

impl Template {
    /// Parse `text`; it must name `{device}` once, and `{site}` at most
    /// once (the site is `default` when absent), and hold no wildcards.
    pub fn parse(text: &str) -> Result<Self, String> {
        let segments: Vec<String> = text.split('/').map(str::to_owned).collect();
        let count = |name: &str| segments.iter().filter(|segment| *segment == name).count();
        if count("{device}") != 1 || count("{site}") > 1 {
            return Err(format!(
                "topic template `{text}` must hold `{{device}}` once and `{{site}}` at most once"
            ));
        }
        if segments
            .iter()
            .any(|segment| segment.is_empty() || segment.contains(['+', '#']))
        {
            return Err(format!(
                "topic template `{text}` has an empty segment or a wildcard"
            ));
        }
        Ok(Self { segments })
    }

    /// The MQTT filter to subscribe to: placeholders become `+`.
    pub fn filter(&self) -> String {
        self.segments
            .iter()
            .map(|segment| {
                if segment.starts_with('{') {
                    "+"
                } else {
                    segment.as_str()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The site and device named by `topic`, if it matches.
    pub fn matches(&self, topic: &str) -> Option<Origin> {
        let parts: Vec<&str> = topic.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut site = "default";
        let mut device = None;
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment.as_str() {
                "{site}" => site = part,
                "{device}" => device = Some(*part),
                literal if literal == *part => {}
                _ => return None,
            }
        }
        Some(Origin {
            site: site.to_owned(),
            device: device?.to_owned(),
        })
    }
}

/// The bridge's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Subscriptions.
    pub templates: Vec<Template>,
    /// MQTT client id.
    pub client_id: String,
    /// QoS 1 (acknowledged after publishing) or 0.
    pub qos_one: bool,
    /// Keep-alive interval.
    pub keep_alive: Duration,
    /// Credentials, if a username is set.
    pub credentials: Option<(String, String)>,
}

fn value<'a>(config: &'a NativeConfig, key: &str, default: &'a str) -> &'a str {
    config
        .get(key)
        .map(String::as_str)
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or(default)
}

impl Settings {
    /// Read the settings, naming the key that is wrong.
    pub fn from_config(config: &NativeConfig) -> Result<Self, String> {
        let broker = value(config, "broker", "127.0.0.1:1883");
        let (host, port) = broker
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
            .filter(|(host, _)| !host.is_empty())
            .ok_or_else(|| format!("`broker` must be host:port, got `{broker}`"))?;
        let templates = value(
            config,
            "topics",
            "tessera/{site}/devices/{device}/telemetry",
        )
        .split(',')
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(Template::parse)
        .collect::<Result<Vec<_>, _>>()?;
        if templates.is_empty() {
            return Err("`topics` names no topic".into());
        }
        let qos_one = match value(config, "qos", "1") {
            "0" => false,
            "1" => true,
            other => return Err(format!("`qos` must be 0 or 1, got `{other}`")),
        };
        let keep_alive = value(config, "keep-alive-seconds", "30")
            .parse::<u64>()
            .ok()
            .filter(|seconds| *seconds >= 5)
            .ok_or("`keep-alive-seconds` must be a whole number of seconds, at least 5")?;
        let username = value(config, "username", "");
        let credentials = (!username.is_empty()).then(|| {
            (
                username.to_owned(),
                value(config, "password", "").to_owned(),
            )
        });
        Ok(Self {
            host: host.to_owned(),
            port,
            templates,
            client_id: value(config, "client-id", "tessera-mqtt-bridge").to_owned(),
            qos_one,
            keep_alive: Duration::from_secs(keep_alive),
            credentials,
        })
    }

    /// The site and device of `topic` by the first template it matches.
    pub fn origin(&self, topic: &str) -> Option<Origin> {
        self.templates
            .iter()
            .find_map(|template| template.matches(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_filters_and_name_site_and_device() {
        let template = Template::parse("tessera/{site}/devices/{device}/telemetry").unwrap();
        assert_eq!(template.filter(), "tessera/+/devices/+/telemetry");
        assert_eq!(
            template.matches("tessera/shop/devices/printer-1/telemetry"),
            Some(Origin {
                site: "shop".into(),
                device: "printer-1".into()
            })
        );
        assert_eq!(template.matches("tessera/shop/devices/p/state"), None);
        assert_eq!(template.matches("tessera/shop/devices/telemetry"), None);
        let no_site = Template::parse("plant/{device}").unwrap();
        assert_eq!(no_site.matches("plant/x").unwrap().site, "default");
        assert!(Template::parse("a/+/{device}").is_err());
        assert!(Template::parse("a/b").is_err());
    }

    #[test]
    fn settings_name_the_wrong_key() {
        let mut config = NativeConfig::new();
        let settings = Settings::from_config(&config).unwrap();
        assert_eq!((settings.host.as_str(), settings.port), ("127.0.0.1", 1883));
        config.insert("broker".into(), "nohost".into());
        assert!(
            Settings::from_config(&config)
                .unwrap_err()
                .contains("`broker`")
        );
        config.insert("broker".into(), "localhost:1884".into());
        config.insert("qos".into(), "2".into());
        assert!(
            Settings::from_config(&config)
                .unwrap_err()
                .contains("`qos`")
        );
    }
}
