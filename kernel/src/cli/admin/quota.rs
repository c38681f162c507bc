//! `tessera admin quota <id>`: show a plugin's quota limits and usage, or
//! change some of its limits (`GET`/`PUT /admin/plugins/{id}/quota`).

use std::fmt::Display;
use std::str::FromStr;

use clap::Args;
use serde_json::{Map, Value, json};

use super::{Client, Connection};

/// A limit on the command line: a number, or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<T>(Option<T>);

impl<T: FromStr> FromStr for Limit<T>
where
    T::Err: Display,
{
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("none") {
            return Ok(Self(None));
        }
        text.parse()
            .map(|value| Self(Some(value)))
            .map_err(|error| format!("expected a whole number or `unlimited`: {error}"))
    }
}

/// Arguments of `tessera admin quota`.
#[derive(Debug, Args)]
pub struct QuotaArgs {
    /// Plugin id.
    id: String,
    /// Most bytes its storage may hold (keys plus values), or `unlimited`.
    #[arg(long, value_name = "BYTES")]
    storage_bytes: Option<Limit<u64>>,
    /// Most storage operations per second, or `unlimited`.
    #[arg(long, value_name = "N")]
    storage_ops_per_second: Option<Limit<u32>>,
    /// Most event publishes per second, or `unlimited`.
    #[arg(long, value_name = "N")]
    events_per_second: Option<Limit<u32>>,
    /// Most outbound HTTP calls per minute, or `unlimited`.
    #[arg(long, value_name = "N")]
    outbound_per_minute: Option<Limit<u32>>,
    /// Remove every limit first (the options above then set new ones).
    #[arg(long)]
    clear: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: Connection,
}

impl QuotaArgs {
    /// The limits to change, by key; empty when only showing.
    fn changes(&self) -> Vec<(&'static str, Value)> {
        let mut changes = Vec::new();
        let mut change = |key: &'static str, value: Option<Value>| {
            if let Some(value) = value {
                changes.push((key, value));
            }
        };
        change("storage-bytes", self.storage_bytes.map(|Limit(v)| json!(v)));
        change(
            "storage-ops-per-second",
            self.storage_ops_per_second.map(|Limit(v)| json!(v)),
        );
        change(
            "events-per-second",
            self.events_per_second.map(|Limit(v)| json!(v)),
        );
        change(
            "outbound-per-minute",
            self.outbound_per_minute.map(|Limit(v)| json!(v)),
        );
        changes
    }
}

/// Run `tessera admin quota`.
pub fn run(args: &QuotaArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.connection)?;
    let path = format!("/admin/plugins/{}/quota", args.id);
    let changes = args.changes();
    let reply = if changes.is_empty() && !args.clear {
        client.call("GET", &path, None)?
    } else {
        let current = client.call("GET", &path, None)?;
        let mut limits = match current.pointer("/quota/limits") {
            Some(Value::Object(limits)) if !args.clear => limits.clone(),
            _ => Map::new(),
        };
        for (key, value) in changes {
            limits.insert(key.to_owned(), value);
        }
        let body = serde_json::to_vec(&Value::Object(limits))?;
        client.call("PUT", &path, Some(body))?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
    } else {
        print_quota(&args.id, &reply);
    }
    Ok(())
}

fn print_quota(id: &str, reply: &Value) {
    let number = |pointer: &str| reply.pointer(pointer).and_then(Value::as_u64);
    let limit = |key: &str| {
        number(&format!("/quota/limits/{key}"))
            .map(|value| value.to_string())
            .unwrap_or_else(|| "unlimited".to_owned())
    };
    let used = |pointer: &str, unit: &str| match number(pointer) {
        Some(value) => format!("{value} {unit}"),
        None => "not measured yet".to_owned(),
    };
    println!("Quota of {id}");
    println!("{:<24} {:<12} {:<26} REFUSED", "LIMIT", "VALUE", "USED");
    for (key, usage) in [
        (
            "storage-bytes",
            used("/quota/usage/storage-bytes", "bytes stored"),
        ),
        (
            "storage-ops-per-second",
            used("/quota/usage/storage-operations", "operations"),
        ),
        (
            "events-per-second",
            used("/quota/usage/events-published", "published"),
        ),
        (
            "outbound-per-minute",
            used("/quota/usage/outbound-calls", "calls"),
        ),
    ] {
        println!(
            "{key:<24} {:<12} {usage:<26} {}",
            limit(key),
            number(&format!("/quota/usage/refusals/{key}")).unwrap_or(0)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_numbers_and_unlimited() {
        assert_eq!("64".parse::<Limit<u64>>(), Ok(Limit(Some(64))));
        assert_eq!("unlimited".parse::<Limit<u32>>(), Ok(Limit(None)));
        assert!("5000000000".parse::<Limit<u32>>().is_err());
        assert!("-1".parse::<Limit<u64>>().is_err());
    }
}
