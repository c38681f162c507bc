//! Background workers of native plugins (native ABI 2): the kernel runs a
//! library's `tessera_native_run` on a thread of its own with a
//! [`TesseraHost`] table whose functions reach [`WorkerServices`], and asks
//! it to stop when the plugin is deactivated or the kernel shuts down.
//!
//! A worker that returns or fails without being asked to stop is started
//! again after a pause that doubles from 1 s up to 60 s (and starts over
//! once a run lasted a minute): a broken connection in a plugin that gave
//! up does not leave it dead until a restart.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tessera_host_api::native::{LogLevel, PublishCode, TesseraHost};

use super::NativePlugin;

/// What the kernel offers a running worker. Implemented over the event bus
/// by [`KernelServices`](super::KernelServices); tests may use their own.
pub trait WorkerServices: Send + Sync {
    /// Publish `payload` on `topic` as the plugin.
    fn publish(&self, topic: &str, payload: Vec<u8>) -> PublishCode;
    /// Log `message` at `level` for the plugin.
    fn log(&self, level: LogLevel, message: &str);
}

/// How long [`NativeWorker::stop`] waits for the worker to return.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);

/// A flag the kernel raises and the worker waits on.
#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    fn stop(&self) {
        *self
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.changed.notify_all();
    }

    /// Wait up to `timeout` for the flag; whether it is raised.
    fn wait(&self, timeout: Duration) -> bool {
        let guard = self
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |stopped| !*stopped)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard
    }
}

/// What the table's `context` points to.
struct Context {
    services: Arc<dyn WorkerServices>,
    stop: Arc<StopSignal>,
}

/// Bytes at `ptr` for `len`, or `None` for an impossible pair.
///
/// # Safety
///
/// A non-null `ptr` points to `len` readable bytes for the borrow.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[]);
    }
    if len > isize::MAX as usize {
        return None;
    }
    // SAFETY: forwarded from this function's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// `TesseraHost::publish`.
unsafe extern "C" fn host_publish(
    context: *mut c_void,
    topic_ptr: *const u8,
    topic_len: usize,
    payload_ptr: *const u8,
    payload_len: usize,
) -> i32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `context` is the `Context` the worker thread owns for the
        // whole `tessera_native_run` call, during which alone the ABI lets
        // the library call this function; the byte pairs are readable per
        // the ABI.
        let (context, topic, payload) = unsafe {
            (
                &*(context as *const Context),
                bytes(topic_ptr, topic_len),
                bytes(payload_ptr, payload_len),
            )
        };
        match (topic.map(std::str::from_utf8), payload) {
            (Some(Ok(topic)), Some(payload)) => context.services.publish(topic, payload.to_vec()),
            _ => PublishCode::Invalid,
        }
    }));
    outcome.unwrap_or(PublishCode::Unavailable) as i32
}

/// `TesseraHost::log`.
unsafe extern "C" fn host_log(
    context: *mut c_void,
    level: u32,
    message_ptr: *const u8,
    message_len: usize,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `host_publish`.
        let (context, message) = unsafe {
            (
                &*(context as *const Context),
                bytes(message_ptr, message_len),
            )
        };
        if let Some(message) = message {
            context.services.log(
                LogLevel::from_code(level),
                &String::from_utf8_lossy(message),
            );
        }
    }));
}

/// `TesseraHost::wait`.
unsafe extern "C" fn host_wait(context: *mut c_void, timeout_ms: u64) -> u32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `host_publish`.
        let context = unsafe { &*(context as *const Context) };
        context.stop.wait(Duration::from_millis(timeout_ms))
    }));
    u32::from(outcome.unwrap_or(true))
}

/// A running worker: stop it with [`stop`](Self::stop).
pub struct NativeWorker {
    plugin_id: String,
    stop: Arc<StopSignal>,
    done: Mutex<mpsc::Receiver<()>>,
}

impl std::fmt::Debug for NativeWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeWorker")
            .field("plugin", &self.plugin_id)
            .finish()
    }
}

impl NativeWorker {
    /// Start `plugin`'s worker on a new thread with `services` and the
    /// configuration `config` (a JSON object of strings). `None` when the
    /// library exports no worker (ABI 1, or ABI 2 without
    /// `tessera_native_run`) or the thread cannot be made (logged).
    pub fn start(
        plugin_id: &str,
        plugin: &NativePlugin,
        services: Arc<dyn WorkerServices>,
        config: Vec<u8>,
    ) -> Option<Self> {
        if !plugin.has_worker() {
            return None;
        }
        let stop = Arc::new(StopSignal::default());
        let (done_tx, done_rx) = mpsc::channel();
        let context = Context {
            services,
            stop: stop.clone(),
        };
        let plugin = plugin.clone();
        let id = plugin_id.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("native-worker-{plugin_id}"))
            .spawn(move || {
                supervise(&id, &plugin, &context, &config);
                let _ = done_tx.send(());
            });
        match spawned {
            Ok(_) => {
                tracing::info!(plugin = %plugin_id, "native worker started");
                Some(Self {
                    plugin_id: plugin_id.to_owned(),
                    stop,
                    done: Mutex::new(done_rx),
                })
            }
            Err(error) => {
                tracing::error!(plugin = %plugin_id, %error, "cannot start the native worker's thread");
                None
            }
        }
    }

    /// Ask the worker to stop and wait up to `grace` for it to return;
    /// whether it did. One that does not keeps its thread (native code
    /// cannot be interrupted) and its library stays loaded until it returns.
    pub fn stop(&self, grace: Duration) -> bool {
        self.stop.stop();
        let done = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stopped = !matches!(
            done.recv_timeout(grace),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if stopped {
            tracing::info!(plugin = %self.plugin_id, "native worker stopped");
        } else {
            tracing::warn!(plugin = %self.plugin_id, grace_ms = grace.as_millis() as u64, "native worker did not stop in time; it keeps its thread");
        }
        stopped
    }
}

/// Run the worker until it is asked to stop, starting it again with
/// growing pauses when it returns or fails on its own.
fn supervise(id: &str, plugin: &NativePlugin, context: &Context, config: &[u8]) {
    let host = TesseraHost {
        context: std::ptr::from_ref(context).cast_mut().cast::<c_void>(),
        publish: host_publish,
        log: host_log,
        wait: host_wait,
    };
    let mut pause = FIRST_PAUSE;
    loop {
        let started = Instant::now();
        let outcome = plugin.run(&host, config);
        if context.stop.wait(Duration::ZERO) {
            if let Some(Err(error)) = outcome {
                tracing::warn!(plugin = %id, %error, "native worker failed while stopping");
            }
            return;
        }
        if started.elapsed() >= LONGEST_PAUSE {
            pause = FIRST_PAUSE;
        }
        match outcome {
            None => return,
            Some(Ok(())) => {
                tracing::warn!(plugin = %id, pause_ms = pause.as_millis() as u64, "native worker returned without being asked to stop; starting it again");
            }
            Some(Err(error)) => {
                tracing::error!(plugin = %id, %error, pause_ms = pause.as_millis() as u64, "native worker failed; starting it again");
            }
        }
        if context.stop.wait(pause) {
            return;
        }
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_signal_wakes_waiters_and_stays_raised() {
        let signal = Arc::new(StopSignal::default());
        assert!(!signal.wait(Duration::from_millis(1)));
        let waiter = {
            let signal = signal.clone();
            std::thread::spawn(move || signal.wait(Duration::from_secs(60)))
        };
        signal.stop();
        assert!(waiter.join().unwrap());
        assert!(signal.wait(Duration::ZERO));
    }
}
