//! The demo seed script: roles, users and a list of API calls, each made
//! as the administrator or as one of the users, whose answers may be
//! saved and used by later calls (`${name}`). Pure: parsing and
//! substitution.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A whole script (`examples/customer-portal/demo.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// What it sets up, printed when it ran.
    pub description: String,
    /// Plugin configuration files to write before the kernel loads the
    /// plugins, unless present: plugin id to `key = value` pairs.
    #[serde(default)]
    pub config: BTreeMap<String, BTreeMap<String, String>>,
    /// Roles to create (name to permissions).
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    /// Users to create.
    #[serde(default)]
    pub users: Vec<DemoUser>,
    /// The calls, in order.
    pub steps: Vec<Step>,
    /// Lines printed at the end (after substitution), e.g. where to look.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A demo user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUser {
    /// Login name.
    pub username: String,
    /// Password (demo data: printed).
    pub password: String,
    /// Name to show.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Roles granted.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// One API call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Who calls: `admin` (the admin token) or a demo user's name.
    #[serde(rename = "as", default = "admin")]
    pub caller: String,
    /// The method.
    pub method: String,
    /// The path, e.g. `/api/cms/types/page`.
    pub path: String,
    /// A JSON body.
    #[serde(default)]
    pub body: Option<Value>,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Values of the answer to keep: name to JSON pointer (`/id`).
    #[serde(default)]
    pub save: BTreeMap<String, String>,
    /// Statuses that count as success besides 2xx (e.g. 409 for "exists").
    #[serde(default)]
    pub also_ok: Vec<u16>,
}

fn admin() -> String {
    "admin".to_owned()
}

/// `text` with every `${name}` replaced by its saved value; an unknown
/// name is an error naming it.
pub fn substitute(text: &str, saved: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 2..).unwrap_or_default();
        let end = after
            .find('}')
            .ok_or_else(|| format!("`{text}`: `${{` without `}}`"))?;
        let name = after.get(..end).unwrap_or_default();
        let value = saved
            .get(name)
            .ok_or_else(|| format!("`{text}`: nothing was saved as `{name}`"))?;
        out.push_str(value);
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// `value` with [`substitute`] applied to every string in it.
pub fn substitute_json(value: &Value, saved: &BTreeMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(substitute(text, saved)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substitute_json(item, saved))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| Ok((key.clone(), substitute_json(item, saved)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn saved_values_are_substituted_and_unknown_ones_named() {
        let saved: BTreeMap<String, String> = [("tina".to_owned(), "u_7".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(
            substitute("/members/${tina}/x", &saved).unwrap(),
            "/members/u_7/x"
        );
        assert!(
            substitute("${nobody}", &saved)
                .unwrap_err()
                .contains("nobody")
        );
        assert!(substitute("${open", &saved).is_err());
        assert_eq!(
            substitute_json(&json!({"a": ["${tina}", 1]}), &saved).unwrap(),
            json!({"a": ["u_7", 1]})
        );
    }

    #[test]
    fn the_shipped_demo_script_parses() {
        let text = include_str!("../../../examples/customer-portal/demo.json");
        let script: Script = serde_json::from_str(text).unwrap();
        assert!(!script.steps.is_empty());
    }
}
