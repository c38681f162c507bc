//! Where definitions and instances live in the plugin's storage, scoped by
//! site:
//!
//! | key | value |
//! |---|---|
//! | `site/{site}/definitions/{key}` | the latest [`Stored`] version |
//! | `site/{site}/versions/{key}/{version:010}` | every [`Stored`] version |
//! | `site/{site}/instances/{id}` | an [`Instance`] |
//! | `site/{site}/open/{id}` | present while the instance is not completed |
//! | `seq` | the last instance number handed out |
//! | `events/{event id}` | the instance a `workflow.start` event started |

use serde::{Deserialize, Serialize};
use tessera_sdk::storage::{self, Operation};
use tessera_sdk::{Error, log};

use crate::definition::Definition;
use crate::instance::Instance;

/// One stored version of a definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// The definition key.
    pub key: String,
    /// Its version, from 1.
    pub version: u32,
    /// When this version was stored (ms since the epoch).
    pub created_at: u64,
    /// Who stored it.
    pub created_by: String,
    /// The definition.
    pub definition: Definition,
}

fn definition_key(site: &str, key: &str) -> String {
    format!("site/{site}/definitions/{key}")
}

fn version_key(site: &str, key: &str, version: u32) -> String {
    format!("site/{site}/versions/{key}/{version:010}")
}

fn instance_key(site: &str, id: &str) -> String {
    format!("site/{site}/instances/{id}")
}

fn open_key(site: &str, id: &str) -> String {
    format!("site/{site}/open/{id}")
}

fn event_key(event_id: &str) -> String {
    format!("events/{event_id}")
}

/// 404 `unknown_definition`.
pub fn unknown_definition(key: &str) -> Error {
    Error::new(
        404,
        "unknown_definition",
        format!("no workflow definition `{key}` on this site"),
    )
}

/// Stores `definition` as the next version of `key`; returns that version.
/// Concurrent writers get distinct versions (compare-and-swap on the
/// latest).
pub fn put_definition(
    site: &str,
    key: &str,
    definition: Definition,
    by: &str,
    now: u64,
) -> Result<Stored, Error> {
    let stored = storage::update_json(&definition_key(site, key), |latest: Option<Stored>| {
        Stored {
            key: key.to_owned(),
            version: latest.map_or(1, |latest| latest.version.saturating_add(1)),
            created_at: now,
            created_by: by.to_owned(),
            definition: definition.clone(),
        }
    })?;
    storage::set_json(&version_key(site, key, stored.version), &stored)?;
    Ok(stored)
}

/// The latest version of `key`, or 404 `unknown_definition`.
pub fn latest_definition(site: &str, key: &str) -> Result<Stored, Error> {
    storage::get_json(&definition_key(site, key))?.ok_or_else(|| unknown_definition(key))
}

/// Version `version` of `key`, or 404 `unknown_definition`.
pub fn definition_version(site: &str, key: &str, version: u32) -> Result<Stored, Error> {
    if let Some(stored) = storage::get_json(&version_key(site, key, version))? {
        return Ok(stored);
    }
    // The latest version is written first: it may be the only copy for a
    // moment (or after a crash between the two writes).
    match storage::get_json::<Stored>(&definition_key(site, key))? {
        Some(latest) if latest.version == version => Ok(latest),
        Some(_) => Err(Error::new(
            404,
            "unknown_version",
            format!("the workflow definition `{key}` has no version {version}"),
        )),
        None => Err(unknown_definition(key)),
    }
}

/// The latest version of every definition of `site`, by key.
pub fn list_definitions(site: &str) -> Result<Vec<Stored>, Error> {
    storage::scan(&format!("site/{site}/definitions/"))
        .map(|entry| {
            let (key, value) = entry?;
            serde_json::from_slice(&value).map_err(|error| {
                Error::internal(format!(
                    "the definition under `{key}` is unreadable: {error}"
                ))
            })
        })
        .collect()
}

