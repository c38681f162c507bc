//! `run_job`: a timer fires and takes its transition as `system`, if the
//! instance is still in the visit of the state that set it.

use tessera_sdk::{Error, jobs, log};

use crate::effects::{self, TimerJob};
use crate::instance::Actor;
use crate::store;

/// The error code that aborts the update of an instance the timer is no
/// longer due for.
const NOT_DUE: &str = "timer_not_due";

/// Runs the job `name`: only timers (`timer/...`) exist.
pub fn run_job(name: &str, payload: &[u8]) -> Result<(), String> {
    if !name.starts_with("timer/") {
        return Err(format!("no job `{name}`: this plugin only runs timers"));
    }
    let job: TimerJob = serde_json::from_slice(payload)
        .map_err(|error| format!("job `{name}` has an unreadable payload: {error}"))?;
    fire(&job).map_err(|error| format!("timer of instance {}: {error}", job.instance))
}

fn fire(job: &TimerJob) -> Result<(), Error> {
    let instance = match store::instance(&job.site, &job.instance) {
        Ok(instance) => instance,
        Err(error) if error.status == 404 => {
            log::warn(&format!("timer for the unknown instance {}", job.instance));
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    if !job.is_due_for(&instance) {
        return Ok(());
    }
    let stored = store::definition_version(&job.site, &instance.definition, instance.version)?;
    let now = jobs::now_ms();
    let updated = store::update_instance(&job.site, &job.instance, |current| {
        if !job.is_due_for(current) {
            return Err(Error::new(409, NOT_DUE, "the instance moved on"));
        }
        current.take(
            &stored.definition,
            &job.transition,
            &Actor::System,
            None,
            now,
        )
    });
    match updated {
        Ok(instance) => {
            log::info(&format!(
                "timer took `{}` on instance {} after `{}`",
                job.transition, instance.id, job.state
            ));
            for warning in effects::on_enter(&instance, &stored.definition, now) {
                log::warn(&warning);
            }
            Ok(())
        }
        Err(error) if error.code == NOT_DUE => Ok(()),
        Err(error) => Err(error),
    }
}
