//! Identity end to end, against the real binary: bootstrap, accounts,
//! sessions with CSRF, the login rate limit, scoped tokens, roles checked
//! by the kernel and by a plugin, sites kept apart, password reset through
//! the event log, the second factor, locks, and the audit log of it all.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::{Value, json};
use support::{Kernel, Reply};

use support::ADMIN_PASSWORD;

/// A signed-in browser: its cookie header and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn get(&self, kernel: &Kernel, path: &str) -> Reply {
        kernel.call("GET", path, &[("cookie", &self.cookie)], None)
    }

    /// An unsafe request with the CSRF header, as a browser app sends it.
    fn send(&self, kernel: &Kernel, method: &str, path: &str, body: Value) -> Reply {
        let body = body.to_string();
        kernel.call(
            method,
            path,
            &[("cookie", &self.cookie), ("x-csrf-token", &self.csrf)],
            Some(&body),
        )
    }
}

fn login_at(kernel: &Kernel, prefix: &str, username: &str, password: &str) -> Reply {
    let body = json!({ "username": username, "password": password }).to_string();
    kernel.call("POST", &format!("{prefix}/auth/login"), &[], Some(&body))
}

fn session_of(reply: &Reply) -> Session {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cookie = reply
        .set_cookies
        .iter()
        .map(|cookie| cookie.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let session_cookie = reply
        .set_cookies
        .iter()
        .find(|cookie| cookie.starts_with("tessera_session="))
        .expect("a session cookie");
    assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
    assert!(session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    Session {
        cookie,
        csrf: reply.json()["csrf_token"].as_str().unwrap().to_owned(),
    }
}

fn login(kernel: &Kernel, username: &str, password: &str) -> Session {
    session_of(&login_at(kernel, "", username, password))
}

fn register_at(kernel: &Kernel, prefix: &str, username: &str) -> String {
    let body = json!({ "username": username, "password": format!("{username}-password") });
    let reply = kernel.call(
        "POST",
        &format!("{prefix}/auth/register"),
        &[],
        Some(&body.to_string()),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["user"]["id"].as_str().unwrap().to_owned()
}

fn audit_actions(kernel: &Kernel, site: &str) -> Vec<String> {
    let reply = kernel.admin_json("GET", &format!("/admin/audit?limit=1000&site={site}"), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap().to_owned())
        .collect()
}

fn make_editor(kernel: &Kernel, user_id: &str, site_query: &str, permissions: &[&str]) {
    let reply = kernel.admin_json(
        "PUT",
        &format!("/admin/roles/editor{site_query}"),
        Some(json!({ "description": "edits entries", "permissions": permissions })),
    );
    assert!([200, 201].contains(&reply.status), "{}", reply.body);
    let reply = kernel.admin_json(
        "PUT",
        &format!("/admin/users/{user_id}/roles/editor{site_query}"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn the_first_start_creates_an_administrator_with_a_password_shown_once() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::Kernel::start(data.path());
    let log = kernel.log();
    let password = log
        .lines()
        .find_map(|line| line.strip_prefix("Created administrator `admin` with password: "))
        .unwrap_or_else(|| panic!("no password printed:\n{log}"))
        .trim()
        .to_owned();
    assert!(password.len() >= 20, "{password}");
    assert!(!log.contains("argon2"), "no hash is ever printed");
    let session = login(&kernel, "admin", &password);
    let me = session.get(&kernel, "/auth/me");
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["user"]["roles"], json!(["administrator"]));
    assert_eq!(me.json()["site"], "default");
    // The token file is the administrator's API token.
    assert_eq!(kernel.admin_json("GET", "/admin/plugins", None).status, 200);
    kernel.terminate();

    let again = support::Kernel::start(data.path());
    assert!(
        !again.log().contains("Created administrator"),
        "{}",
        again.log()
    );
    let actions = audit_actions(&again, "default");
    for action in ["kernel.bootstrapped", "user.created", "login.succeeded"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[test]
fn register_log_in_use_protected_routes_and_log_out() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    let alice = register_at(&kernel, "", "alice");
    let session = login(&kernel, "alice", "alice-password");

    // The plugin sees who is calling.
    let whoami = session.get(&kernel, "/api/entries/whoami");
    assert_eq!(
        whoami.json()["user"]["username"],
        "alice",
        "{}",
        whoami.body
    );
    assert_eq!(whoami.json()["site"], "default");
    let anonymous = kernel.get("/api/entries/whoami");
    assert_eq!(anonymous.json()["user"], Value::Null);

    // Without a role: the plugin's own check and the kernel's route check
    // both refuse.
    let listed = session.get(&kernel, "/api/entries/entries");
    assert_eq!(listed.status, 403, "{}", listed.body);
    let created = session.send(
        &kernel,
        "POST",
        "/api/entries/entries",
        json!({"id": "a", "title": "A"}),
    );
    assert_eq!(created.status, 403, "{}", created.body);
    assert_eq!(created.error_code(), "forbidden");

    make_editor(&kernel, &alice, "", &["cms.entry.read", "cms.entry.write"]);
    // A cookie-authenticated write without the CSRF header is refused.
    let no_csrf = kernel.call(
        "POST",
        "/api/entries/entries",
        &[("cookie", &session.cookie)],
        Some(r#"{"id":"a","title":"A"}"#),
    );
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    assert_eq!(no_csrf.error_code(), "csrf_token_required");
    let created = session.send(
        &kernel,
        "POST",
        "/api/entries/entries",
        json!({"id": "a", "title": "A"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["author"], "alice");
    let listed = session.get(&kernel, "/api/entries/entries");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["entries"][0]["id"], "a");

    // Publishing needs cms.entry.publish, which editors lack: the kernel
    // refuses before the plugin runs.
    let published = session.send(&kernel, "POST", "/api/entries/entries/a/publish", json!({}));
    assert_eq!(published.status, 403, "{}", published.body);
    assert!(
        published.body.contains("cms.entry.publish"),
        "{}",
        published.body
    );
    let anonymous_write = kernel.post("/api/entries/entries", r#"{"id":"b","title":"B"}"#);
    assert_eq!(anonymous_write.status, 401, "{}", anonymous_write.body);
    // Through another plugin's `invoke`, the route rule still applies to
    // the original caller.
    let laundered = kernel.post("/api/snoop/invoke-entries", r#"{"id":"c","title":"C"}"#);
    assert_eq!(laundered.status, 401, "{}", laundered.body);
    let invoked = session.send(
        &kernel,
        "POST",
        "/api/snoop/invoke-entries",
        json!({"id": "d", "title": "D"}),
    );
    assert_eq!(invoked.status, 201, "{}", invoked.body);
    assert!(invoked.body.contains("alice"), "{}", invoked.body);

    let logout = session.send(&kernel, "POST", "/auth/logout", json!({}));
    assert_eq!(logout.status, 204, "{}", logout.body);
    assert_eq!(session.get(&kernel, "/auth/me").status, 401);
    assert_eq!(
        session.get(&kernel, "/api/entries/whoami").json()["user"],
        Value::Null
    );

    let actions = audit_actions(&kernel, "default");
    for action in [
        "user.registered",
        "login.succeeded",
        "role.created",
        "role.granted",
        "access.denied",
        "logout",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[test]
fn wrong_passwords_are_locked_out_by_the_rate_limit() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    register_at(&kernel, "", "mallory-target");
    for _ in 0..5 {
        let reply = login_at(&kernel, "", "mallory-target", "wrong password!");
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.error_code(), "invalid_credentials");
    }
    // Even the right password is refused now, with the time to wait.
    let refused = login_at(&kernel, "", "mallory-target", "mallory-target-password");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.error_code(), "too_many_attempts");
    let wait: u64 = refused.retry_after.as_deref().unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 15 * 60, "{wait}");
    // Another account is not affected by this account's lockout.
    let admin_login = login_at(&kernel, "", "admin", ADMIN_PASSWORD);
    assert_eq!(admin_login.status, 200, "{}", admin_login.body);
    let actions = audit_actions(&kernel, "default");
    assert_eq!(
        actions.iter().filter(|a| *a == "login.failed").count(),
        5,
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "login.throttled"),
        "{actions:?}"
    );
}

#[test]
fn tokens_are_scoped_and_never_hold_more_than_their_creator() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    let alice = register_at(&kernel, "", "alice");
    make_editor(&kernel, &alice, "", &["cms.entry.read", "cms.entry.write"]);
    let session = login(&kernel, "alice", "alice-password");

    let too_much = session.send(
        &kernel,
        "POST",
        "/auth/tokens",
        json!({ "name": "publisher", "scopes": ["cms.entry.publish"] }),
    );
    assert_eq!(too_much.status, 403, "{}", too_much.body);

    let reader = session.send(
        &kernel,
        "POST",
        "/auth/tokens",
        json!({ "name": "reader", "scopes": ["cms.entry.read"], "expires_in_secs": 3600 }),
    );
    assert_eq!(reader.status, 201, "{}", reader.body);
    let reader_token = reader.json()["token"].as_str().unwrap().to_owned();
    let reader_bearer = format!("Bearer {reader_token}");
    let listed = kernel.call(
        "GET",
        "/api/entries/entries",
        &[("authorization", &reader_bearer)],
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    // A read-scoped token cannot write, although its creator can.
    let write = kernel.call(
        "POST",
        "/api/entries/entries",
        &[("authorization", &reader_bearer)],
        Some(r#"{"id":"t","title":"T"}"#),
    );
    assert_eq!(write.status, 403, "{}", write.body);

    let writer = session.send(
        &kernel,
        "POST",
        "/auth/tokens",
        json!({ "name": "writer", "scopes": ["cms.entry.read", "cms.entry.write"] }),
    );
    assert_eq!(writer.status, 201, "{}", writer.body);
    let writer_bearer = format!("Bearer {}", writer.json()["token"].as_str().unwrap());
    let write = kernel.call(
        "POST",
        "/api/entries/entries",
        &[("authorization", &writer_bearer)],
        Some(r#"{"id":"t","title":"T"}"#),
    );
    assert_eq!(write.status, 201, "{}", write.body);
    // Listing shows tokens without their secrets.
    let tokens = session.get(&kernel, "/auth/tokens");
    assert_eq!(tokens.json()["tokens"].as_array().unwrap().len(), 2);
    assert!(!tokens.body.contains(&reader_token));

    // The creator loses the role: the token loses its reach with them.
    let revoked = kernel.admin_json(
        "DELETE",
        &format!("/admin/users/{alice}/roles/editor"),
        None,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let write = kernel.call(
        "POST",
        "/api/entries/entries",
        &[("authorization", &writer_bearer)],
        Some(r#"{"id":"u","title":"U"}"#),
    );
    assert_eq!(write.status, 403, "{}", write.body);

    // Revoked tokens are refused outright.
    let id = reader.json()["id"].as_str().unwrap().to_owned();
    let deleted = session.send(&kernel, "DELETE", &format!("/auth/tokens/{id}"), json!({}));
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let refused = kernel.call(
        "GET",
        "/api/entries/whoami",
        &[("authorization", &reader_bearer)],
        None,
    );
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.error_code(), "invalid_token");
    let actions = audit_actions(&kernel, "default");
    for action in ["token.created", "token.revoked", "role.revoked"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[test]
fn users_of_one_site_never_see_another_sites_data() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    let site = kernel.admin_json("PUT",
        "/admin/sites/partners",
        Some(
            json!({ "name": "Partner portal", "hosts": ["partners.localhost"], "registration": true }),
        ),
    );
    assert_eq!(site.status, 201, "{}", site.body);

    let carol = register_at(&kernel, "", "carol");
    let bob = register_at(&kernel, "/sites/partners", "bob");
    make_editor(&kernel, &carol, "", &["cms.entry.read", "cms.entry.write"]);
    make_editor(
        &kernel,
        &bob,
        "?site=partners",
        &["cms.entry.read", "cms.entry.write"],
    );

    let carol_session = login(&kernel, "carol", "carol-password");
    // Bob signs in through the partner portal's host name.
    let bob_login = kernel.call(
        "POST",
        "/auth/login",
        &[("host", "partners.localhost")],
        Some(r#"{"username":"bob","password":"bob-password"}"#),
    );
    let bob_session = session_of(&bob_login);
    assert_eq!(bob_login.json()["user"]["site"], "partners");
    // Bob's account does not exist on the default site.
    assert_eq!(login_at(&kernel, "", "bob", "bob-password").status, 401);

    let carol_entry = carol_session.send(
        &kernel,
        "POST",
        "/api/entries/entries",
        json!({"id": "a1", "title": "Default"}),
    );
    assert_eq!(carol_entry.status, 201, "{}", carol_entry.body);
    let bob_entry = kernel.call(
        "POST",
        "/api/entries/entries",
        &[
            ("host", "partners.localhost"),
            ("cookie", &bob_session.cookie),
            ("x-csrf-token", &bob_session.csrf),
        ],
        Some(r#"{"id":"b1","title":"Partners"}"#),
    );
    assert_eq!(bob_entry.status, 201, "{}", bob_entry.body);

    let bob_list = bob_session.get(&kernel, "/sites/partners/api/entries/entries");
    assert_eq!(bob_list.status, 200, "{}", bob_list.body);
    assert_eq!(bob_list.json()["site"], "partners");
    let ids = |reply: &Reply| -> Vec<String> {
        reply.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&bob_list), ["b1"]);
    let carol_list = carol_session.get(&kernel, "/api/entries/entries");
    assert_eq!(ids(&carol_list), ["a1"]);

    // A default-site session is nobody on the partner site.
    let crossing = carol_session.get(&kernel, "/sites/partners/api/entries/entries");
    assert_eq!(crossing.status, 401, "{}", crossing.body);
    // Nor do the partner site's users show up in the default site's list.
    let users = kernel.admin_json("GET", "/admin/users", None);
    assert!(!users.body.contains("\"bob\""), "{}", users.body);
    let partner_users = kernel.admin_json("GET", "/admin/users?site=partners", None);
    assert!(
        partner_users.body.contains("\"bob\""),
        "{}",
        partner_users.body
    );
    assert!(
        audit_actions(&kernel, "partners")
            .iter()
            .any(|a| a == "login.succeeded")
    );
}

#[test]
fn password_reset_works_once_through_the_event_log_and_only_to_configured_links() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    register_at(&kernel, "", "dave");
    let configured = kernel.admin_json(
        "PUT",
        "/admin/sites/default",
        Some(json!({ "registration": true, "link-urls": ["https://portal.example.com/reset"] })),
    );
    assert_eq!(configured.status, 200, "{}", configured.body);

    let elsewhere = kernel.post(
        "/auth/password-reset",
        r#"{"username":"dave","link_url":"https://evil.example.net/steal"}"#,
    );
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    // Unknown accounts get the same answer as known ones.
    assert_eq!(
        kernel
            .post("/auth/password-reset", r#"{"username":"nobody"}"#)
            .status,
        202
    );
    let requested = kernel.post("/auth/password-reset", r#"{"username":"dave"}"#);
    assert_eq!(requested.status, 202, "{}", requested.body);

    let events = kernel.admin_json(
        "GET",
        "/admin/events?topic=identity.password.reset-requested",
        None,
    );
    assert_eq!(events.status, 200, "{}", events.body);
    let event = &events.json()["events"][0];
    assert_eq!(event["payload"]["username"], "dave");
    let link = event["payload"]["link"].as_str().unwrap();
    assert!(
        link.starts_with("https://portal.example.com/reset?token="),
        "{link}"
    );
    let token = link.split("token=").nth(1).unwrap();

    let body = json!({ "token": token, "password": "dave-new-password" }).to_string();
    let reset = kernel.post("/auth/password-reset/confirm", &body);
    assert_eq!(reset.status, 204, "{}", reset.body);
    let again = kernel.post("/auth/password-reset/confirm", &body);
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(again.error_code(), "invalid_reset_token");
    assert_eq!(login_at(&kernel, "", "dave", "dave-password").status, 401);
    let session = login(&kernel, "dave", "dave-new-password");

    // Changing one's password ends the sessions opened before.
    let change = session.send(
        &kernel,
        "POST",
        "/auth/password",
        json!({ "current_password": "dave-new-password", "new_password": "dave-third-password" }),
    );
    assert_eq!(change.status, 204, "{}", change.body);
    assert_eq!(session.get(&kernel, "/auth/me").status, 401);
    login(&kernel, "dave", "dave-third-password");

    // An administrator invites a user: the one-time link lets them choose
    // a password.
    let invited = kernel.admin_json(
        "POST",
        "/admin/users",
        Some(json!({ "username": "ivy", "email": "ivy@example.com", "invite": true })),
    );
    assert_eq!(invited.status, 201, "{}", invited.body);
    let events = kernel.admin_json("GET", "/admin/events?topic=identity.user.invited", None);
    let link = events.json()["events"][0]["payload"]["link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        link.starts_with("https://portal.example.com/reset?token="),
        "{link}"
    );
    let token = link.split("token=").nth(1).unwrap();
    let body = json!({ "token": token, "password": "ivy-chosen-password" }).to_string();
    assert_eq!(
        kernel.post("/auth/password-reset/confirm", &body).status,
        204
    );
    login(&kernel, "ivy", "ivy-chosen-password");
}

#[test]
fn a_second_factor_and_an_admin_lock_guard_the_login() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    let erin = register_at(&kernel, "", "erin");
    let session = login(&kernel, "erin", "erin-password");
    let setup = session.send(&kernel, "POST", "/auth/totp/setup", json!({}));
    assert_eq!(setup.status, 200, "{}", setup.body);
    let secret = setup.json()["secret"].as_str().unwrap().to_owned();
    assert!(
        setup.json()["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    use tessera_kernel::identity::totp;
    // Codes of consecutive steps, so that each is fresh: a code works once.
    let step = totp::current_step();
    let code = totp::code_for_step(&secret, step).unwrap();
    let confirmed = session.send(
        &kernel,
        "POST",
        "/auth/totp/confirm",
        json!({ "code": code }),
    );
    assert_eq!(confirmed.status, 204, "{}", confirmed.body);

    let without = login_at(&kernel, "", "erin", "erin-password");
    assert_eq!(without.status, 401, "{}", without.body);
    assert_eq!(without.error_code(), "second_factor_required");
    let next = totp::code_for_step(&secret, step + 1).unwrap();
    let body = json!({ "username": "erin", "password": "erin-password", "totp": next }).to_string();
    let with = kernel.call("POST", "/auth/login", &[], Some(&body));
    assert_eq!(with.status, 200, "{}", with.body);
    let second = session_of(&with);
    // The same code again is a replay.
    let replay = kernel.call("POST", "/auth/login", &[], Some(&body));
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert_eq!(replay.error_code(), "invalid_second_factor");

    let locked = kernel.admin_json("POST", &format!("/admin/users/{erin}/lock"), None);
    assert_eq!(locked.status, 200, "{}", locked.body);
    assert_eq!(
        second.get(&kernel, "/auth/me").status,
        401,
        "the lock ends sessions"
    );
    let refused = kernel.call("POST", "/auth/login", &[], Some(&body));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.error_code(), "account_locked");
    let actions = audit_actions(&kernel, "default");
    for action in ["totp.enabled", "user.locked", "login.refused"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[test]
fn registration_can_be_turned_off_and_admin_apis_need_their_permission() {
    let data = tempfile::tempdir().unwrap();
    let kernel = support::start_with_admin(data.path());
    let frank = register_at(&kernel, "", "frank");
    let closed = kernel.admin_json(
        "PUT",
        "/admin/sites/default",
        Some(json!({ "registration": false })),
    );
    assert_eq!(closed.status, 200, "{}", closed.body);
    let refused = kernel.post(
        "/auth/register",
        r#"{"username":"grace","password":"grace-password"}"#,
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.error_code(), "registration_closed");

    let session = login(&kernel, "frank", "frank-password");
    for path in ["/admin/users", "/admin/plugins", "/admin/audit"] {
        let reply = session.get(&kernel, path);
        assert_eq!(reply.status, 403, "{path}: {}", reply.body);
    }
    assert_eq!(kernel.get("/admin/users").status, 401);
    // Roles may only grant permissions someone defines.
    let unknown = kernel.admin_json(
        "PUT",
        "/admin/roles/odd",
        Some(json!({ "permissions": ["nobody.defines.this"] })),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(unknown.error_code(), "unknown_permission");
    let permissions = kernel.admin_json("GET", "/admin/permissions", None);
    assert!(
        permissions.body.contains("cms.entry.publish"),
        "{}",
        permissions.body
    );
    assert!(
        permissions.body.contains("admin.plugins.manage"),
        "{}",
        permissions.body
    );
    // An administrator with the permission manages users.
    make_editor(&kernel, &frank, "", &["admin.users.manage"]);
    assert_eq!(session.get(&kernel, "/admin/users").status, 200);
}
