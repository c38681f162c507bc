//! The plugin side of the native ABI: what
//! [`export_native_plugin!`](crate::export_native_plugin) expands to.
//!
//! Each function implements one symbol on top of plain Rust handlers:
//! decoding the input, catching panics, encoding the answer and writing
//! `out`. A library that writes its symbols by hand (to report a custom ABI
//! version, say) calls them directly.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{NativeEvent, NativeRequest, NativeResponse, NativeStatus, TesseraBuffer};

/// Implement `tessera_native_handle`: decode the request, run `handler`,
/// write the encoded response to `*out` and return its [`NativeStatus`]
/// code. A panic in `handler` is caught and reported as
/// [`NativeStatus::Panic`] with its message.
///
/// # Safety
///
/// The [`CallFn`](super::CallFn) contract: `request_ptr` points to
/// `request_len` initialised bytes readable for the whole call (or is null
/// with `request_len` 0), and `out` is null (the call then fails with
/// [`NativeStatus::BadInput`] and writes nothing) or valid for writing one
/// [`TesseraBuffer`].
///
/// ```
/// use tessera_host_api::native::{NativeRequest, NativeResponse, NativeStatus, TesseraBuffer, guest};
///
/// let request = NativeRequest::new("GET", "/").to_bytes()?;
/// let mut out = TesseraBuffer::empty();
/// // SAFETY: `request` is alive for the call and `out` is writable.
/// let status = unsafe {
///     guest::handle_request(request.as_ptr(), request.len(), &mut out, |_| NativeResponse::new(204))
/// };
/// assert_eq!(status, NativeStatus::Ok.code());
/// // SAFETY: `out` was written by `handle_request` in this program.
/// let response = NativeResponse::from_bytes(&unsafe { out.into_vec() })?;
/// assert_eq!(response.status, 204);
/// # Ok::<(), tessera_host_api::native::CodecError>(())
/// ```
pub unsafe fn handle_request<F>(
    request_ptr: *const u8,
    request_len: usize,
    out: *mut TesseraBuffer,
    handler: F,
) -> i32
where
    F: FnOnce(NativeRequest) -> NativeResponse,
{
    // SAFETY: this function's contract is `dispatch`'s.
    unsafe {
        dispatch(request_ptr, request_len, out, |input| {
            let request = NativeRequest::from_bytes(input)
                .map_err(|error| (NativeStatus::BadInput, error.to_string()))?;
            handler(request)
                .to_bytes()
                .map_err(|error| (NativeStatus::Error, error.to_string()))
        })
    }
}

/// Implement `tessera_native_on_event`: decode the event and run `handler`.
/// `Ok` returns [`NativeStatus::Ok`] with nothing in `*out`; `Err(message)`
/// returns [`NativeStatus::Error`] with the message; a panic is caught and
/// returns [`NativeStatus::Panic`].
///
/// # Safety
///
/// As [`handle_request`]: the [`CallFn`](super::CallFn) contract.
///
/// ```
/// use tessera_host_api::native::{NativeEvent, NativeStatus, TesseraBuffer, guest};
///
/// let event = NativeEvent::new("a.b", Vec::new()).to_bytes()?;
/// let mut out = TesseraBuffer::empty();
/// // SAFETY: `event` is alive for the call and `out` is writable.
/// let status = unsafe {
///     guest::deliver_event(event.as_ptr(), event.len(), &mut out, |_| Err("not yet".to_owned()))
/// };
/// assert_eq!(status, NativeStatus::Error.code());
/// // SAFETY: `out` was written by `deliver_event` in this program.
/// assert_eq!(unsafe { out.into_vec() }, b"not yet");
/// # Ok::<(), tessera_host_api::native::CodecError>(())
/// ```
pub unsafe fn deliver_event<F>(
    event_ptr: *const u8,
    event_len: usize,
    out: *mut TesseraBuffer,
    handler: F,
) -> i32
where
    F: FnOnce(NativeEvent) -> Result<(), String>,
{
    // SAFETY: this function's contract is `dispatch`'s.
    unsafe {
        dispatch(event_ptr, event_len, out, |input| {
            let event = NativeEvent::from_bytes(input)
                .map_err(|error| (NativeStatus::BadInput, error.to_string()))?;
            handler(event)
                .map(|()| Vec::new())
                .map_err(|message| (NativeStatus::Error, message))
        })
    }
}

