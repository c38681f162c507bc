//! A persisted job and the record of its last run.

use serde::{Deserialize, Serialize};

use super::Timing;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "error")]
pub enum RunOutcome {
    /// `run-job` returned `Ok`.
    Succeeded,
    /// It returned an error, trapped or timed out; the text says which.
    Failed(String),
}

impl RunOutcome {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self, RunOutcome::Succeeded)
    }
}

/// The last run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// When it started, milliseconds since the epoch.
    pub started: u64,
    /// When it ended.
    pub ended: u64,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: RunOutcome,
}

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The plugin that scheduled it.
    pub plugin: String,
    /// Its name, unique per plugin.
    pub name: String,
    /// When it runs.
    pub timing: Timing,
    /// Handed back to `run-job`.
    #[serde(with = "crate::serde_base64")]
    pub payload: Vec<u8>,
    /// The next run, milliseconds since the epoch.
    pub next_run: u64,
    /// When it was (re)scheduled.
    pub created_at: u64,
    /// Runs so far.
    #[serde(default)]
    pub runs: u64,
    /// Failed runs so far.
    #[serde(default)]
    pub failures: u64,
    /// The last run.
    #[serde(default)]
    pub last_run: Option<LastRun>,
}

impl JobRecord {
    /// Count a finished run.
    pub fn record_run(&mut self, started: u64, ended: u64, outcome: RunOutcome) {
        self.runs += 1;
        if !outcome.succeeded() {
            self.failures += 1;
        }
        self.last_run = Some(LastRun {
            started,
            ended,
            outcome,
        });
    }
}
