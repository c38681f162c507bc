//! Misbehaving plugins harm only their own request: a trap, an endless loop
//! and a runaway allocation each get a clear JSON error naming the request
//! id, and the kernel and the other plugins keep serving.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

use support::{Kernel, Reply};

fn assert_names_request_id(reply: &Reply) {
    let id = reply.request_id.as_deref().expect("x-request-id header");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(id),
        "message `{message}` does not name request {id}"
    );
}

fn assert_hello_still_answers(kernel: &Kernel) {
    let reply = kernel.get("/api/hello/greet/survivor");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["message"], "Hello, survivor!");
}

#[test]
fn a_trapping_plugin_gets_a_clear_error_and_the_kernel_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let reply = kernel.get("/api/trap/");
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.error_code(), "plugin_failed");
    assert!(reply.body.contains("tessera.test.trap"), "{}", reply.body);
    assert_names_request_id(&reply);
    // The panic message reaches the log, with the request id.
    let id = reply.request_id.clone().unwrap();
    let failure_logged = |log: &str| {
        log.lines()
            .any(|line| line.contains(&id) && line.contains("plugin call failed"))
    };
    let log = kernel.log_when(failure_logged);
    assert!(log.contains("deliberate trap for tests"), "{log}");
    assert!(
        log.lines()
            .any(|line| line.contains(&id) && line.contains("plugin call failed")),
        "{log}"
    );

    // The same plugin serves its next request from a fresh instance.
    assert_eq!(kernel.get("/api/trap/ok").status, 200);
    assert_hello_still_answers(&kernel);
}

#[test]
fn an_endless_loop_is_stopped_at_the_time_limit() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let started = Instant::now();
    let reply = kernel.get("/api/spin/");
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(reply.error_code(), "plugin_timeout");
    assert!(reply.body.contains("300 ms"), "{}", reply.body);
    assert_names_request_id(&reply);
    // Stopped, not left running: the answer comes well before the HTTP
    // client's own timeout.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert_hello_still_answers(&kernel);
}

#[test]
fn loops_on_every_worker_do_not_starve_other_plugins() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    std::thread::scope(|scope| {
        let spinners: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| kernel.get("/api/spin/")))
            .collect();
        // While four guests spin, hello still answers.
        assert_hello_still_answers(&kernel);
        for spinner in spinners {
            assert_eq!(spinner.join().unwrap().status, 504);
        }
    });
}

#[test]
fn allocating_past_the_memory_limit_is_an_out_of_memory_error() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    let reply = kernel.get("/api/hog/");
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.error_code(), "plugin_out_of_memory");
    assert!(
        reply.body.contains(&(16u64 << 20).to_string()),
        "{}",
        reply.body
    );
    assert_names_request_id(&reply);
    // Within its limit the same plugin works.
    assert_eq!(kernel.get("/api/hog/small").status, 200);
    assert_hello_still_answers(&kernel);
}

#[test]
fn failures_are_counted_per_plugin_in_metrics() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    kernel.get("/api/trap/");
    kernel.get("/api/trap/");
    kernel.get("/api/spin/");
    let metrics = kernel.get("/metrics").body;
    let count = |plugin: &str, kind: &str| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with("tessera_plugin_failures_total{")
                    && line.contains(&format!("plugin=\"{plugin}\""))
                    && line.contains(&format!("kind=\"{kind}\""))
            })
            .and_then(|line| line.rsplit(' ').next())
            .map(|value| value.parse::<f64>().unwrap())
    };
    assert_eq!(count("tessera.test.trap", "trap"), Some(2.0), "{metrics}");
    assert_eq!(
        count("tessera.test.spin", "timeout"),
        Some(1.0),
        "{metrics}"
    );
}

#[test]
fn shutdown_drains_in_flight_requests() {
    let data = tempfile::tempdir().unwrap();
    let kernel = Kernel::start(data.path());
    std::thread::scope(|scope| {
        // The spin plugin holds this request for its 300 ms limit.
        let in_flight = scope.spawn(|| kernel.get("/api/spin/"));
        std::thread::sleep(Duration::from_millis(100));
        kernel.send_sigterm();
        let reply = in_flight.join().unwrap();
        // The request finished with its real answer, not a reset connection.
        assert_eq!(reply.status, 504, "{}", reply.body);
    });
    assert!(kernel.wait(), "tessera did not exit cleanly");
}
