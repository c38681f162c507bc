//! `tessera user`: the accounts of a running kernel's sites, through its
//! admin API (`/admin/users...`, permission `admin.users.manage`).

use std::io::Read;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, Connection, SiteArg, encode};
use super::output;

/// `tessera user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    ///
    /// The password is read from stdin or an environment variable, never
    /// from the command line (it would land in the shell history):
    /// `printf %s "$PW" | tessera user add alice --password-stdin --role
    /// editor`.
    Add(AddArgs),
    /// List the accounts of a site.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        connection: Connection,
    },
    /// Grant a role of the site to a user (`tessera role set` defines
    /// roles).
    Grant(RoleGrantArgs),
    /// Take a role away from a user.
    Revoke(RoleGrantArgs),
    /// Lock an account: no login, its sessions end and its API tokens stop
    /// working until it is unlocked.
    Lock(UserArgs),
    /// Unlock a locked account.
    Unlock(UserArgs),
}

/// Arguments of `tessera user add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Login name: 1–64 letters, digits, `.`, `_`, `-` or `@`.
    username: String,
    /// Read the password from stdin (up to the end of input; one trailing
    /// newline is dropped).
    #[arg(long, conflicts_with = "password_env")]
    password_stdin: bool,
    /// Read the password from the environment variable VAR.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// E-mail address (password-reset mail goes there).
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// Name to show (default: the username).
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
    /// Role of the site to grant at once; repeat for several.
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: Connection,
}

/// A user and one of the site's roles.
#[derive(Debug, Args)]
pub struct RoleGrantArgs {
    /// The user's login name.
    username: String,
    /// The role's name.
    role: String,
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: Connection,
}

/// One user of a site.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// The user's login name.
    username: String,
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: Connection,
}

/// Run a user command.
pub fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => add(&args),
        UserCommand::List {
            json,
            site,
            connection,
        } => {
            let reply = Client::new(&connection)?.call_json(
                "GET",
                &format!("/admin/users{}", site.query()),
                None,
            )?;
            if json {
                output::println(&serde_json::to_string_pretty(&reply)?)
            } else {
                output::print(&table(&reply))
            }
        }
        UserCommand::Grant(args) => {
            let user = change_role(&args, "PUT")?;
            println!(
                "Granted role {} to {} (roles now: {})",
                args.role,
                text(&user, "/username"),
                roles(&user)
            );
            Ok(())
        }
        UserCommand::Revoke(args) => {
            let user = change_role(&args, "DELETE")?;
            println!(
                "Revoked role {} from {} (roles now: {})",
                args.role,
                text(&user, "/username"),
                roles(&user)
            );
            Ok(())
        }
        UserCommand::Lock(args) => {
            let user = lock(&args, "lock")?;
            println!(
                "Locked {}: its sessions ended and its API tokens are suspended",
                text(&user, "/username")
            );
            Ok(())
        }
        UserCommand::Unlock(args) => {
            let user = lock(&args, "unlock")?;
            println!("Unlocked {}", text(&user, "/username"));
            Ok(())
        }
    }
}

fn add(args: &AddArgs) -> anyhow::Result<()> {
    let password = password(args)?;
    let mut body = json!({
        "username": args.username,
        "password": password,
        "roles": args.roles,
    });
    if let Some(object) = body.as_object_mut() {
        if let Some(email) = &args.email {
            object.insert("email".into(), json!(email));
        }
        if let Some(name) = &args.display_name {
            object.insert("display_name".into(), json!(name));
        }
    }
    let reply = Client::new(&args.connection)?.call_json(
        "POST",
        &format!("/admin/users{}", args.site.query()),
        Some(&body),
    )?;
    let user = reply.get("user").unwrap_or(&Value::Null);
    println!(
        "Created user {} (id {}) on site {}; roles: {}",
        text(user, "/username"),
        text(user, "/id"),
        text(user, "/site"),
        roles(user)
    );
    Ok(())
}

