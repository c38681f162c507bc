//! `tessera role`: the roles of a running kernel's sites, through its
//! admin API (`/admin/roles...`, permission `admin.roles.manage`).

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, Connection, SiteArg, encode};
use super::output;

/// `tessera role ...`
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role, or replace the permissions of an existing one.
    ///
    /// `tessera role set editor cms.entry.read cms.entry.write --description
    /// "edits entries"`
    Set(SetArgs),
    /// List the roles of a site.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        connection: Connection,
    },
}

/// Arguments of `tessera role set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Role name: 1–64 lower-case letters, digits, `-` or `_`.
    name: String,
    /// Permissions the role grants: names (`cms.entry.publish`) or patterns
    /// (`cms.*`, `*`). They replace the role's current ones.
    #[arg(required = true, value_name = "PERMISSION")]
    permissions: Vec<String>,
    /// What the role is for (default: an existing role keeps its
    /// description).
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    #[command(flatten)]
    site: SiteArg,
    #[command(flatten)]
    connection: Connection,
}

/// Run a role command.
pub fn run(command: RoleCommand) -> anyhow::Result<()> {
    match command {
        RoleCommand::Set(args) => set(&args),
        RoleCommand::List {
            json,
            site,
            connection,
        } => {
            let reply = Client::new(&connection)?.call_json(
                "GET",
                &format!("/admin/roles{}", site.query()),
                None,
            )?;
            if json {
                output::println(&serde_json::to_string_pretty(&reply)?)
            } else {
                output::print(&table(&reply))
            }
        }
    }
}

fn set(args: &SetArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.connection)?;
    let description = match &args.description {
        Some(description) => description.clone(),
        None => {
            // The API replaces the whole role: keep what is not changed.
            let reply =
                client.call_json("GET", &format!("/admin/roles{}", args.site.query()), None)?;
            roles(&reply)
                .iter()
                .find(|role| role.get("name").and_then(Value::as_str) == Some(&args.name))
                .and_then(|role| role.get("description").and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned()
        }
    };
    let reply = client.call_json(
        "PUT",
        &format!("/admin/roles/{}{}", encode(&args.name), args.site.query()),
        Some(&json!({ "description": description, "permissions": args.permissions })),
    )?;
    let created = reply.get("created").and_then(Value::as_bool) == Some(true);
    println!(
        "{} role {}: {}",
        if created { "Created" } else { "Updated" },
        args.name,
        args.permissions.join(", ")
    );
    Ok(())
}

fn roles(reply: &Value) -> &[Value] {
    reply
        .get("roles")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The role list as a table.
fn table(reply: &Value) -> String {
    let roles = roles(reply);
    if roles.is_empty() {
        return "No roles.\n".to_owned();
    }
    let mut lines = format!("{:<20} {:<48} DESCRIPTION\n", "NAME", "PERMISSIONS");
    for role in roles {
        let permissions: Vec<&str> = role
            .get("permissions")
            .and_then(Value::as_array)
            .map(|permissions| permissions.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        lines.push_str(&format!(
            "{:<20} {:<48} {}\n",
            role.get("name").and_then(Value::as_str).unwrap_or("?"),
            permissions.join(","),
            role.get("description")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_print_as_a_table() {
        let reply = json!({ "roles": [
            { "name": "editor", "site": "default", "description": "edits", "permissions": ["cms.entry.read", "cms.entry.write"] },
        ]});
        let table = table(&reply);
        assert!(table.starts_with("NAME"), "{table}");
        assert!(
            table.contains("editor") && table.contains("cms.entry.read,cms.entry.write"),
            "{table}"
        );
        assert_eq!(super::table(&json!({ "roles": [] })), "No roles.\n");
    }
}
