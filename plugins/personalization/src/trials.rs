//! Running A/B tests: assignment as a request (`GET
//! /experiments/{key}/assignment`, which records the exposure once per
//! person), conversions when a person who saw a variant tracks the
//! experiment's goal, and the counts behind the results. Counts are
//! sharded like the analytics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_sdk::prelude::*;
use tessera_sdk::storage;

use crate::analytics::SHARDS;
use crate::budget;
use crate::caller::{Caller, new_visitor_id, visitor_cookie};
use crate::experiments::{self, Experiment, Status};
use crate::ids::{Person, check_key, fnv1a};
use crate::profile::{Exposure, Profile};
use crate::store;
use crate::track::merge_visitor;

/// One shard of a variant's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmCounts {
    /// People exposed.
    pub exposures: u64,
    /// People converted.
    pub conversions: u64,
}

fn shard(pid: &str) -> u64 {
    fnv1a(pid.as_bytes()) % SHARDS
}

/// Marks `profile` converted in every running experiment whose goal is
/// `event` and that it saw but had not converted in; returns them as
/// `(experiment, variant)`. Pure.
pub fn convert(
    profile: &mut Profile,
    experiments: &BTreeMap<String, Experiment>,
    event: &str,
    now: u64,
) -> Vec<(String, String)> {
    let mut converted = Vec::new();
    for experiment in experiments.values() {
        if experiment.status != Status::Running || experiment.goal != event {
            continue;
        }
        if let Some(exposure) = profile.experiments.get_mut(&experiment.key)
            && exposure.converted_at.is_none()
        {
            exposure.converted_at = Some(now);
            converted.push((experiment.key.clone(), exposure.variant.clone()));
        }
    }
    converted
}

fn bump(
    site: &str,
    experiment: &str,
    variant: &str,
    pid: &str,
    exposed: u64,
    converted: u64,
) -> Result<(), Error> {
    storage::update_json(
        &store::arm_key(site, experiment, variant, shard(pid)),
        |counts: Option<ArmCounts>| {
            let counts = counts.unwrap_or_default();
            ArmCounts {
                exposures: counts.exposures.saturating_add(exposed),
                conversions: counts.conversions.saturating_add(converted),
            }
        },
    )?;
    Ok(())
}

/// Counts the conversions [`convert`] found.
pub fn count_conversions(
    site: &str,
    pid: &str,
    converted: &[(String, String)],
) -> Result<(), Error> {
    for (experiment, variant) in converted {
        bump(site, experiment, variant, pid, 0, 1)?;
    }
    Ok(())
}

/// `GET /experiments/{key}/assignment` (open): the caller's variant, the
/// same on every call; the first call counts an exposure. A caller with
/// neither a session nor a visitor id gets one (`tessera_vid` cookie).
pub fn assignment(request: &Request, params: &Params) -> Result<Response, Error> {
    let key = params.require("key")?;
    check_key("experiment", key)?;
    let now = jobs::now_ms();
    let mut caller = Caller::of(request, None)?;
    let mut issued = None;
    if caller.user.is_none() && caller.visitor.is_none() {
        let id = new_visitor_id(&request.request_id, now);
        caller.visitor = Some(id.clone());
        issued = Some(id);
    }
    let site = caller.site.clone();
    let experiment = store::experiments(&site)?
        .remove(key)
        .ok_or_else(|| Error::not_found(format!("no experiment `{key}`")))?;
    let Some(person) = caller.person() else {
        return Err(Error::internal("no person for an assignment"));
    };
    let mut response = if experiment.status == Status::Stopped {
        json!({"experiment": key, "variant": experiment.control(), "status": "stopped", "exposed": false})
    } else {
        let pid = match (&person, &caller.visitor) {
            (Person::User(_), Some(visitor)) => {
                let merged = merge_visitor(&site, visitor, &person.pid())?;
                if let Some(visitor) = merged {
                    store::update(&site, &person.pid(), now, true, |profile| {
                        profile.absorb(&visitor);
                        Ok(())
                    })?;
                }
                person.pid()
            }
            _ => budget::target(&site, &person.pid(), now)?,
        };
        // Seen before: answered from the profile, nothing written.
        let known = store::load_profile(&site, &pid)?.and_then(|profile| {
            profile
                .experiments
                .get(key)
                .filter(|exposure| experiment.has(&exposure.variant))
                .cloned()
        });
        let exposure = match known {
            Some(exposure) => exposure,
            None => expose(&site, &pid, &experiment, person.id(), now)?,
        };
        json!({"experiment": key, "variant": exposure.variant, "status": "running",
               "exposed": true, "exposed_at": exposure.exposed_at})
    };
    if let Some(id) = &issued {
        crate::fields::set(&mut response, "visitor_id", json!(id));
    }
    let mut response = Response::ok_json(&response);
    if let Some(id) = issued {
        response = response.with_header("set-cookie", visitor_cookie(&id));
    }
    Ok(response)
}

