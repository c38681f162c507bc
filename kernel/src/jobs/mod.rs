//! The job scheduler: plugins schedule named jobs through the WIT `jobs`
//! interface and the kernel calls their `job-runner.run-job` export when
//! each is due.
//!
//! - Jobs are persisted in the kernel namespace `kernel/jobs`
//!   (`job/<plugin id>/<name>` → [`JobRecord`]) and survive restarts.
//! - A job never runs twice at the same time: a run that is still going
//!   when the next is due delays that next run until it ends.
//! - **Missed runs** (the kernel was down, the plugin disabled, a run
//!   overran) are not made up one by one: a job that is overdue runs
//!   **once**, as soon as possible, then follows its schedule from then on
//!   (an `every` job stays on its original grid). A one-off job that was
//!   due during downtime runs once after the start.
//! - The next run of a recurring job is stored before the run starts; a
//!   crash during a run does not repeat it. A one-off job is deleted after
//!   its run ends, so a crash during it runs it again after the restart
//!   (at least once).
//!
//! See `docs/jobs.md`.

mod record;
mod schedule;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use record::{JobRecord, RunOutcome};
pub use schedule::{InvalidSchedule, MIN_INTERVAL_MS, Timing};
use tokio::task::JoinHandle;

use crate::runtime::{CallContext, Runtime};
use crate::storage::{Namespace, Storage, StorageError};

/// Name of the kernel namespace of jobs.
pub const NAMESPACE: &str = "kernel/jobs";

/// How often the scheduler looks for due jobs, at most.
const TICK: Duration = Duration::from_millis(100);

