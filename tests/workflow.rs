//! The workflow plugin end to end, against the real binary: an
//! administrator defines a two-step approval, an author starts and submits
//! an instance, a reviewer finds it in their task inbox and approves it,
//! the action's event lands in the event log, and the history records
//! every step. Wrong roles, invalid transitions, unknown definitions and
//! anonymous callers get clear errors; concurrent transitions do not both
//! win; timers take their transition as `system`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::session::{Session, role};

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Kernel, Reply};

fn start(data: &std::path::Path) -> Kernel {
    support::start_with_plugins(
        data,
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[support::repo_root().join("plugins/workflow")],
    )
}

/// Registers `username`, grants it `role` (if any) and signs it in.
fn user(kernel: &Kernel, username: &str, role: Option<&str>) -> Session {
    Session::sign_up(kernel, username, role)
}

/// Draft → submitted (author) → approved (reviewer), publishing
/// `workflow.review.approved`; the reviewer may also send it back.
fn approval(description: &str) -> Value {
    json!({
        "name": "Two-step approval",
        "description": description,
        "initial": "draft",
        "states": [
            {"name": "draft"},
            {"name": "submitted"},
            {"name": "approved", "terminal": true}
        ],
        "transitions": [
            {"name": "submit", "from": "draft", "to": "submitted", "roles": ["author"]},
            {"name": "approve", "from": "submitted", "to": "approved", "roles": ["reviewer"]},
            {"name": "send-back", "from": "submitted", "to": "draft", "roles": ["reviewer"]}
        ],
        "actions": [{"on_enter": "approved", "publish": "workflow.review.approved"}]
    })
}

fn start_instance(kernel: &Kernel, author: &Session, id: &str) -> String {
    let started = author.post(
        kernel,
        "/api/workflow/instances",
        json!({"definition": "approval", "subject": {"type": "cms.entry", "id": id}, "data": {"title": id}}),
    );
    assert_eq!(started.status, 201, "{}", started.body);
    started.json()["id"].as_str().unwrap().to_owned()
}

fn transition(kernel: &Kernel, who: &Session, instance: &str, name: &str, comment: &str) -> Reply {
    who.post(
        kernel,
        &format!("/api/workflow/instances/{instance}/transitions/{name}"),
        json!({ "comment": comment }),
    )
}

fn setup(kernel: &Kernel) -> (Session, Session, Session) {
    role(
        kernel,
        "author",
        &["workflow.instance.start", "workflow.instance.read"],
    );
    role(kernel, "reviewer", &["workflow.instance.read"]);
    let ada = user(kernel, "ada", Some("author"));
    let rex = user(kernel, "rex", Some("reviewer"));
    let eve = user(kernel, "eve", None);
    (ada, rex, eve)
}

