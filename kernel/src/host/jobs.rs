//! `tessera:plugin/jobs`: scheduling work.
//!
//! Arguments are validated for real; the scheduler itself is not part of this
//! kernel yet, so a valid request reports `unavailable` rather than
//! pretending the job was scheduled.

use tessera_host_api::bindings::tessera::plugin::jobs::{self, JobError, Timing};
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

/// Longest job name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

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
    JobError::Unavailable("this kernel has no job scheduler yet; nothing was scheduled".into())
}

impl jobs::Host for HostState {
    async fn schedule(
        &mut self,
        name: String,
        when: Timing,
        _payload: Vec<u8>,
    ) -> Result<(), JobError> {
        check_name(&name)?;
        if let Timing::Every(interval) = when
            && interval < 1000
        {
            return Err(JobError::InvalidSchedule(format!(
                "`every` needs at least 1000 ms, got {interval}"
            )));
        }
        Err(unavailable())
    }

    async fn cancel(&mut self, name: String) -> Result<bool, JobError> {
        check_name(&name)?;
        Err(unavailable())
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    jobs::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
