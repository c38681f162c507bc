//! Signed-in users for end-to-end tests: register, grant a role, log in,
//! and call with the session cookie and CSRF token.

use serde_json::{Value, json};

use super::{Kernel, RawReply, Reply};

/// A signed-in browser: its user id, cookie header and CSRF token.
pub struct Session {
    /// The user's id.
    pub id: String,
    cookie: String,
    csrf: String,
}

impl Session {
    /// Registers `username`, grants it `role` when given, and signs it in.
    pub fn sign_up(kernel: &Kernel, username: &str, role: Option<&str>) -> Session {
        let password = format!("{username}-password");
        let body = json!({ "username": username, "password": password }).to_string();
        let registered = kernel.post("/auth/register", &body);
        assert_eq!(registered.status, 201, "{}", registered.body);
        let id = registered.json()["user"]["id"].as_str().unwrap().to_owned();
        if let Some(role) = role {
            let granted =
                kernel.admin_json("PUT", &format!("/admin/users/{id}/roles/{role}"), None);
            assert_eq!(granted.status, 200, "{}", granted.body);
        }
        let login = kernel.post("/auth/login", &body);
        assert_eq!(login.status, 200, "{}", login.body);
        let cookie = login
            .set_cookies
            .iter()
            .map(|cookie| cookie.split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        Session {
            id,
            cookie,
            csrf: login.json()["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    /// `method path` as this user, with a JSON `body`.
    pub fn send(&self, kernel: &Kernel, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|body| body.to_string());
        kernel.call(
            method,
            path,
            &[("cookie", &self.cookie), ("x-csrf-token", &self.csrf)],
            body.as_deref(),
        )
    }

    /// `method path` with raw bytes and exactly `headers` besides the
    /// session's.
    pub fn raw(
        &self,
        kernel: &Kernel,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> RawReply {
        let mut all = vec![
            ("cookie", self.cookie.as_str()),
            ("x-csrf-token", self.csrf.as_str()),
        ];
        all.extend_from_slice(headers);
        kernel.call_bytes(method, path, &all, body)
    }

    /// `GET path` as this user.
    pub fn get(&self, kernel: &Kernel, path: &str) -> Reply {
        self.send(kernel, "GET", path, None)
    }

    /// `POST path` as this user, with a JSON `body`.
    pub fn post(&self, kernel: &Kernel, path: &str, body: Value) -> Reply {
        self.send(kernel, "POST", path, Some(body))
    }
}

/// Creates (or replaces) role `name` with `permissions`.
pub fn role(kernel: &Kernel, name: &str, permissions: &[&str]) {
    let reply = kernel.admin_json(
        "PUT",
        &format!("/admin/roles/{name}"),
        Some(json!({ "permissions": permissions })),
    );
    assert!([200, 201].contains(&reply.status), "{}", reply.body);
}