#[test]
fn a_two_step_approval_runs_through_the_http_api_with_the_right_roles() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    let (ada, rex, eve) = setup(&kernel);

    // Definitions: validated with the field named, versioned on every PUT.
    let mut broken = approval("v0");
    broken["transitions"][1]["to"] = json!("published");
    let refused = kernel.admin_json("PUT", "/api/workflow/definitions/approval", Some(broken));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.error_code(), "invalid_definition");
    assert!(
        refused.body.contains("transitions[1].to"),
        "{}",
        refused.body
    );
    let first = kernel.admin_json(
        "PUT",
        "/api/workflow/definitions/approval",
        Some(approval("v1")),
    );
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.json()["version"], 1);
    let second = kernel.admin_json(
        "PUT",
        "/api/workflow/definitions/approval",
        Some(approval("v2")),
    );
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json()["version"], 2);
    assert_eq!(second.json()["created_by"], "admin");
    let latest = ada.get(&kernel, "/api/workflow/definitions/approval");
    assert_eq!(latest.json()["version"], 2, "{}", latest.body);
    let v1 = ada.get(&kernel, "/api/workflow/definitions/approval/versions/1");
    assert_eq!(v1.json()["definition"]["description"], "v1", "{}", v1.body);
    let listed = ada.get(&kernel, "/api/workflow/definitions");
    assert_eq!(
        listed.json()["definitions"][0]["key"],
        "approval",
        "{}",
        listed.body
    );
    // Only managers define workflows.
    let denied = ada.post(&kernel, "/api/workflow/definitions/approval", approval("x"));
    assert_eq!(denied.status, 405, "PUT only: {}", denied.body);
    let denied = ada.send(
        &kernel,
        "PUT",
        "/api/workflow/definitions/approval",
        Some(approval("x")),
    );
    assert_eq!(denied.status, 403, "{}", denied.body);

    // The author starts an instance: it pins the latest version.
    let unknown = ada.post(
        &kernel,
        "/api/workflow/instances",
        json!({"definition": "nope", "subject": {"type": "cms.entry", "id": "42"}}),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.error_code(), "unknown_definition");
    let id = start_instance(&kernel, &ada, "42");
    let instance = ada
        .get(&kernel, &format!("/api/workflow/instances/{id}"))
        .json();
    assert_eq!(instance["state"], "draft");
    assert_eq!(instance["version"], 2);
    assert_eq!(instance["data"]["title"], "42");

    // An invalid transition names the allowed ones.
    let invalid = transition(&kernel, &ada, &id, "approve", "too early");
    assert_eq!(invalid.status, 409, "{}", invalid.body);
    assert_eq!(invalid.error_code(), "invalid_transition");
    assert!(
        invalid.body.contains("allowed from `draft`: submit"),
        "{}",
        invalid.body
    );

    let submitted = transition(&kernel, &ada, &id, "submit", "please review");
    assert_eq!(submitted.status, 200, "{}", submitted.body);
    assert_eq!(submitted.json()["state"], "submitted");

    // The reviewer's inbox has it; the author's does not.
    let tasks = rex.get(&kernel, "/api/workflow/tasks");
    assert_eq!(tasks.status, 200, "{}", tasks.body);
    let task = tasks.json()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["instance"] == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no task in {}", tasks.body));
    assert_eq!(task["state"], "submitted");
    assert_eq!(task["subject"], json!({"type": "cms.entry", "id": "42"}));
    let offered: Vec<_> = task["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(offered, [json!("approve"), json!("send-back")]);
    let ada_tasks = ada.get(&kernel, "/api/workflow/tasks").json();
    assert_eq!(ada_tasks["tasks"], json!([]), "{ada_tasks}");

    // Wrong role: 403 role_required; no role at all: the kernel refuses;
    // anonymous: 401.
    let wrong = transition(&kernel, &ada, &id, "approve", "I approve myself");
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert_eq!(wrong.error_code(), "role_required");
    assert!(wrong.body.contains("reviewer"), "{}", wrong.body);
    let outsider = transition(&kernel, &eve, &id, "approve", "me too");
    assert_eq!(outsider.status, 403, "{}", outsider.body);
    let outsider = eve.post(
        &kernel,
        "/api/workflow/instances",
        json!({"definition": "approval", "subject": {"type": "cms.entry", "id": "1"}}),
    );
    assert_eq!(outsider.status, 403, "{}", outsider.body);
    let anonymous = kernel.post(
        &format!("/api/workflow/instances/{id}/transitions/approve"),
        r#"{"comment":"hi"}"#,
    );
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(kernel.get("/api/workflow/tasks").status, 401);
    let missing = transition(&kernel, &rex, "999", "approve", "");
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(missing.error_code(), "unknown_instance");

    // The reviewer approves with a comment; the action publishes its event.
    let approved = transition(&kernel, &rex, &id, "approve", "ship it");
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.json()["state"], "approved");
    assert_eq!(approved.json()["completed"], true);
    assert!(
        approved.json().get("warnings").is_none(),
        "{}",
        approved.body
    );
    let events = kernel.admin_json("GET", "/admin/events?topic=workflow.", None);
    assert_eq!(events.status, 200, "{}", events.body);
    let events = events.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["topic"], "workflow.review.approved");
    let payload = &events[0]["payload"];
    assert_eq!(payload["instance"], id.as_str());
    assert_eq!(payload["definition"], "approval");
    assert_eq!(payload["version"], 2);
    assert_eq!(payload["subject"]["id"], "42");
    assert_eq!(payload["by"], "rex");
    assert_eq!(payload["site"], "default");
    assert_eq!(payload["comment"], "ship it");

    // The history has every step; the instance is no longer anybody's task.
    let instance = ada
        .get(&kernel, &format!("/api/workflow/instances/{id}"))
        .json();
    let steps: Vec<_> = instance["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["from"].clone(),
                s["to"].clone(),
                s["transition"].clone(),
                s["by"].clone(),
                s["comment"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                Value::Null,
                json!("draft"),
                Value::Null,
                json!("ada"),
                Value::Null
            ),
            (
                json!("draft"),
                json!("submitted"),
                json!("submit"),
                json!("ada"),
                json!("please review")
            ),
            (
                json!("submitted"),
                json!("approved"),
                json!("approve"),
                json!("rex"),
                json!("ship it")
            ),
        ]
    );
    assert!(
        instance["history"][2]["at"].as_u64().unwrap()
            >= instance["history"][1]["at"].as_u64().unwrap()
    );
    assert_eq!(
        rex.get(&kernel, "/api/workflow/tasks").json()["tasks"],
        json!([])
    );
    let again = transition(&kernel, &rex, &id, "approve", "");
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        again.body.contains("completed in `approved`"),
        "{}",
        again.body
    );

    // Instances of a subject.
    start_instance(&kernel, &ada, "43");
    let of_42 = ada.get(
        &kernel,
        "/api/workflow/instances?subject_type=cms.entry&subject_id=42",
    );
    let of_42 = of_42.json()["instances"].as_array().unwrap().clone();
    assert_eq!(of_42.len(), 1);
    assert_eq!(of_42[0]["id"], id.as_str());
    let all = ada.get(&kernel, "/api/workflow/instances").json();
    assert_eq!(all["instances"].as_array().unwrap().len(), 2);
}

