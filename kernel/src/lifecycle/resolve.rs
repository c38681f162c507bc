//! Dependencies between installed plugins: what a plugin needs, who needs
//! it, and the order to start them in.

use std::collections::{BTreeMap, BTreeSet};

use tessera_host_api::Manifest;

use super::error::LifecycleError;
use super::state::InstalledPlugin;

/// Every dependency of `manifest` must be installed, enabled, and active
/// at a version in its range; an optional one, when installed and
/// enabled, must be in its range too.
pub fn check_dependencies(
    manifest: &Manifest,
    records: &[InstalledPlugin],
) -> Result<(), LifecycleError> {
    for (dependency, range) in &manifest.dependencies {
        let found = match records.iter().find(|record| &record.id == dependency) {
            None => "it is not installed".to_owned(),
            Some(record) if !record.enabled => {
                format!("{} {} is installed but disabled", record.id, record.active)
            }
            Some(record) if !range.matches(&record.active) => {
                format!("{} {} is installed", record.id, record.active)
            }
            Some(_) => continue,
        };
        return Err(LifecycleError::MissingDependency {
            needed_by: manifest.plugin.id.clone(),
            dependency: dependency.clone(),
            range: range.to_string(),
            found,
        });
    }
    for (dependency, range) in &manifest.optional_dependencies {
        if let Some(record) = records
            .iter()
            .find(|record| &record.id == dependency && record.enabled)
            && !range.matches(&record.active)
        {
            return Err(LifecycleError::MissingDependency {
                needed_by: manifest.plugin.id.clone(),
                dependency: dependency.clone(),
                range: format!("{range} (optional)"),
                found: format!("{} {} is installed", record.id, record.active),
            });
        }
    }
    Ok(())
}

/// Every enabled plugin depending on `id`, optionally or not, must accept
/// `version`.
pub fn check_dependents(
    id: &str,
    version: &semver::Version,
    records: &[InstalledPlugin],
    action: &str,
) -> Result<(), LifecycleError> {
    for record in records.iter().filter(|record| record.enabled) {
        let range = record
            .dependencies
            .get(id)
            .or_else(|| record.optional_dependencies.get(id));
        if let Some(range) = range
            && !range.matches(version)
        {
            return Err(LifecycleError::DependencyConflict {
                id: id.to_owned(),
                dependent: record.id.clone(),
                range: range.to_string(),
                action: action.to_owned(),
            });
        }
    }
    Ok(())
}

/// Refuse to take `id` away while enabled plugins depend on it.
pub fn refuse_if_needed(id: &str, records: &[InstalledPlugin]) -> Result<(), LifecycleError> {
    let dependents: Vec<String> = records
        .iter()
        .filter(|record| record.enabled && record.id != id && record.dependencies.contains_key(id))
        .map(|record| record.id.clone())
        .collect();
    if dependents.is_empty() {
        Ok(())
    } else {
        Err(LifecycleError::HasDependents {
            id: id.to_owned(),
            dependents,
        })
    }
}

/// `records` sorted so that each comes after the dependencies among them
/// (ties by id). Cycles cannot be installed, but a damaged record set that
/// has one still yields every record, in id order for the cycle.
pub fn dependency_order(records: Vec<InstalledPlugin>) -> Vec<InstalledPlugin> {
    let mut remaining: BTreeMap<String, InstalledPlugin> = records
        .into_iter()
        .map(|record| (record.id.clone(), record))
        .collect();
    let mut done = BTreeSet::new();
    let mut ordered = Vec::new();
    while !remaining.is_empty() {
        let ready: Vec<String> = remaining
            .values()
            .filter(|record| {
                record
                    .dependencies
                    .keys()
                    .chain(record.optional_dependencies.keys())
                    .all(|dependency| {
                        done.contains(dependency) || !remaining.contains_key(dependency)
                    })
            })
            .map(|record| record.id.clone())
            .collect();
        let batch = if ready.is_empty() {
            remaining.keys().cloned().collect()
        } else {
            ready
        };
        for id in batch {
            if let Some(record) = remaining.remove(&id) {
                done.insert(id);
                ordered.push(record);
            }
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::state::Grant;

    fn record(id: &str, version: &str, deps: &[(&str, &str)], enabled: bool) -> InstalledPlugin {
        InstalledPlugin {
            id: id.into(),
            active: version.parse().unwrap(),
            previous: None,
            versions: vec![version.parse().unwrap()],
            enabled,
            granted: Grant::default(),
            dependencies: deps
                .iter()
                .map(|(id, range)| ((*id).to_owned(), range.parse().unwrap()))
                .collect(),
            optional_dependencies: Default::default(),
            mount: id.replace('.', "-"),
            verified: "development".into(),
            kind: Default::default(),
        }
    }

    #[test]
    fn optional_dependencies_are_checked_only_when_installed() {
        let mut app = record("a.app", "1.0.0", &[], true);
        app.optional_dependencies
            .insert("a.extra".into(), "^1".parse().unwrap());
        let records = vec![app.clone(), record("a.extra", "1.4.0", &[], true)];
        assert!(
            refuse_if_needed("a.extra", &records).is_ok(),
            "optional: removable"
        );
        let error = check_dependents("a.extra", &"2.0.0".parse().unwrap(), &records, "x");
        assert_eq!(error.unwrap_err().code(), "dependency_conflict");
        let manifest = tessera_host_api::Manifest::parse(
            "[plugin]\nid = \"a.app\"\nversion = \"1.0.0\"\napi = \"^0.2\"\nname = \"App\"\nmount = \"app\"\n\n[optional-dependencies]\n\"a.extra\" = \"^1\"\n",
        )
        .unwrap();
        assert!(check_dependencies(&manifest, &[]).is_ok(), "absent: fine");
        let old = [record("a.extra", "0.9.0", &[], true)];
        let error = check_dependencies(&manifest, &old).unwrap_err();
        assert!(error.to_string().contains("(optional)"), "{error}");
        let ids: Vec<_> = dependency_order(vec![app, record("a.extra", "1.0.0", &[], true)])
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a.extra", "a.app"]);
    }

    #[test]
    fn dependents_block_removal_and_breaking_upgrades() {
        let records = vec![
            record("a.base", "1.2.0", &[], true),
            record("a.app", "1.0.0", &[("a.base", "^1.0")], true),
        ];
        let error = refuse_if_needed("a.base", &records).unwrap_err();
        assert!(error.to_string().contains("a.app"), "{error}");
        assert!(refuse_if_needed("a.app", &records).is_ok());
        let error = check_dependents(
            "a.base",
            &"2.0.0".parse().unwrap(),
            &records,
            "upgrading to 2.0.0",
        )
        .unwrap_err();
        assert_eq!(error.code(), "dependency_conflict");
        assert!(check_dependents("a.base", &"1.9.0".parse().unwrap(), &records, "x").is_ok());
    }

    #[test]
    fn order_puts_dependencies_first() {
        let records = vec![
            record("c", "1.0.0", &[("b", "*")], true),
            record("b", "1.0.0", &[("a", "*")], true),
            record("a", "1.0.0", &[], true),
        ];
        let ids: Vec<_> = dependency_order(records)
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