/// Why scheduling failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The schedule cannot work.
    #[error(transparent)]
    Invalid(#[from] InvalidSchedule),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

type JobKey = (String, String);

/// The scheduler.
pub struct Scheduler {
    namespace: Arc<dyn Namespace>,
    runtime: Arc<Runtime>,
    jobs: Mutex<BTreeMap<JobKey, JobRecord>>,
    running: Mutex<HashSet<JobKey>>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn key(plugin: &str, name: &str) -> String {
    format!("job/{plugin}/{name}")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Scheduler {
    /// Load the persisted jobs from `storage`.
    pub fn open(storage: &dyn Storage, runtime: Arc<Runtime>) -> Result<Arc<Self>, StorageError> {
        let namespace = storage.namespace(NAMESPACE)?;
        let mut jobs = BTreeMap::new();
        for (stored_key, bytes) in namespace.scan(b"job/", None, usize::MAX)? {
            match serde_json::from_slice::<JobRecord>(&bytes) {
                Ok(job) => {
                    jobs.insert((job.plugin.clone(), job.name.clone()), job);
                }
                Err(error) => tracing::error!(
                    key = %String::from_utf8_lossy(&stored_key),
                    %error,
                    "skipping an unreadable job record"
                ),
            }
        }
        Ok(Arc::new(Self {
            namespace,
            runtime,
            jobs: Mutex::new(jobs),
            running: Mutex::default(),
            ticker: Mutex::default(),
        }))
    }

    /// Schedule (or replace) `plugin`'s job `name`.
    pub fn schedule(
        &self,
        plugin: &str,
        name: &str,
        timing: Timing,
        payload: Vec<u8>,
    ) -> Result<(), JobError> {
        timing.validate()?;
        let now = now_ms();
        let next_run = timing
            .first_run(now)
            .ok_or_else(|| InvalidSchedule("the schedule has no next run".into()))?;
        let previous = lock(&self.jobs)
            .get(&(plugin.to_owned(), name.to_owned()))
            .cloned();
        let job = JobRecord {
            plugin: plugin.to_owned(),
            name: name.to_owned(),
            timing,
            payload,
            next_run,
            created_at: now,
            runs: previous.as_ref().map_or(0, |job| job.runs),
            failures: previous.as_ref().map_or(0, |job| job.failures),
            last_run: previous.and_then(|job| job.last_run),
        };
        self.save(&job)?;
        tracing::info!(plugin, job = name, next_run, "job scheduled");
        lock(&self.jobs).insert((plugin.to_owned(), name.to_owned()), job);
        Ok(())
    }

    /// Cancel `plugin`'s job `name`; returns whether it existed. A run in
    /// progress finishes.
    pub fn cancel(&self, plugin: &str, name: &str) -> Result<bool, StorageError> {
        let existed = self.namespace.delete(key(plugin, name).as_bytes())?;
        lock(&self.jobs).remove(&(plugin.to_owned(), name.to_owned()));
        Ok(existed)
    }

    /// Delete every job of `plugin` (when its data is purged).
    pub fn purge(&self, plugin: &str) -> Result<usize, StorageError> {
        let names: Vec<String> = lock(&self.jobs)
            .keys()
            .filter(|(owner, _)| owner == plugin)
            .map(|(_, name)| name.clone())
            .collect();
        for name in &names {
            self.cancel(plugin, name)?;
        }
        Ok(names.len())
    }

    /// Every job, by plugin and name.
    pub fn jobs(&self) -> Vec<(JobRecord, bool)> {
        let running = lock(&self.running);
        lock(&self.jobs)
            .iter()
            .map(|(key, job)| (job.clone(), running.contains(key)))
            .collect()
    }

    fn save(&self, job: &JobRecord) -> Result<(), StorageError> {
        let bytes =
            serde_json::to_vec(job).map_err(|error| StorageError::Backend(error.to_string()))?;
        self.namespace
            .set(key(&job.plugin, &job.name).as_bytes(), &bytes)
    }

    /// Start running due jobs. Call once.
    pub fn start(self: &Arc<Self>) {
        let scheduler = self.clone();
        let handle = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                scheduler.run_due();
            }
        });
        *lock(&self.ticker) = Some(handle);
    }

    /// Stop starting runs (on shutdown).
    pub fn stop(&self) {
        if let Some(handle) = lock(&self.ticker).take() {
            handle.abort();
        }
    }

    /// Start every due job that is not running and whose plugin is loaded.
    fn run_due(self: &Arc<Self>) {
        let now = now_ms();
        let due: Vec<JobRecord> = {
            let jobs = lock(&self.jobs);
            let running = lock(&self.running);
            jobs.iter()
                .filter(|(key, job)| job.next_run <= now && !running.contains(*key))
                .map(|(_, job)| job.clone())
                .collect()
        };
        for job in due {
            let Some(plugin) = self.runtime.by_id(&job.plugin) else {
                // Disabled or not installed: the job waits, overdue, and
                // runs once when the plugin is back.
                continue;
            };
            let job_key = (job.plugin.clone(), job.name.clone());
            // Move a recurring job to its next run before it starts, so a
            // crash during the run does not repeat it.
            if let Some(next_run) = job.timing.next_after(job.next_run, now) {
                let mut updated = job.clone();
                updated.next_run = next_run;
                if let Err(error) = self.save(&updated) {
                    tracing::error!(plugin = %job.plugin, job = %job.name, %error, "cannot store the next run; not running the job now");
                    continue;
                }
                lock(&self.jobs).insert(job_key.clone(), updated);
            }
            lock(&self.running).insert(job_key.clone());
            let scheduler = self.clone();
            tokio::spawn(async move {
                let started = now_ms();
                let context = CallContext::background(format!("job-{}", job.name));
                let outcome = scheduler
                    .runtime
                    .call_run_job(plugin, job.name.clone(), job.payload.clone(), context)
                    .await;
                let outcome = match outcome {
                    Ok(Ok(())) => RunOutcome::Succeeded,
                    Ok(Err(message)) => RunOutcome::Failed(message),
                    Err(error) => RunOutcome::Failed(error.to_string()),
                };
                scheduler.finished(&job_key, &job, started, outcome);
            });
        }
    }

    /// Record a run's end; a one-off job is done.
    fn finished(&self, job_key: &JobKey, job: &JobRecord, started: u64, outcome: RunOutcome) {
        let ended = now_ms();
        let label = if outcome.succeeded() {
            "succeeded"
        } else {
            "failed"
        };
        self.runtime.metrics().record_job_run(&job.plugin, label);
        match &outcome {
            RunOutcome::Succeeded => {
                tracing::info!(plugin = %job.plugin, job = %job.name, duration_ms = ended - started, "job ran");
            }
            RunOutcome::Failed(error) => {
                tracing::warn!(plugin = %job.plugin, job = %job.name, %error, "job failed");
            }
        }
        let mut jobs = lock(&self.jobs);
        let result = match jobs.get_mut(job_key) {
            // Replaced while running: the new schedule stands as set.
            Some(current) if current.created_at != job.created_at => Ok(()),
            Some(current) if !current.timing.is_recurring() => {
                jobs.remove(job_key);
                self.namespace
                    .delete(key(&job.plugin, &job.name).as_bytes())
                    .map(|_| ())
            }
            Some(current) => {
                current.record_run(started, ended, outcome);
                let current = current.clone();
                self.save(&current)
            }
            // Cancelled while running.
            None => Ok(()),
        };
        drop(jobs);
        if let Err(error) = result {
            tracing::error!(plugin = %job.plugin, job = %job.name, %error, "cannot record the job's run");
        }
        lock(&self.running).remove(job_key);
    }
}