/// A fresh instance id.
pub fn next_instance_id() -> Result<String, Error> {
    let n: u64 = storage::update_json("seq", |n: Option<u64>| n.unwrap_or(0).saturating_add(1))?;
    Ok(n.to_string())
}

/// The instance `id` of `site`, or 404 `unknown_instance`.
pub fn instance(site: &str, id: &str) -> Result<Instance, Error> {
    storage::get_json(&instance_key(site, id))?.ok_or_else(|| {
        Error::new(
            404,
            "unknown_instance",
            format!("no workflow instance `{id}` on this site"),
        )
    })
}

/// Writes a new instance, its open marker and (for starts by event) the
/// event's marker in one atomic batch.
pub fn create_instance(instance: &Instance, event_id: Option<&str>) -> Result<(), Error> {
    let mut operations = vec![Operation::set_json(
        instance_key(&instance.site, &instance.id),
        instance,
    )?];
    if !instance.completed {
        operations.push(Operation::set(open_key(&instance.site, &instance.id), ""));
    }
    if let Some(event_id) = event_id {
        operations.push(Operation::set_json(
            event_key(event_id),
            &serde_json::json!({ "site": instance.site, "instance": instance.id }),
        )?);
    }
    storage::batch(&operations)
}

/// Read-modify-write of instance `id` with a compare-and-swap loop, so that
/// of two concurrent transitions only one wins: `change` runs on the
/// current instance (again if it changed meanwhile) and its error aborts.
pub fn update_instance(
    site: &str,
    id: &str,
    mut change: impl FnMut(&mut Instance) -> Result<(), Error>,
) -> Result<Instance, Error> {
    let key = instance_key(site, id);
    let updated = storage::try_update_json(&key, |current: Option<Instance>| {
        let mut instance = current.ok_or_else(|| {
            Error::new(
                404,
                "unknown_instance",
                format!("no workflow instance `{id}` on this site"),
            )
        })?;
        change(&mut instance)?;
        Ok(instance)
    })?;
    if updated.completed
        && let Err(error) = storage::delete(&open_key(site, id))
    {
        // The inbox skips completed instances anyway.
        log::warn(&format!(
            "could not unmark completed instance {id}: {error}"
        ));
    }
    Ok(updated)
}

/// Every instance of `site` (completed ones too), in key order.
pub fn all_instances(site: &str) -> impl Iterator<Item = Result<Instance, Error>> {
    storage::scan(&format!("site/{site}/instances/")).map(|entry| {
        let (key, value) = entry?;
        serde_json::from_slice(&value).map_err(|error| {
            Error::internal(format!("the instance under `{key}` is unreadable: {error}"))
        })
    })
}

/// The instances of `site` that are not completed.
pub fn open_instances(site: &str) -> Result<Vec<Instance>, Error> {
    let prefix = format!("site/{site}/open/");
    let mut open = Vec::new();
    for entry in storage::scan(&prefix) {
        let (key, _) = entry?;
        let id = key.strip_prefix(&prefix).unwrap_or(&key);
        match storage::get_json::<Instance>(&instance_key(site, id))? {
            Some(instance) if !instance.completed => open.push(instance),
            _ => {
                let _ = storage::delete(&key);
            }
        }
    }
    Ok(open)
}

/// The instance id an already handled `workflow.start` event created.
pub fn started_by_event(event_id: &str) -> Result<Option<String>, Error> {
    #[derive(Deserialize)]
    struct Marker {
        instance: String,
    }
    Ok(storage::get_json::<Marker>(&event_key(event_id))?.map(|marker| marker.instance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_number_and_sites_stay_apart() {
        assert!(version_key("s", "k", 9) < version_key("s", "k", 10));
        assert_eq!(version_key("s", "k", 2), "site/s/versions/k/0000000002");
        assert!(!instance_key("a", "1").starts_with("site/ab/"));
        assert_ne!(definition_key("a", "k"), definition_key("b", "k"));
    }
}
