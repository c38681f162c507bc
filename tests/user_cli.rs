//! `tessera user` and `tessera role` end to end: the real binary against a
//! real kernel, with the effects checked over HTTP (logins, roles the
//! kernel enforces, locks).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{Kernel, Reply};

/// What a `tessera` run printed.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Assert success and return stdout.
    fn ok(self) -> String {
        assert!(
            self.success,
            "tessera failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Assert failure and return stderr.
    fn failed(self) -> String {
        assert!(
            !self.success,
            "tessera should have failed\nstdout:\n{}",
            self.stdout
        );
        self.stderr
    }
}

/// Run `tessera <args> --url <kernel> --data <its data>` with `stdin` and
/// extra environment variables.
fn tessera(kernel: &Kernel, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(support::tessera());
    command
        .args(args)
        .arg("--url")
        .arg(&kernel.base)
        .arg("--data")
        .arg(&kernel.data)
        .env_remove("TESSERA_ADMIN_TOKEN")
        .env_remove("TESSERA_URL")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("run tessera");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn login_at(kernel: &Kernel, prefix: &str, username: &str, password: &str) -> Reply {
    let body = json!({ "username": username, "password": password }).to_string();
    kernel.call("POST", &format!("{prefix}/auth/login"), &[], Some(&body))
}

/// The cookie header of a successful login.
fn cookie_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .set_cookies
        .iter()
        .map(|cookie| cookie.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The user called `username` in `tessera user list --json`.
fn listed(kernel: &Kernel, username: &str, site: &[&str]) -> Value {
    let mut args = vec!["user", "list", "--json"];
    args.extend_from_slice(site);
    let list: Value = serde_json::from_str(&tessera(kernel, &args, None, &[]).ok()).unwrap();
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["username"] == username)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn users_are_added_granted_revoked_and_locked_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());

    let set = tessera(
        &kernel,
        &[
            "role",
            "set",
            "editor",
            "cms.entry.read",
            "cms.entry.write",
            "--description",
            "edits entries",
        ],
        None,
        &[],
    )
    .ok();
    assert!(set.contains("Created role editor"), "{set}");
    let roles: Value =
        serde_json::from_str(&tessera(&kernel, &["role", "list", "--json"], None, &[]).ok())
            .unwrap();
    let editor = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["name"] == "editor")
        .cloned()
        .unwrap();
    assert_eq!(
        editor["permissions"],
        json!(["cms.entry.read", "cms.entry.write"])
    );
    // Changing the permissions alone keeps the description.
    let updated = tessera(
        &kernel,
        &["role", "set", "editor", "cms.entry.read", "cms.entry.write"],
        None,
        &[],
    )
    .ok();
    assert!(updated.contains("Updated role editor"), "{updated}");
    let table = tessera(&kernel, &["role", "list"], None, &[]).ok();
    assert!(table.contains("edits entries"), "{table}");

    // The password comes from stdin; the newline echo adds is not part of it.
    let added = tessera(
        &kernel,
        &[
            "user",
            "add",
            "alice",
            "--password-stdin",
            "--email",
            "alice@example.com",
            "--display-name",
            "Alice",
        ],
        Some("alice-password-1\n"),
        &[],
    )
    .ok();
    assert!(added.contains("Created user alice"), "{added}");
    let cookie = cookie_of(&login_at(&kernel, "", "alice", "alice-password-1"));
    let entries = |cookie: &str| {
        kernel
            .call("GET", "/api/entries/entries", &[("cookie", cookie)], None)
            .status
    };
    assert_eq!(entries(&cookie), 403, "no role yet");

    let granted = tessera(&kernel, &["user", "grant", "alice", "editor"], None, &[]).ok();
    assert!(granted.contains("roles now: editor"), "{granted}");
    let alice = listed(&kernel, "alice", &[]);
    assert_eq!(alice["roles"], json!(["editor"]), "{alice}");
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["display_name"], "Alice");
    assert_eq!(alice["locked"], false);
    assert_eq!(
        entries(&cookie),
        200,
        "the kernel enforces the granted role"
    );
    let table = tessera(&kernel, &["user", "list"], None, &[]).ok();
    let line = table
        .lines()
        .find(|line| line.starts_with("alice "))
        .unwrap_or_else(|| panic!("alice in\n{table}"));
    assert!(line.contains(alice["id"].as_str().unwrap()), "{line}");
    assert!(line.contains("editor"), "{line}");
    assert!(
        table.lines().any(|line| line.starts_with("admin ")),
        "{table}"
    );

    let revoked = tessera(&kernel, &["user", "revoke", "alice", "editor"], None, &[]).ok();
    assert!(revoked.contains("roles now: -"), "{revoked}");
    assert_eq!(listed(&kernel, "alice", &[])["roles"], json!([]));
    assert_eq!(entries(&cookie), 403, "the revoked role grants nothing");

    tessera(&kernel, &["user", "lock", "alice"], None, &[]).ok();
    assert_eq!(listed(&kernel, "alice", &[])["locked"], true);
    let refused = login_at(&kernel, "", "alice", "alice-password-1");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.error_code(), "account_locked");
    let me = kernel.call("GET", "/auth/me", &[("cookie", &cookie)], None);
    assert_eq!(me.status, 401, "the lock ended the session: {}", me.body);
    tessera(&kernel, &["user", "unlock", "alice"], None, &[]).ok();
    cookie_of(&login_at(&kernel, "", "alice", "alice-password-1"));
}

