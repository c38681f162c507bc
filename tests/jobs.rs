//! Scheduled jobs end to end, against the real binary: recurring jobs run
//! on schedule and never overlap, one-off jobs run once and survive a
//! `kill -9`, cron schedules run, bad schedules are refused, and admins
//! see every job.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::Kernel;

fn runs(kernel: &Kernel, name: &str) -> Vec<Value> {
    let reply = kernel.get(&format!("/api/ticker/runs/{name}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["runs"].as_array().unwrap().clone()
}

fn wait_runs(kernel: &Kernel, name: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = runs(kernel, name);
        if runs.len() >= count {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: only {} runs: {runs:#?}",
            runs.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn field(run: &Value, name: &str) -> u64 {
    run[name].as_u64().unwrap()
}

fn admin_jobs(kernel: &Kernel) -> Vec<Value> {
    let token = format!("Bearer {}", kernel.admin_token());
    let reply = kernel.call("GET", "/admin/jobs", &[("authorization", &token)], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["jobs"].as_array().unwrap().clone()
}

#[test]
fn a_recurring_job_runs_on_schedule_and_never_concurrently() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    assert_eq!(kernel.post("/api/ticker/every/tick/1000", "").status, 204);
    // `slow` takes 1.5 s but is due every second: runs must queue, not overlap.
    assert_eq!(kernel.post("/api/ticker/every/slow/1000", "").status, 204);

    let ticks = wait_runs(&kernel, "tick", 3);
    let starts: Vec<u64> = ticks.iter().map(|run| field(run, "started")).collect();
    for pair in starts.windows(2) {
        // On a one-second grid: never two runs in the same slot.
        assert!(pair[1] - pair[0] >= 900, "ticks too close: {starts:?}");
    }
    assert_eq!(ticks[0]["payload"], "every");

    let slow = wait_runs(&kernel, "slow", 3);
    for pair in slow.windows(2) {
        assert!(
            field(&pair[1], "started") >= field(&pair[0], "ended"),
            "overlapping runs: {slow:#?}"
        );
    }
    let listed = admin_jobs(&kernel);
    let slow_job = listed.iter().find(|job| job["name"] == "slow").unwrap();
    assert_eq!(slow_job["plugin"], "tessera.test.ticker");
    assert!(slow_job["runs"].as_u64().unwrap() >= 3, "{slow_job}");
    assert_eq!(slow_job["timing"]["kind"], "every");

    // Cancelled jobs stop.
    let cancelled = kernel.call("DELETE", "/api/ticker/jobs/tick", &[], None);
    assert_eq!(cancelled.json()["existed"], true);
    let count = runs(&kernel, "tick").len();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        runs(&kernel, "tick").len() <= count + 1,
        "a cancelled job kept running"
    );
    assert!(admin_jobs(&kernel).iter().all(|job| job["name"] != "tick"));
}

#[test]
fn a_one_off_job_runs_once_even_across_a_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    let scheduled = kernel.post("/api/ticker/at/once/1500", "");
    assert_eq!(scheduled.status, 200, "{}", scheduled.body);
    let at = scheduled.json()["at"].as_u64().unwrap();
    // The kernel dies before the job is due; the job is on disk.
    kernel.kill9();

    let kernel = support::start_with_admin(data.path());
    let runs_after = wait_runs(&kernel, "once", 1);
    assert!(field(&runs_after[0], "started") >= at, "{runs_after:#?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(runs(&kernel, "once").len(), 1, "a one-off job runs once");
    assert!(admin_jobs(&kernel).iter().all(|job| job["name"] != "once"));
}

#[test]
fn cron_jobs_run_and_bad_schedules_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    let too_fast = kernel.post("/api/ticker/every/fast/10", "");
    assert_eq!(too_fast.status, 400, "{}", too_fast.body);
    assert_eq!(too_fast.error_code(), "invalid_schedule");
    let bad_cron = kernel.post("/api/ticker/cron/nonsense", "every minute please");
    assert_eq!(bad_cron.status, 400, "{}", bad_cron.body);
    assert!(
        bad_cron.body.contains("cron expression"),
        "{}",
        bad_cron.body
    );

    // Every second, on the second.
    assert_eq!(
        kernel.post("/api/ticker/cron/second", "* * * * * *").status,
        204
    );
    let runs = wait_runs(&kernel, "second", 2);
    assert_eq!(runs[0]["payload"], "cron");
    // A failing job is counted and keeps its schedule.
    assert_eq!(kernel.post("/api/ticker/every/fail/1000", "").status, 204);
    wait_runs(&kernel, "fail", 2);
    let fail = admin_jobs(&kernel)
        .into_iter()
        .find(|job| job["name"] == "fail")
        .unwrap();
    assert!(fail["failures"].as_u64().unwrap() >= 1, "{fail}");
    assert_eq!(fail["last_run"]["outcome"], "failed", "{fail}");
    let metrics = kernel.get("/metrics").body;
    assert!(
        metrics
            .contains(r#"tessera_job_runs_total{plugin="tessera.test.ticker",outcome="failed"}"#),
        "{metrics}"
    );
    // Admins only.
    assert_eq!(kernel.get("/admin/jobs").status, 401);
}
