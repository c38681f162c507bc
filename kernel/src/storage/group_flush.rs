//! Group commit: writers wait for a flush that started after their write,
//! and one flush acknowledges every writer waiting at the time.
//!
//! A dedicated thread runs the flushes, so a slow disk never blocks the async
//! runtime. A writer takes a ticket after its write; the flush thread reads
//! the newest ticket before it flushes and publishes it when the flush is
//! done. A writer is durable once the published ticket reaches its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use tokio::sync::watch;

use super::StorageError;

/// What the flush thread last finished.
#[derive(Debug, Clone, Default)]
struct Flushed {
    ticket: u64,
    error: Option<String>,
}

struct Shared {
    requested: AtomicU64,
    pending: Mutex<bool>,
    wake: Condvar,
    stopped: AtomicBool,
    flushed: watch::Sender<Flushed>,
}

/// Handle to the flush thread.
pub(super) struct GroupFlush {
    shared: Arc<Shared>,
}

impl GroupFlush {
    /// Start the flush thread for `db`.
    pub(super) fn start(db: sled::Db) -> Result<Self, StorageError> {
        let (flushed, _) = watch::channel(Flushed::default());
        let shared = Arc::new(Shared {
            requested: AtomicU64::new(0),
            pending: Mutex::new(false),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
            flushed,
        });
        let worker = shared.clone();
        thread::Builder::new()
            .name("tessera-flush".into())
            .spawn(move || flush_loop(&db, &worker))
            .map_err(|error| {
                StorageError::Backend(format!("cannot start flush thread: {error}"))
            })?;
        Ok(Self { shared })
    }

    /// Resolves once a flush that began after this call has finished.
    pub(super) async fn wait(&self) -> Result<(), StorageError> {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        let mut receiver = self.shared.flushed.subscribe();
        let ticket = self.shared.requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.request_flush();
        let flushed = receiver
            .wait_for(|flushed| flushed.ticket >= ticket)
            .await
            .map_err(|_| StorageError::Closed)?;
        match &flushed.error {
            Some(error) => Err(StorageError::Backend(format!("flush failed: {error}"))),
            None => Ok(()),
        }
    }

    /// Stop the flush thread after its current flush.
    pub(super) fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.request_flush();
    }

    fn request_flush(&self) {
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *pending = true;
        self.shared.wake.notify_one();
    }
}

fn flush_loop(db: &sled::Db, shared: &Shared) {
    loop {
        {
            let mut pending = shared
                .pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            while !*pending {
                pending = shared
                    .wake
                    .wait(pending)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            *pending = false;
        }
        let ticket = shared.requested.load(Ordering::Acquire);
        let error = db.flush().err().map(|error| error.to_string());
        if let Some(error) = &error {
            tracing::error!(%error, "storage flush failed");
        }
        shared.flushed.send_replace(Flushed { ticket, error });
        if shared.stopped.load(Ordering::Acquire) {
            return;
        }
    }
}
