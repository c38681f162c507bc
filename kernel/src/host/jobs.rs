//! `tessera:plugin/jobs`: scheduling work.
//!
//! Jobs belong to the calling plugin (names are per plugin) and are kept by
//! the kernel's scheduler ([`crate::jobs`]), which calls the plugin's
//! `job-runner` export when they are due.

use tessera_host_api::bindings::tessera::plugin::jobs::{self, JobError, Timing};
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

/// Longest job name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// Largest job payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 << 10;

fn check_name(name: &str) -> Result<(), JobError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(JobError::InvalidName(format!(
            "a job name has 1 to {MAX_NAME_BYTES} bytes, got {}",
            name.len()
        )));
    }
    Ok(())
}

fn unavailable() -> JobError {
    JobError::Unavailable("this kernel runs without a job scheduler; nothing was scheduled".into())
}

fn kernel_timing(when: Timing) -> crate::jobs::Timing {
    match when {
        Timing::At(at) => crate::jobs::Timing::At(at),
        Timing::Every(interval) => crate::jobs::Timing::Every(interval),
        Timing::Cron(expression) => crate::jobs::Timing::Cron(expression),
    }
}

fn job_error(error: crate::jobs::JobError) -> JobError {
    match error {
        crate::jobs::JobError::Invalid(invalid) => JobError::InvalidSchedule(invalid.0),
        crate::jobs::JobError::Storage(error) => {
            JobError::Unavailable(format!("the job could not be stored: {error}"))
        }
    }
}

impl jobs::Host for HostState {
    async fn schedule(
        &mut self,
        name: String,
        when: Timing,
        payload: Vec<u8>,
    ) -> Result<(), JobError> {
        check_name(&name)?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(JobError::InvalidSchedule(format!(
                "a job payload has at most {MAX_PAYLOAD_BYTES} bytes, got {}",
                payload.len()
            )));
        }
        let scheduler = self.runtime.scheduler().cloned().ok_or_else(unavailable)?;
        let plugin = self.plugin.id().to_owned();
        let timing = kernel_timing(when);
        tokio::task::spawn_blocking(move || scheduler.schedule(&plugin, &name, timing, payload))
            .await
            .map_err(|error| JobError::Unavailable(error.to_string()))?
            .map_err(job_error)?;
        // Scheduled means on disk: the job survives a crash from here on.
        self.runtime
            .storage()
            .durable()
            .await
            .map_err(|error| JobError::Unavailable(format!("the job could not be stored: {error}")))
    }

    async fn cancel(&mut self, name: String) -> Result<bool, JobError> {
        check_name(&name)?;
        let scheduler = self.runtime.scheduler().cloned().ok_or_else(unavailable)?;
        let plugin = self.plugin.id().to_owned();
        tokio::task::spawn_blocking(move || scheduler.cancel(&plugin, &name))
            .await
            .map_err(|error| JobError::Unavailable(error.to_string()))?
            .map_err(|error| {
                JobError::Unavailable(format!("the job could not be removed: {error}"))
            })
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    jobs::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