/// The password of `tessera user add`, from stdin or the environment.
fn password(args: &AddArgs) -> anyhow::Result<String> {
    if let Some(variable) = &args.password_env {
        return std::env::var(variable)
            .with_context(|| format!("cannot read the password from ${variable}"));
    }
    if !args.password_stdin {
        bail!(
            "no password given: pipe it in with --password-stdin, or name an environment variable holding it with --password-env VAR (a password is never taken as an argument: it would land in the shell history)"
        );
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the password from stdin")?;
    Ok(strip_newline(text))
}

/// `text` without one trailing `\n` or `\r\n` (what `echo` adds).
fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// The id of the user called `username` on the site, from the user list.
/// Usernames compare case-insensitively, as at login.
fn user_id(client: &Client, username: &str, site: &SiteArg) -> anyhow::Result<String> {
    let reply = client.call_json("GET", &format!("/admin/users{}", site.query()), None)?;
    let site_name = reply
        .get("site")
        .and_then(Value::as_str)
        .unwrap_or("default");
    users(&reply)
        .iter()
        .find(|user| {
            user.get("username")
                .and_then(Value::as_str)
                .is_some_and(|name| name.eq_ignore_ascii_case(username))
        })
        .and_then(|user| user.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "no user `{username}` on site `{site_name}`\nhint: `tessera user list{}` shows its users",
                site.flag()
            )
        })
}

fn change_role(args: &RoleGrantArgs, method: &str) -> anyhow::Result<Value> {
    let client = Client::new(&args.connection)?;
    let id = user_id(&client, &args.username, &args.site)?;
    let reply = client.call_json(
        method,
        &format!(
            "/admin/users/{}/roles/{}{}",
            encode(&id),
            encode(&args.role),
            args.site.query()
        ),
        None,
    )?;
    Ok(reply.get("user").cloned().unwrap_or(Value::Null))
}

fn lock(args: &UserArgs, action: &str) -> anyhow::Result<Value> {
    let client = Client::new(&args.connection)?;
    let id = user_id(&client, &args.username, &args.site)?;
    let reply = client.call_json(
        "POST",
        &format!("/admin/users/{}/{action}{}", encode(&id), args.site.query()),
        None,
    )?;
    Ok(reply.get("user").cloned().unwrap_or(Value::Null))
}

fn users(reply: &Value) -> &[Value] {
    reply
        .get("users")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The user list as a table.
fn table(reply: &Value) -> String {
    let users = users(reply);
    if users.is_empty() {
        return "No users.\n".to_owned();
    }
    let mut lines = format!(
        "{:<24} {:<18} {:<30} {:<7} SECOND FACTOR\n",
        "USERNAME", "ID", "ROLES", "LOCKED"
    );
    for user in users {
        let yes_no = |pointer: &str| {
            if user.pointer(pointer).and_then(Value::as_bool) == Some(true) {
                "yes"
            } else {
                "no"
            }
        };
        lines.push_str(&format!(
            "{:<24} {:<18} {:<30} {:<7} {}\n",
            text(user, "/username"),
            text(user, "/id"),
            roles(user),
            yes_no("/locked"),
            yes_no("/second_factor"),
        ));
    }
    lines
}

/// The roles of a user, comma-separated, or `-`.
fn roles(user: &Value) -> String {
    let roles: Vec<&str> = user
        .get("roles")
        .and_then(Value::as_array)
        .map(|roles| roles.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if roles.is_empty() {
        "-".to_owned()
    } else {
        roles.join(",")
    }
}

/// The string at `pointer` in `value`, or `?`.
fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(strip_newline("secret\n".into()), "secret");
        assert_eq!(strip_newline("secret\r\n".into()), "secret");
        assert_eq!(strip_newline("secret\n\n".into()), "secret\n");
        assert_eq!(strip_newline(" secret ".into()), " secret ");
    }

    #[test]
    fn users_print_as_a_table() {
        let reply = json!({ "users": [
            { "username": "alice", "id": "u1", "roles": ["editor", "viewer"], "locked": true, "second_factor": false },
            { "username": "bob", "id": "u2", "roles": [], "locked": false, "second_factor": true },
        ]});
        let table = table(&reply);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(
            lines
                .first()
                .is_some_and(|line| line.starts_with("USERNAME"))
        );
        assert!(table.contains("editor,viewer"), "{table}");
        assert!(
            lines
                .get(2)
                .is_some_and(|line| line.starts_with("bob") && line.ends_with("yes")),
            "{table}"
        );
        assert_eq!(super::table(&json!({ "users": [] })), "No users.\n");
    }
}