#[test]
fn sites_passwords_from_the_environment_and_errors_with_hints() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    let token = format!("Bearer {}", kernel.admin_token());
    let site = kernel.call(
        "PUT",
        "/admin/sites/partners",
        &[("authorization", &token)],
        Some(r#"{"name":"Partner portal"}"#),
    );
    assert_eq!(site.status, 201, "{}", site.body);

    tessera(
        &kernel,
        &[
            "role",
            "set",
            "reader",
            "cms.entry.read",
            "--site",
            "partners",
        ],
        None,
        &[],
    )
    .ok();
    tessera(
        &kernel,
        &[
            "user",
            "add",
            "bob",
            "--password-env",
            "BOB_PASSWORD",
            "--role",
            "reader",
            "--site",
            "partners",
        ],
        None,
        &[("BOB_PASSWORD", "bob-password-1")],
    )
    .ok();
    let bob = login_at(&kernel, "/sites/partners", "bob", "bob-password-1");
    assert_eq!(bob.status, 200, "{}", bob.body);
    assert_eq!(bob.json()["user"]["roles"], json!(["reader"]));
    assert_eq!(bob.json()["user"]["site"], "partners");
    // Bob exists on the partner site only.
    assert_eq!(login_at(&kernel, "", "bob", "bob-password-1").status, 401);
    assert!(listed(&kernel, "bob", &[]).is_null());
    assert_eq!(
        listed(&kernel, "bob", &["--site", "partners"])["roles"],
        json!(["reader"])
    );

    // No password flag: refused before any request, saying why.
    let stderr = tessera(&kernel, &["user", "add", "carol"], None, &[]).failed();
    assert!(stderr.contains("--password-stdin"), "{stderr}");
    let help = tessera(&kernel, &["user", "add", "--help"], None, &[]).ok();
    assert!(help.contains("--password-env"), "{help}");
    assert!(!help.contains("--password <"), "{help}");

    // API errors show the kernel's message, its code and a hint.
    let stderr = tessera(
        &kernel,
        &[
            "user",
            "add",
            "bob",
            "--password-env",
            "BOB_PASSWORD",
            "--site",
            "partners",
        ],
        None,
        &[("BOB_PASSWORD", "bob-password-2")],
    )
    .failed();
    assert!(stderr.contains("username_taken"), "{stderr}");
    assert!(stderr.contains("hint: `tessera user list`"), "{stderr}");
    let stderr = tessera(&kernel, &["user", "grant", "nobody", "reader"], None, &[]).failed();
    assert!(stderr.contains("no user `nobody`"), "{stderr}");
    let stderr = tessera(
        &kernel,
        &["user", "grant", "bob", "publisher", "--site", "partners"],
        None,
        &[],
    )
    .failed();
    assert!(
        stderr.contains("role `publisher` does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("tessera role list"), "{stderr}");
    let stderr = tessera(
        &kernel,
        &["role", "set", "odd", "nobody.defines.this"],
        None,
        &[],
    )
    .failed();
    assert!(stderr.contains("unknown_permission"), "{stderr}");
    let stderr = tessera(
        &kernel,
        &["user", "list", "--token", "tst_not-a-token"],
        None,
        &[],
    )
    .failed();
    assert!(stderr.contains("invalid_token, HTTP 401"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
}