/// Stores the assignment of `experiment` on profile `pid` (creating it)
/// unless a request did meanwhile, counting the exposure once.
fn expose(
    site: &str,
    pid: &str,
    experiment: &Experiment,
    person_id: &str,
    now: u64,
) -> Result<Exposure, Error> {
    let key = experiment.key.as_str();
    let mut newly = false;
    let profile = store::update(site, pid, now, true, |profile| {
        newly = false;
        let known = profile
            .experiments
            .get(key)
            .filter(|exposure| experiment.has(&exposure.variant));
        if known.is_none() {
            let variant = experiment.assign(person_id).to_owned();
            profile.experiments.insert(
                key.to_owned(),
                Exposure {
                    variant,
                    exposed_at: now,
                    converted_at: None,
                },
            );
            newly = true;
        }
        Ok(())
    })?;
    store::register_site(site)?;
    let exposure = profile
        .experiments
        .get(key)
        .cloned()
        .ok_or_else(|| Error::internal("the exposure was not stored"))?;
    if newly {
        bump(site, key, &exposure.variant, &profile.id, 1, 0)?;
    }
    Ok(exposure)
}

/// `GET /experiments/{key}/results` (`cdp.analytics.read`): exposures,
/// conversions and rates per variant with the z-test against the control.
pub fn results(_: &Request, params: &Params) -> Result<Response, Error> {
    identity::require("cdp.analytics.read")?;
    let key = params.require("key")?;
    check_key("experiment", key)?;
    let site = identity::current().site;
    let experiment = store::experiments(&site)?
        .remove(key)
        .ok_or_else(|| Error::not_found(format!("no experiment `{key}`")))?;
    let prefix = store::arm_prefix(&site, key);
    let mut sums: BTreeMap<String, ArmCounts> = BTreeMap::new();
    for entry in storage::scan(&prefix) {
        let (stored, value) = entry?;
        let Some((variant, _shard)) = stored.trim_start_matches(&prefix).split_once('/') else {
            continue;
        };
        let counts: ArmCounts = serde_json::from_slice(&value)?;
        let sum = sums.entry(variant.to_owned()).or_default();
        sum.exposures = sum.exposures.saturating_add(counts.exposures);
        sum.conversions = sum.conversions.saturating_add(counts.conversions);
    }
    let counts: Vec<(String, u64, u64)> = experiment
        .variants
        .iter()
        .map(|arm| {
            let sum = sums.get(&arm.key).copied().unwrap_or_default();
            (arm.key.clone(), sum.exposures, sum.conversions)
        })
        .collect();
    Ok(Response::ok_json(&json!({
        "experiment": key,
        "goal": experiment.goal,
        "status": experiment.status,
        "control": experiment.control(),
        "test": "two-proportion z-test (pooled), two-sided, against the control; significant when p < 0.05",
        "variants": experiments::results(&counts),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::{Arm, ExperimentInput, define};

    #[test]
    fn only_exposed_people_convert_and_only_once() {
        let experiment = define(
            "cta",
            ExperimentInput {
                name: "CTA".into(),
                variants: vec![
                    Arm {
                        key: "a".into(),
                        weight: 1,
                    },
                    Arm {
                        key: "b".into(),
                        weight: 1,
                    },
                ],
                goal: "signup".into(),
                status: Status::Running,
            },
            0,
        )
        .unwrap();
        let all: BTreeMap<String, Experiment> =
            [("cta".to_owned(), experiment)].into_iter().collect();
        let mut profile = Profile::new("v:abcdefgh", 0);
        assert!(convert(&mut profile, &all, "signup", 1).is_empty());
        profile.experiments.insert(
            "cta".into(),
            Exposure {
                variant: "b".into(),
                exposed_at: 1,
                converted_at: None,
            },
        );
        assert!(convert(&mut profile, &all, "other", 2).is_empty());
        assert_eq!(
            convert(&mut profile, &all, "signup", 3),
            [("cta".to_owned(), "b".to_owned())]
        );
        assert!(convert(&mut profile, &all, "signup", 4).is_empty());
    }
}