/// Implement `tessera_native_free`: release a buffer that
/// [`handle_request`] or [`deliver_event`] wrote. A null buffer is ignored.
///
/// # Safety
///
/// The [`FreeFn`](super::FreeFn) contract: `buffer` was written to `out` by
/// a function of this module in the same library, is unchanged, and is
/// freed only once.
///
/// ```
/// use tessera_host_api::native::{TesseraBuffer, guest};
///
/// // SAFETY: made by `from_vec` in this program, freed once.
/// unsafe { guest::free_buffer(TesseraBuffer::from_vec(vec![1, 2, 3])) };
/// // SAFETY: a null buffer is always accepted.
/// unsafe { guest::free_buffer(TesseraBuffer::empty()) };
/// ```
pub unsafe fn free_buffer(buffer: TesseraBuffer) {
    // SAFETY: by this function's contract the buffer came from
    // `TesseraBuffer::from_vec` in this library and is taken back once.
    drop(unsafe { buffer.into_vec() });
}

/// The event handler [`export_native_plugin!`](crate::export_native_plugin)
/// uses when given none: acknowledges every event.
///
/// ```
/// use tessera_host_api::native::{NativeEvent, guest};
///
/// assert_eq!(guest::acknowledge_event(NativeEvent::new("a.b", Vec::new())), Ok(()));
/// ```
pub fn acknowledge_event(_event: NativeEvent) -> Result<(), String> {
    Ok(())
}

/// Read the input, run `call` catching panics, write `*out`.
///
/// # Safety
///
/// `input_ptr` points to `input_len` initialised bytes readable for the
/// whole call, or is null with `input_len` 0; `out` is null or valid for
/// writing one `TesseraBuffer`.
unsafe fn dispatch(
    input_ptr: *const u8,
    input_len: usize,
    out: *mut TesseraBuffer,
    call: impl FnOnce(&[u8]) -> Result<Vec<u8>, (NativeStatus, String)>,
) -> i32 {
    if out.is_null() {
        return NativeStatus::BadInput.code();
    }
    // SAFETY: forwarded from this function's contract.
    let outcome = match unsafe { input(input_ptr, input_len) } {
        // The handler's state after a panic is never looked at again: the
        // call fails, and the next call starts from its own input.
        Some(input) => match catch_unwind(AssertUnwindSafe(|| call(input))) {
            Ok(outcome) => outcome,
            Err(payload) => Err((NativeStatus::Panic, panic_message(payload))),
        },
        None => Err((
            NativeStatus::BadInput,
            format!(
                "the input cannot be read: a null pointer with length {input_len}, or a length above isize::MAX"
            ),
        )),
    };
    let (status, bytes) = match outcome {
        Ok(bytes) => (NativeStatus::Ok, bytes),
        Err((status, message)) => (status, message.into_bytes()),
    };
    // SAFETY: `out` is not null and, by this function's contract, valid for
    // writing one `TesseraBuffer`; `write` does not drop what was there.
    unsafe { out.write(TesseraBuffer::from_vec(bytes)) };
    status.code()
}

/// The input bytes, or `None` when the pointer and length cannot describe
/// any.
///
/// # Safety
///
/// Unless `ptr` is null, it points to `len` initialised bytes that stay
/// readable and unchanged for `'a`.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[]);
    }
    if len > isize::MAX as usize {
        return None;
    }
    // SAFETY: non-null, at most isize::MAX bytes, readable and unchanged
    // for 'a by this function's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The text of a panic payload (`panic!` with a literal or a format), and
/// the payload dropped without letting a panic in its `Drop` escape.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a payload that is not text".to_owned());
    if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(second);
    }
    message
}

