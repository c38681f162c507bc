//! What happens when an instance enters a state: its actions publish their
//! events and its timer is scheduled. The state change is stored before
//! these run, so a failure here does not undo it: it is logged and
//! reported back as a warning.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_sdk::{Error, events, jobs, log};

use crate::definition::Definition;
use crate::instance::Instance;

/// The payload of a timer's job: enough to find the instance and to know
/// whether it is still in the state that started the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerJob {
    /// The instance's site.
    pub site: String,
    /// The instance id.
    pub instance: String,
    /// The state that started the clock.
    pub state: String,
    /// How many history steps the instance had on entering it: a later
    /// visit of the same state is another step count.
    pub steps: usize,
    /// The transition to take.
    pub transition: String,
}

impl TimerJob {
    /// The job's name: one per instance, so that entering a new state
    /// replaces the previous timer.
    pub fn name(&self) -> String {
        format!("timer/{}/{}", self.site, self.instance)
    }

    /// Whether the instance is still in the visit of the state this timer
    /// was set for.
    pub fn is_due_for(&self, instance: &Instance) -> bool {
        !instance.completed && instance.state == self.state && instance.history.len() == self.steps
    }
}

/// The payload of an action's event for the instance's latest step.
pub fn event_payload(instance: &Instance) -> Value {
    let step = instance.history.last();
    json!({
        "site": instance.site,
        "instance": instance.id,
        "definition": instance.definition,
        "version": instance.version,
        "subject": instance.subject,
        "state": instance.state,
        "from": step.and_then(|step| step.from.clone()),
        "transition": step.and_then(|step| step.transition.clone()),
        "by": step.map(|step| step.by.clone()),
        "comment": step.and_then(|step| step.comment.clone()),
        "at": step.map(|step| step.at),
    })
}

/// The timer to set on entering the instance's current state, if any.
pub fn timer_job(
    instance: &Instance,
    definition: &Definition,
    now: u64,
) -> Option<(TimerJob, u64)> {
    let timer = definition.timer_for(&instance.state)?;
    let due = now.saturating_add(timer.after_secs.saturating_mul(1000));
    Some((
        TimerJob {
            site: instance.site.clone(),
            instance: instance.id.clone(),
            state: instance.state.clone(),
            steps: instance.history.len(),
            transition: timer.transition.clone(),
        },
        due,
    ))
}

/// Runs the actions and sets the timer of the state `instance` just
/// entered; returns warnings for what failed.
pub fn on_enter(instance: &Instance, definition: &Definition, now: u64) -> Vec<String> {
    let mut warnings = Vec::new();
    let payload = event_payload(instance);
    for topic in definition.topics_on_enter(&instance.state) {
        if let Err(error) = events::publish_json(topic, &payload) {
            let warning = format!("the event `{topic}` was not published: {error}");
            log::error(&format!("instance {}: {warning}", instance.id));
            warnings.push(warning);
        }
    }
    if let Some((job, due)) = timer_job(instance, definition, now) {
        if let Err(warning) = schedule(&job, due) {
            log::warn(&format!("instance {}: {warning}", instance.id));
            warnings.push(warning);
        }
    } else if !definition.timers.is_empty() && instance.history.len() > 1 {
        // The previous state may have had a timer. A timer that fires
        // later finds the instance moved on and does nothing, so failing
        // to cancel it is harmless.
        let _ = jobs::cancel(&format!("timer/{}/{}", instance.site, instance.id));
    }
    warnings
}

fn schedule(job: &TimerJob, due: u64) -> Result<(), String> {
    let payload = serde_json::to_vec(job).map_err(|error| error.to_string())?;
    jobs::at(&job.name(), due, &payload).map_err(|error: Error| {
        if error.code == "unavailable" {
            format!(
                "the timer of `{}` is not set, the kernel cannot schedule jobs: {}",
                job.state, error.message
            )
        } else {
            format!("the timer of `{}` is not set: {error}", job.state)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::tests::approval;
    use crate::instance::{Actor, Start, Subject};

    fn instance(definition: &Definition) -> Instance {
        Instance::start(Start {
            id: "9".into(),
            site: "partners".into(),
            key: "approval",
            version: 2,
            definition,
            subject: Subject {
                kind: "cms.entry".into(),
                id: "42".into(),
            },
            data: Value::Null,
            actor: &Actor::System,
            now: 100,
        })
    }

    #[test]
    fn timers_are_set_on_entry_and_fire_only_for_the_same_visit() {
        let definition = approval();
        let mut instance = instance(&definition);
        assert!(timer_job(&instance, &definition, 100).is_none());
        let author = Actor::User {
            id: "u".into(),
            username: "ada".into(),
            roles: vec!["author".into()],
        };
        instance
            .take(&definition, "submit", &author, None, 200)
            .unwrap();
        let (job, due) = timer_job(&instance, &definition, 200).unwrap();
        assert_eq!(due, 200 + 172_800_000);
        assert_eq!(job.name(), "timer/partners/9");
        assert_eq!(
            (job.state.as_str(), job.steps, job.transition.as_str()),
            ("submitted", 2, "escalate")
        );
        assert!(job.is_due_for(&instance));
        let round_trip: TimerJob =
            serde_json::from_slice(&serde_json::to_vec(&job).unwrap()).unwrap();
        assert_eq!(round_trip, job);
        instance
            .take(&definition, "escalate", &Actor::System, None, 300)
            .unwrap();
        assert!(!job.is_due_for(&instance), "moved on");
        // Back in `submitted` later (a hypothetical loop): a stale job is not due.
        instance.state = "submitted".into();
        assert!(!job.is_due_for(&instance));
    }

    #[test]
    fn event_payloads_describe_the_step() {
        let definition = approval();
        let mut instance = instance(&definition);
        let payload = event_payload(&instance);
        assert_eq!(payload["from"], Value::Null);
        assert_eq!(payload["by"], "system");
        let author = Actor::User {
            id: "u".into(),
            username: "ada".into(),
            roles: vec!["author".into()],
        };
        instance
            .take(&definition, "submit", &author, Some("please".into()), 200)
            .unwrap();
        let payload = event_payload(&instance);
        assert_eq!(payload["site"], "partners");
        assert_eq!(payload["instance"], "9");
        assert_eq!(payload["definition"], "approval");
        assert_eq!(payload["version"], 2);
        assert_eq!(payload["subject"]["type"], "cms.entry");
        assert_eq!(
            (payload["from"].as_str(), payload["state"].as_str()),
            (Some("draft"), Some("submitted"))
        );
        assert_eq!(
            (payload["transition"].as_str(), payload["by"].as_str()),
            (Some("submit"), Some("ada"))
        );
        assert_eq!(payload["comment"], "please");
        assert_eq!(payload["at"], 200);
    }
}
