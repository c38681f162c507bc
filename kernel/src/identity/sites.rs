//! Sites (tenants): a request's site comes from its Host header, matched
//! against the hosts each site lists, or from a `/sites/<id>/` path
//! prefix; anything else is the default site. Users, roles, sessions and
//! tokens belong to one site, and plugins scope their data by it.

use super::accounts::actor_name;
use super::model::SiteRecord;
use super::{AuditEvent, DEFAULT_SITE, Identity, IdentityError, Principal};

/// Whether `id` is a valid site id: 1–64 lower-case letters, digits, `-`.
pub fn is_site_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The host name of a Host header value: lower case, without port.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port.
        return host
            .split_once(']')
            .map(|(address, _)| format!("{address}]"))
            .unwrap_or(host);
    }
    host.split(':').next().unwrap_or_default().to_owned()
}

impl Identity {
    /// The site `id` (the default site exists once bootstrapped).
    pub fn site(&self, id: &str) -> Result<Option<SiteRecord>, IdentityError> {
        self.store.site(id)
    }

    /// Every site.
    pub fn sites(&self) -> Result<Vec<SiteRecord>, IdentityError> {
        self.store.sites()
    }

    /// The site a request for `host` belongs to.
    pub fn resolve_site(&self, host: Option<&str>) -> String {
        let Some(host) = host else {
            return DEFAULT_SITE.to_owned();
        };
        let hosts = self
            .hosts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if hosts.is_empty() {
            return DEFAULT_SITE.to_owned();
        }
        hosts
            .get(&host_name(host))
            .cloned()
            .unwrap_or_else(|| DEFAULT_SITE.to_owned())
    }

    /// Whether site `id` exists.
    pub fn site_exists(&self, id: &str) -> Result<bool, IdentityError> {
        Ok(id == DEFAULT_SITE || self.store.site(id)?.is_some())
    }

    /// Create or replace site `id`. Returns whether it was created.
    pub fn put_site(
        &self,
        actor: &Principal,
        id: &str,
        mut site: SiteRecord,
    ) -> Result<bool, IdentityError> {
        if !is_site_id(id) {
            return Err(IdentityError::Invalid(
                "a site id is 1–64 lower-case letters, digits or `-`".into(),
            ));
        }
        site.id = id.to_owned();
        if site.name.trim().is_empty() {
            site.name = id.to_owned();
        }
        site.hosts = site.hosts.iter().map(|host| host_name(host)).collect();
        for host in &site.hosts {
            if host.is_empty() {
                return Err(IdentityError::Invalid("`hosts` has an empty host".into()));
            }
            if let Some(other) = self
                .store
                .sites()?
                .into_iter()
                .find(|other| other.id != id && other.hosts.contains(host))
            {
                return Err(IdentityError::Invalid(format!(
                    "host `{host}` already belongs to site `{}`",
                    other.id
                )));
            }
        }
        for url in &site.link_urls {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(IdentityError::Invalid(format!(
                    "link URL `{url}` must be an absolute http(s) URL"
                )));
            }
        }
        let created = self.store.site(id)?.is_none();
        self.store.put(&format!("site/{id}"), &site)?;
        self.reload_hosts()?;
        self.audit.record_or_log(
            AuditEvent::new(
                if created {
                    "site.created"
                } else {
                    "site.updated"
                },
                id,
                &actor_name(actor),
            )
            .target(id),
        );
        Ok(created)
    }

    /// Rebuild the host map from the stored sites.
    pub(super) fn reload_hosts(&self) -> Result<(), IdentityError> {
        let map = self
            .store
            .sites()?
            .into_iter()
            .flat_map(|site| {
                let id = site.id.clone();
                site.hosts.into_iter().map(move |host| (host, id.clone()))
            })
            .collect();
        *self
            .hosts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = map;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_drop_ports_and_case() {
        assert_eq!(host_name("Portal.Example.com:8080"), "portal.example.com");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("localhost"), "localhost");
    }

    #[test]
    fn site_ids_are_slugs() {
        assert!(is_site_id("partners-eu"));
        assert!(!is_site_id("Partners"));
        assert!(!is_site_id(""));
        assert!(!is_site_id("a/b"));
    }
}