/// Run a worker for `tessera_native_run`: decode the configuration, call
/// `worker` with the kernel's table inside `catch_unwind`, and report its
/// outcome as a [`NativeStatus`] with the error or panic message in `out`.
///
/// # Safety
///
/// The contract of [`RunFn`](super::RunFn).
pub unsafe fn run_worker<F>(
    host: *const super::TesseraHost,
    config_ptr: *const u8,
    config_len: usize,
    out: *mut TesseraBuffer,
    worker: F,
) -> i32
where
    F: FnOnce(super::Host<'_>, super::NativeConfig) -> Result<(), String>,
{
    // SAFETY: per `RunFn`, `host` is null or valid for the whole call.
    let Some(raw) = (unsafe { host.as_ref() }) else {
        // SAFETY: forwarded from this function's contract.
        return unsafe {
            dispatch(config_ptr, config_len, out, |_| {
                Err((NativeStatus::BadInput, "the host table is null".to_owned()))
            })
        };
    };
    // SAFETY: `raw` is the table of this running call.
    let host = unsafe { super::Host::from_raw(raw) };
    // SAFETY: forwarded from this function's contract.
    unsafe {
        dispatch(config_ptr, config_len, out, |input| {
            let config: super::NativeConfig = serde_json::from_slice(input).map_err(|error| {
                (
                    NativeStatus::BadInput,
                    format!("the configuration is not a JSON object of strings: {error}"),
                )
            })?;
            worker(host, config)
                .map(|()| Vec::new())
                .map_err(|message| (NativeStatus::Error, message))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_handle(input: &[u8], handler: fn(NativeRequest) -> NativeResponse) -> (i32, Vec<u8>) {
        let mut out = TesseraBuffer::empty();
        let status = unsafe { handle_request(input.as_ptr(), input.len(), &mut out, handler) };
        (status, unsafe { out.into_vec() })
    }

    fn call_event(input: &[u8], handler: fn(NativeEvent) -> Result<(), String>) -> (i32, Vec<u8>) {
        let mut out = TesseraBuffer::empty();
        let status = unsafe { deliver_event(input.as_ptr(), input.len(), &mut out, handler) };
        (status, unsafe { out.into_vec() })
    }

    #[test]
    fn a_request_is_decoded_handled_and_its_response_encoded() {
        let request = NativeRequest {
            body: b"ping".to_vec(),
            ..NativeRequest::new("POST", "/echo")
        };
        let (status, out) = call_handle(&request.to_bytes().unwrap(), |request| {
            NativeResponse::new(200).with_body(request.body)
        });
        assert_eq!(status, NativeStatus::Ok.code());
        assert_eq!(NativeResponse::from_bytes(&out).unwrap().body, b"ping");
    }

    #[test]
    fn a_panicking_handler_returns_panic_with_its_message() {
        let input = NativeRequest::new("GET", "/").to_bytes().unwrap();
        let (status, out) = call_handle(&input, |request| panic!("boom at {}", request.path));
        assert_eq!(status, NativeStatus::Panic.code());
        assert_eq!(String::from_utf8(out).unwrap(), "boom at /");
        let (status, out) = call_event(b"{\"topic\":\"a.b\"}", |_| panic!("literal"));
        assert_eq!(status, NativeStatus::Panic.code());
        assert_eq!(out, b"literal");
    }

    #[test]
    fn undecodable_input_returns_bad_input() {
        let (status, out) = call_handle(b"{", |_| NativeResponse::new(200));
        assert_eq!(status, NativeStatus::BadInput.code());
        assert!(String::from_utf8(out).unwrap().contains("request"));
        let (status, _) = call_event(b"[]", |_| Ok(()));
        assert_eq!(status, NativeStatus::BadInput.code());
    }

    #[test]
    fn impossible_pointers_are_refused_without_reading() {
        let mut out = TesseraBuffer::empty();
        let status =
            unsafe { handle_request(std::ptr::null(), 3, &mut out, |_| NativeResponse::new(200)) };
        assert_eq!(status, NativeStatus::BadInput.code());
        unsafe { free_buffer(out) };
        let status = unsafe {
            handle_request(std::ptr::null(), 0, std::ptr::null_mut(), |_| {
                NativeResponse::new(200)
            })
        };
        assert_eq!(status, NativeStatus::BadInput.code());
    }

    #[test]
    fn event_results_map_to_ok_and_error() {
        let input = NativeEvent::new("a.b", Vec::new()).to_bytes().unwrap();
        assert_eq!(
            call_event(&input, acknowledge_event),
            (NativeStatus::Ok.code(), Vec::new())
        );
        let (status, out) = call_event(&input, |event| Err(format!("no {}", event.topic)));
        assert_eq!(status, NativeStatus::Error.code());
        assert_eq!(out, b"no a.b");
    }

    /// A host table over a `Vec` of published (topic, payload) pairs that
    /// answers `wait` with "stop" after `stop_after` calls.
    struct FakeHost {
        published: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
        waits: std::sync::atomic::AtomicU32,
        stop_after: u32,
    }

    unsafe extern "C" fn fake_publish(
        context: *mut std::ffi::c_void,
        topic: *const u8,
        topic_len: usize,
        payload: *const u8,
        payload_len: usize,
    ) -> i32 {
        let host = unsafe { &*(context as *const FakeHost) };
        let topic = unsafe { std::slice::from_raw_parts(topic, topic_len) };
        let payload = unsafe { std::slice::from_raw_parts(payload, payload_len) };
        if topic == b"refused.topic" {
            return super::super::PublishCode::NotPermitted as i32;
        }
        host.published
            .lock()
            .unwrap()
            .push((String::from_utf8(topic.to_vec()).unwrap(), payload.to_vec()));
        0
    }

    unsafe extern "C" fn fake_log(_: *mut std::ffi::c_void, _: u32, _: *const u8, _: usize) {}

    unsafe extern "C" fn fake_wait(context: *mut std::ffi::c_void, _: u64) -> u32 {
        let host = unsafe { &*(context as *const FakeHost) };
        let waited = host
            .waits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        u32::from(waited + 1 >= host.stop_after)
    }

    type Published = Vec<(String, Vec<u8>)>;

    fn run(
        config: &[u8],
        worker: impl FnOnce(super::super::Host<'_>, super::super::NativeConfig) -> Result<(), String>,
    ) -> (i32, Vec<u8>, Published) {
        let fake = FakeHost {
            published: std::sync::Mutex::new(Vec::new()),
            waits: std::sync::atomic::AtomicU32::new(0),
            stop_after: 3,
        };
        let table = super::super::TesseraHost {
            context: std::ptr::from_ref(&fake).cast_mut().cast(),
            publish: fake_publish,
            log: fake_log,
            wait: fake_wait,
        };
        let mut out = TesseraBuffer::empty();
        let status = unsafe { run_worker(&table, config.as_ptr(), config.len(), &mut out, worker) };
        let published = fake.published.lock().unwrap().clone();
        (status, unsafe { out.into_vec() }, published)
    }

    #[test]
    fn a_worker_gets_its_config_publishes_and_returns_when_asked_to_stop() {
        let (status, out, published) = run(br#"{"every":"5"}"#, |host, config| {
            let mut round = 0;
            while !host.wait(std::time::Duration::from_millis(1)) {
                round += 1;
                host.publish_json(
                    "a.tick",
                    &serde_json::json!({ "round": round, "every": config["every"] }),
                )
                .map_err(|error| error.to_string())?;
            }
            host.log(super::super::LogLevel::Info, "bye");
            Ok(())
        });
        assert_eq!((status, out), (NativeStatus::Ok.code(), Vec::new()));
        assert_eq!(published.len(), 2);
        assert_eq!(published[1].0, "a.tick");
        assert_eq!(published[1].1, br#"{"every":"5","round":2}"#);
    }

    #[test]
    fn worker_errors_refusals_panics_and_bad_config_are_reported() {
        let (status, out, _) = run(b"{}", |host, _| {
            host.publish("refused.topic", b"{}")
                .map_err(|error| error.to_string())
        });
        assert_eq!(status, NativeStatus::Error.code());
        assert!(String::from_utf8(out).unwrap().contains("NotPermitted"));
        let (status, out, _) = run(b"{}", |_, _| panic!("worker down"));
        assert_eq!(
            (status, out),
            (NativeStatus::Panic.code(), b"worker down".to_vec())
        );
        let (status, out, _) = run(b"[1]", |_, _| Ok(()));
        assert_eq!(status, NativeStatus::BadInput.code());
        assert!(String::from_utf8(out).unwrap().contains("configuration"));
        let mut out = TesseraBuffer::empty();
        let status = unsafe {
            run_worker(std::ptr::null(), std::ptr::null(), 0, &mut out, |_, _| {
                Ok(())
            })
        };
        assert_eq!(status, NativeStatus::BadInput.code());
        unsafe { free_buffer(out) };
    }
}
