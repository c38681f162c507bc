//! `tessera serve --demo`: demo data for a new user to see the platform
//! working in a minute. Before the plugins load, the script's plugin
//! configuration is written (unless present); once the kernel listens, the
//! script ([`script`], `examples/customer-portal/demo.json`, compiled in)
//! creates its roles and users and makes its API calls over loopback, as
//! the administrator or as those users, exactly as a client would. A
//! marker file (`<data>/demo-loaded`) makes it run once per data directory.

pub mod script;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use script::{Script, Step, substitute, substitute_json};

/// The demo script shipped with Tessera.
pub const SCRIPT: &str = include_str!("../../../examples/customer-portal/demo.json");

const MARKER: &str = "demo-loaded";

/// The shipped script, parsed.
pub fn shipped() -> anyhow::Result<Script> {
    serde_json::from_str(SCRIPT).context("the shipped demo script is invalid")
}

/// Writes the script's plugin configuration files that do not exist yet
/// (`<data>/config/<plugin>.toml`).
pub fn write_config(data: &Path, script: &Script) -> anyhow::Result<()> {
    let dir = data.join("config");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (plugin, values) in &script.config {
        let path = dir.join(format!("{plugin}.toml"));
        if path.exists() {
            continue;
        }
        let text: String = values
            .iter()
            .map(|(key, value)| format!("{key} = {}\n", toml_string(value)))
            .collect();
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn toml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A caller of the API: the admin token, or a user's session.
enum Credentials {
    Token(String),
    Session { cookie: String, csrf: String },
}

struct Client {
    agent: ureq::Agent,
    base: String,
}

/// An answer: status and JSON body (`null` when empty or not JSON).
struct Answer {
    status: u16,
    body: Value,
    cookies: Vec<String>,
}

impl Client {
    fn call(
        &self,
        who: &Credentials,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &BTreeMap<String, String>,
    ) -> anyhow::Result<Answer> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        match who {
            Credentials::Token(token) => {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            Credentials::Session { cookie, csrf } => {
                request = request
                    .header("cookie", cookie)
                    .header("x-csrf-token", csrf);
            }
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = match body {
            Some(body) => self.agent.run(
                request
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(body)?)?,
            ),
            None => self.agent.run(request.body(())?),
        };
        let mut response = response.with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.split(';').next())
            .map(str::to_owned)
            .collect();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            body,
            cookies,
        })
    }
}

/// What the demo set up, for the start-up banner.
pub struct Loaded {
    /// The script's description.
    pub description: String,
    /// Its users and passwords.
    pub users: Vec<(String, String)>,
    /// Its notes, substituted.
    pub notes: Vec<String>,
}

/// Runs `script` against the kernel at `address` with the admin `token`,
/// once per data directory. Blocking: call it off the async runtime.
pub fn load(
    data: &Path,
    address: SocketAddr,
    token: &str,
    script: &Script,
) -> anyhow::Result<Loaded> {
    let users = script
        .users
        .iter()
        .map(|user| (user.username.clone(), user.password.clone()))
        .collect();
    let marker = data.join(MARKER);
    let mut saved = BTreeMap::new();
    saved.insert("base".to_owned(), format!("http://{address}"));
    let substituted = |saved: &BTreeMap<String, String>| {
        script
            .notes
            .iter()
            .map(|note| substitute(note, saved).unwrap_or_else(|_| note.clone()))
            .collect::<Vec<_>>()
    };
    if marker.exists() {
        return Ok(Loaded {
            description: format!("{} (loaded earlier)", script.description),
            users,
            notes: substituted(&saved),
        });
    }
    let client = Client {
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into(),
        base: format!("http://{address}"),
    };
    let admin = Credentials::Token(token.to_owned());
    let none = BTreeMap::new();
    for (role, permissions) in &script.roles {
        let body = serde_json::json!({ "permissions": permissions });
        expect_ok(
            client.call(
                &admin,
                "PUT",
                &format!("/admin/roles/{role}"),
                Some(&body),
                &none,
            )?,
            &format!("creating role {role}"),
            &[],
        )?;
    }
    let mut sessions = BTreeMap::new();
    for user in &script.users {
        let body = serde_json::json!({
            "username": user.username,
            "password": user.password,
            "display_name": user.display_name,
            "roles": user.roles,
        });
        let created = expect_ok(
            client.call(&admin, "POST", "/admin/users", Some(&body), &none)?,
            &format!("creating user {}", user.username),
            &[],
        )?;
        if let Some(id) = created.body.pointer("/user/id").and_then(Value::as_str) {
            saved.insert(format!("user.{}", user.username), id.to_owned());
        }
        let login = serde_json::json!({"username": user.username, "password": user.password});
        let signed_in = expect_ok(
            client.call(&admin, "POST", "/auth/login", Some(&login), &none)?,
            &format!("signing in as {}", user.username),
            &[],
        )?;
        let csrf = signed_in
            .body
            .get("csrf_token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        sessions.insert(
            user.username.clone(),
            Credentials::Session {
                cookie: signed_in.cookies.join("; "),
                csrf,
            },
        );
    }
    for (index, step) in script.steps.iter().enumerate() {
        run_step(&client, &admin, &sessions, step, &mut saved)
            .with_context(|| format!("demo step {} ({} {})", index + 1, step.method, step.path))?;
    }
    std::fs::write(
        &marker,
        b"the demo data was loaded into this data directory\n",
    )
    .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(Loaded {
        description: script.description.clone(),
        users,
        notes: substituted(&saved),
    })
}

fn run_step(
    client: &Client,
    admin: &Credentials,
    sessions: &BTreeMap<String, Credentials>,
    step: &Step,
    saved: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let who = match step.caller.as_str() {
        "admin" => admin,
        user => sessions
            .get(user)
            .with_context(|| format!("`as`: `{user}` is not a demo user"))?,
    };
    let path = substitute(&step.path, saved).map_err(anyhow::Error::msg)?;
    let body = step
        .body
        .as_ref()
        .map(|body| substitute_json(body, saved))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let headers = step
        .headers
        .iter()
        .map(|(name, value)| Ok((name.clone(), substitute(value, saved)?)))
        .collect::<Result<BTreeMap<_, _>, String>>()
        .map_err(anyhow::Error::msg)?;
    let answer = expect_ok(
        client.call(who, &step.method, &path, body.as_ref(), &headers)?,
        "the call",
        &step.also_ok,
    )?;
    for (name, pointer) in &step.save {
        let value = answer.body.pointer(pointer).with_context(|| {
            format!("the answer has nothing at `{pointer}` to save as `{name}`")
        })?;
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        saved.insert(name.clone(), text);
    }
    Ok(())
}

fn expect_ok(answer: Answer, what: &str, also_ok: &[u16]) -> anyhow::Result<Answer> {
    if (200..300).contains(&answer.status) || also_ok.contains(&answer.status) {
        return Ok(answer);
    }
    bail!("{what} answered {}: {}", answer.status, answer.body)
}