#[test]
fn concurrent_transitions_do_not_both_win() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    let (ada, rex, _) = setup(&kernel);
    let defined = kernel.admin_json(
        "PUT",
        "/api/workflow/definitions/approval",
        Some(approval("")),
    );
    assert_eq!(defined.status, 201, "{}", defined.body);
    for round in 0..3 {
        let id = start_instance(&kernel, &ada, &format!("race-{round}"));
        assert_eq!(transition(&kernel, &ada, &id, "submit", "").status, 200);
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| transition(&kernel, &rex, &id, "approve", "a"));
            let b = scope.spawn(|| transition(&kernel, &rex, &id, "send-back", "b"));
            (a.join().unwrap(), b.join().unwrap())
        });
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{} / {}", a.body, b.body);
        let instance = rex
            .get(&kernel, &format!("/api/workflow/instances/{id}"))
            .json();
        assert_eq!(
            instance["history"].as_array().unwrap().len(),
            3,
            "{instance}"
        );
    }
}

#[test]
fn a_timer_takes_its_transition_as_system() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    let (ada, rex, _) = setup(&kernel);
    let mut definition = approval("");
    definition["states"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "escalated"}));
    definition["transitions"].as_array_mut().unwrap().extend([
        json!({"name": "escalate", "from": "submitted", "to": "escalated", "roles": []}),
        json!({"name": "decide", "from": "escalated", "to": "approved", "roles": ["reviewer"]}),
    ]);
    definition["timers"] =
        json!([{"state": "submitted", "after_secs": 1, "transition": "escalate"}]);
    definition["actions"] =
        json!([{"on_enter": "escalated", "publish": "workflow.review.escalated"}]);
    let defined = kernel.admin_json(
        "PUT",
        "/api/workflow/definitions/approval",
        Some(definition),
    );
    assert_eq!(defined.status, 201, "{}", defined.body);
    let id = start_instance(&kernel, &ada, "slow");
    let submitted = transition(&kernel, &ada, &id, "submit", "");
    assert_eq!(submitted.status, 200, "{}", submitted.body);
    assert!(
        submitted.json().get("warnings").is_none(),
        "the timer is set: {}",
        submitted.body
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let instance = loop {
        let instance = rex
            .get(&kernel, &format!("/api/workflow/instances/{id}"))
            .json();
        if instance["state"] == "escalated" {
            break instance;
        }
        assert!(
            Instant::now() < deadline,
            "never escalated: {instance}\n{}",
            kernel.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let step = &instance["history"][2];
    assert_eq!(
        (step["transition"].as_str(), step["by"].as_str()),
        (Some("escalate"), Some("system"))
    );
    let events = kernel.admin_json("GET", "/admin/events?topic=workflow.review.escalated", None);
    assert_eq!(
        events.json()["events"][0]["payload"]["by"],
        "system",
        "{}",
        events.body
    );
    let decided = transition(&kernel, &rex, &id, "decide", "finally");
    assert_eq!(decided.status, 200, "{}", decided.body);
}
