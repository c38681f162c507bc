//! Segment rules: conditions over attributes and behaviour combined with
//! `all`, `any` and `not`, parsed from JSON with the failing part named,
//! evaluated against a profile at a given time, and able to say when a
//! time-window answer can change next. Pure.
//!
//! ```json
//! {"all": [{"attribute": "country", "eq": "DE"},
//!          {"page": "/pricing", "min_count": 3, "within_days": 30},
//!          {"not": {"role": "staff"}}]}
//! ```

use serde_json::{Map, Value};

use crate::ids::{DAY_MS, day_of, day_start, is_event_name};
use crate::profile::{KEEP_DAYS, Profile};

/// The most conditions one rule may hold.
pub const MAX_NODES: usize = 64;
/// How deep `all`/`any`/`not` may nest.
pub const MAX_DEPTH: usize = 8;

/// How an attribute is tested.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Equal (ASCII case-insensitive).
    Eq(String),
    /// Not equal, or absent.
    Ne(String),
    /// One of these (ASCII case-insensitive).
    In(Vec<String>),
    /// Present (true) or absent (false).
    Exists(bool),
}

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Every one holds.
    All(Vec<Rule>),
    /// At least one holds.
    Any(Vec<Rule>),
    /// It does not hold.
    Not(Box<Rule>),
    /// An attribute (`country`, `language`, `company`, `role`, any other,
    /// and the built-ins `device` and `logged_in`).
    Attribute(String, Test),
    /// The user holds this kernel role.
    Role(String),
    /// Page `path` (or, with `prefix`, any page under it) viewed at least
    /// `min` times, within the last `days` days when given.
    Page {
        /// The path.
        path: String,
        /// Whether `path` is a prefix.
        prefix: bool,
        /// The least count.
        min: u64,
        /// The window in days (today included).
        days: Option<u32>,
    },
    /// Event `name` at least `min` times, within `days` days when given.
    Event {
        /// The event name.
        name: String,
        /// The least count.
        min: u64,
        /// The window in days (today included).
        days: Option<u32>,
    },
    /// Signed in within the last `days` days (exactly: `days` × 24 h).
    LastLogin(u32),
    /// An order (not cancelled or returned) of at least `amount` minor
    /// units in `currency`, within `days` days when given.
    Order {
        /// Minor units (cents).
        amount: u64,
        /// ISO currency code.
        currency: String,
        /// The window in days.
        days: Option<u32>,
    },
}

/// Why a rule was refused: where, and what is wrong.
pub type RuleError = (String, String);

fn err(path: &str, message: impl Into<String>) -> RuleError {
    (path.to_owned(), message.into())
}

/// Parses a rule; the error names the failing part (`rule.all[1].page`).
pub fn parse(value: &Value) -> Result<Rule, RuleError> {
    let mut nodes = 0;
    parse_at(value, "rule", 0, &mut nodes)
}

fn parse_at(value: &Value, path: &str, depth: usize, nodes: &mut usize) -> Result<Rule, RuleError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(err(
            path,
            format!("a rule holds at most {MAX_NODES} conditions"),
        ));
    }
    if depth > MAX_DEPTH {
        return Err(err(path, format!("rules nest at most {MAX_DEPTH} deep")));
    }
    let object = value
        .as_object()
        .ok_or_else(|| err(path, "a condition is a JSON object"))?;
    for combinator in ["all", "any"] {
        if let Some(list) = object.get(combinator) {
            only(object, &[combinator], path)?;
            let list = list
                .as_array()
                .filter(|list| !list.is_empty())
                .ok_or_else(|| err(path, format!("`{combinator}` is a non-empty list")))?;
            let rules = list
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    parse_at(item, &format!("{path}.{combinator}[{i}]"), depth + 1, nodes)
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if combinator == "all" {
                Rule::All(rules)
            } else {
                Rule::Any(rules)
            });
        }
    }
    if let Some(inner) = object.get("not") {
        only(object, &["not"], path)?;
        return Ok(Rule::Not(Box::new(parse_at(
            inner,
            &format!("{path}.not"),
            depth + 1,
            nodes,
        )?)));
    }
    if let Some(name) = object.get("attribute") {
        return attribute(object, name, path);
    }
    if let Some(role) = object.get("role") {
        only(object, &["role"], path)?;
        return Ok(Rule::Role(text(role, &format!("{path}.role"), 64)?));
    }
    if let Some(page) = object.get("page") {
        only(
            object,
            &["page", "prefix", "min_count", "within_days"],
            path,
        )?;
        let page_path = text(page, &format!("{path}.page"), 256)?;
        if !page_path.starts_with('/') {
            return Err(err(&format!("{path}.page"), "a page path starts with `/`"));
        }
        let prefix = match object.get("prefix") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(err(&format!("{path}.prefix"), "`prefix` is true or false")),
        };
        return Ok(Rule::Page {
            path: page_path,
            prefix,
            min: min_count(object, path)?,
            days: window(object, path)?,
        });
    }
    if let Some(name) = object.get("event") {
        only(object, &["event", "min_count", "within_days"], path)?;
        let name = text(name, &format!("{path}.event"), 64)?;
        if !is_event_name(&name) {
            return Err(err(
                &format!("{path}.event"),
                "event names are lower-case letters, digits, `.`, `-`, `_`",
            ));
        }
        return Ok(Rule::Event {
            name,
            min: min_count(object, path)?,
            days: window(object, path)?,
        });
    }
    if let Some(days) = object.get("last_login_within_days") {
        only(object, &["last_login_within_days"], path)?;
        return Ok(Rule::LastLogin(days_value(
            days,
            &format!("{path}.last_login_within_days"),
        )?));
    }
    if let Some(order) = object.get("order_over") {
        only(object, &["order_over", "within_days"], path)?;
        let at = format!("{path}.order_over");
        let order = order.as_object().ok_or_else(|| {
            err(
                &at,
                "`order_over` is {\"amount\": minor units, \"currency\": \"EUR\"}",
            )
        })?;
        only(order, &["amount", "currency"], &at)?;
        let amount = order.get("amount").and_then(Value::as_u64).ok_or_else(|| {
            err(
                &format!("{at}.amount"),
                "a whole, non-negative number of minor units (cents)",
            )
        })?;
        let currency = text(
            order.get("currency").unwrap_or(&Value::Null),
            &format!("{at}.currency"),
            3,
        )?;
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(err(
                &format!("{at}.currency"),
                "a three-letter upper-case ISO code",
            ));
        }
        return Ok(Rule::Order {
            amount,
            currency,
            days: window(object, path)?,
        });
    }
    Err(err(
        path,
        "expected one of all, any, not, attribute, role, page, event, last_login_within_days, order_over",
    ))
}

fn only(object: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), RuleError> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(err(
            path,
            format!("unexpected `{key}` here (allowed: {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn text(value: &Value, path: &str, max: usize) -> Result<String, RuleError> {
    match value.as_str() {
        Some(text) if !text.trim().is_empty() && text.len() <= max => Ok(text.trim().to_owned()),
        _ => Err(err(
            path,
            format!("a non-empty string of at most {max} bytes"),
        )),
    }
}

fn attribute(object: &Map<String, Value>, name: &Value, path: &str) -> Result<Rule, RuleError> {
    let name = text(name, &format!("{path}.attribute"), 64)?;
    let tests: Vec<&str> = ["eq", "ne", "in", "exists"]
        .into_iter()
        .filter(|test| object.contains_key(*test))
        .collect();
    only(object, &["attribute", "eq", "ne", "in", "exists"], path)?;
    let [test] = tests.as_slice() else {
        return Err(err(
            path,
            "an attribute condition has exactly one of eq, ne, in, exists",
        ));
    };
    let at = format!("{path}.{test}");
    let value = object.get(*test).unwrap_or(&Value::Null);
    let test = match *test {
        "eq" => Test::Eq(text(value, &at, 256)?),
        "ne" => Test::Ne(text(value, &at, 256)?),
        "in" => {
            let list = value
                .as_array()
                .filter(|list| !list.is_empty() && list.len() <= 100)
                .ok_or_else(|| err(&at, "a list of 1 to 100 strings"))?;
            Test::In(
                list.iter()
                    .enumerate()
                    .map(|(i, item)| text(item, &format!("{at}[{i}]"), 256))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => Test::Exists(value.as_bool().ok_or_else(|| err(&at, "true or false"))?),
    };
    Ok(Rule::Attribute(name, test))
}

fn min_count(object: &Map<String, Value>, path: &str) -> Result<u64, RuleError> {
    match object.get("min_count") {
        None => Ok(1),
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                err(
                    &format!("{path}.min_count"),
                    "a whole number from 1 to 1000000",
                )
            }),
    }
}

fn window(object: &Map<String, Value>, path: &str) -> Result<Option<u32>, RuleError> {
    object
        .get("within_days")
        .map(|value| days_value(value, &format!("{path}.within_days")))
        .transpose()
}

fn days_value(value: &Value, path: &str) -> Result<u32, RuleError> {
    value
        .as_u64()
        .filter(|days| (1..=u64::from(KEEP_DAYS)).contains(days))
        .and_then(|days| u32::try_from(days).ok())
        .ok_or_else(|| {
            err(
                path,
                format!("a whole number of days from 1 to {KEEP_DAYS}"),
            )
        })
}

/// Whether `rule` holds for `profile` at `now` (ms).
pub fn holds(rule: &Rule, profile: &Profile, now: u64) -> bool {
    let today = day_of(now);
    match rule {
        Rule::All(rules) => rules.iter().all(|rule| holds(rule, profile, now)),
        Rule::Any(rules) => rules.iter().any(|rule| holds(rule, profile, now)),
        Rule::Not(rule) => !holds(rule, profile, now),
        Rule::Attribute(name, test) => {
            let value = attribute_value(profile, name);
            match test {
                Test::Eq(expected) => value.is_some_and(|v| v.eq_ignore_ascii_case(expected)),
                Test::Ne(expected) => !value.is_some_and(|v| v.eq_ignore_ascii_case(expected)),
                Test::In(list) => {
                    value.is_some_and(|v| list.iter().any(|e| v.eq_ignore_ascii_case(e)))
                }
                Test::Exists(wanted) => value.is_some() == *wanted,
            }
        }
        Rule::Role(role) => profile.roles.iter().any(|held| held == role),
        Rule::Page {
            path,
            prefix,
            min,
            days,
        } => {
            let counted: u64 = profile
                .pages
                .iter()
                .filter(|(page, _)| {
                    if *prefix {
                        page.starts_with(path.as_str())
                    } else {
                        *page == path
                    }
                })
                .map(|(_, counter)| match days {
                    Some(days) => counter.within(today, *days),
                    None => counter.total,
                })
                .sum();
            counted >= *min
        }
        Rule::Event { name, min, days } => profile.events.get(name).is_some_and(|counter| {
            let counted = match days {
                Some(days) => counter.within(today, *days),
                None => counter.total,
            };
            counted >= *min
        }),
        Rule::LastLogin(days) => profile
            .last_login
            .is_some_and(|at| at <= now && now - at < u64::from(*days) * DAY_MS),
        Rule::Order {
            amount,
            currency,
            days,
        } => profile.orders.values().any(|order| {
            order.counts()
                && order.total >= *amount
                && order.currency == *currency
                && days.is_none_or(|days| order.at.saturating_add(u64::from(days) * DAY_MS) > now)
        }),
    }
}

fn attribute_value<'a>(profile: &'a Profile, name: &str) -> Option<&'a str> {
    match name {
        "device" => profile.device.as_deref(),
        "logged_in" => Some(if profile.user_id.is_some() {
            "true"
        } else {
            "false"
        }),
        _ => profile.attributes.get(name).map(String::as_str),
    }
}

/// The next moment after `now` at which the answer of `rule` for `profile`
/// can change without new activity (a day leaving a window, a login
/// growing old), or `None` when only new activity can change it.
pub fn next_change(rule: &Rule, profile: &Profile, now: u64) -> Option<u64> {
    let today = day_of(now);
    match rule {
        Rule::All(rules) | Rule::Any(rules) => rules
            .iter()
            .filter_map(|rule| next_change(rule, profile, now))
            .min(),
        Rule::Not(rule) => next_change(rule, profile, now),
        Rule::Attribute(..) | Rule::Role(_) => None,
        Rule::Page {
            path,
            prefix,
            days: Some(days),
            ..
        } => profile
            .pages
            .iter()
            .filter(|(page, _)| {
                if *prefix {
                    page.starts_with(path.as_str())
                } else {
                    *page == path
                }
            })
            .filter_map(|(_, counter)| counter.oldest_within(today, *days))
            .min()
            .map(|oldest| day_start(oldest.saturating_add(*days))),
        Rule::Event {
            name,
            days: Some(days),
            ..
        } => profile
            .events
            .get(name)
            .and_then(|counter| counter.oldest_within(today, *days))
            .map(|oldest| day_start(oldest.saturating_add(*days))),
        Rule::Page { .. } | Rule::Event { .. } => None,
        Rule::LastLogin(days) => profile
            .last_login
            .map(|at| at.saturating_add(u64::from(*days) * DAY_MS))
            .filter(|end| *end > now),
        Rule::Order {
            days: Some(days), ..
        } => profile
            .orders
            .values()
            .map(|order| order.at.saturating_add(u64::from(*days) * DAY_MS))
            .filter(|end| *end > now)
            .min(),
        Rule::Order { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Order;
    use serde_json::json;

    const NOW: u64 = 20_000 * DAY_MS + 3_600_000;

    fn rule(value: Value) -> Rule {
        parse(&value).unwrap()
    }

    fn refused(value: Value) -> RuleError {
        parse(&value).unwrap_err()
    }

    #[test]
    fn the_issue_examples_parse_and_hold() {
        let mut profile = Profile::new("u:ada", NOW - 40 * DAY_MS);
        profile.user_id = Some("ada".into());
        profile.attributes.insert("country".into(), "DE".into());
        profile
            .attributes
            .insert("role".into(), "technical-buyer".into());
        profile.last_login = Some(NOW - 2 * DAY_MS);
        profile.record_order(
            "O1",
            Order {
                total: 150_000,
                currency: "EUR".into(),
                status: "paid".into(),
                at: NOW - DAY_MS,
            },
        );
        for _ in 0..3 {
            profile.view_page("/pricing", NOW, Value::Null);
        }
        let germany = rule(json!({"attribute": "country", "eq": "de"}));
        let pricing = rule(json!({"page": "/pricing", "min_count": 3, "within_days": 30}));
        let recent = rule(json!({"last_login_within_days": 7}));
        let big = rule(json!({"order_over": {"amount": 100_000, "currency": "EUR"}}));
        let tech = rule(json!({"attribute": "role", "in": ["technical-buyer", "engineer"]}));
        for rule in [&germany, &pricing, &recent, &big, &tech] {
            assert!(holds(rule, &profile, NOW), "{rule:?}");
        }
        let combined = rule(json!({"all": [
            {"attribute": "country", "eq": "DE"},
            {"any": [{"page": "/pricing", "min_count": 4}, {"last_login_within_days": 7}]},
            {"not": {"role": "staff"}}
        ]}));
        assert!(holds(&combined, &profile, NOW));
        profile.roles.push("staff".into());
        assert!(!holds(&combined, &profile, NOW));
        assert!(!holds(
            &rule(json!({"order_over": {"amount": 200_000, "currency": "EUR"}})),
            &profile,
            NOW
        ));
        assert!(!holds(
            &rule(json!({"order_over": {"amount": 1, "currency": "USD"}})),
            &profile,
            NOW
        ));
    }

    #[test]
    fn time_windows_expire_and_say_when() {
        let mut profile = Profile::new("u:ada", NOW);
        profile.last_login = Some(NOW - DAY_MS);
        let recent = rule(json!({"last_login_within_days": 7}));
        assert!(holds(&recent, &profile, NOW));
        let end = next_change(&recent, &profile, NOW).unwrap();
        assert_eq!(end, NOW + 6 * DAY_MS);
        assert!(holds(&recent, &profile, end - 1));
        assert!(!holds(&recent, &profile, end));
        assert_eq!(next_change(&recent, &profile, end), None);

        // Three visits today: in the segment for 30 days, then out.
        for _ in 0..3 {
            profile.view_page("/pricing", NOW, Value::Null);
        }
        let pricing = rule(json!({"page": "/pricing", "min_count": 3, "within_days": 30}));
        let leaves = next_change(&pricing, &profile, NOW).unwrap();
        assert_eq!(leaves, day_start(day_of(NOW) + 30));
        assert!(holds(&pricing, &profile, leaves - 1));
        assert!(!holds(&pricing, &profile, leaves));
        // `not` changes when its inner rule does.
        let not = rule(json!({"not": {"page": "/pricing", "min_count": 3, "within_days": 30}}));
        assert_eq!(next_change(&not, &profile, NOW), Some(leaves));
        assert_eq!(
            next_change(
                &rule(json!({"attribute": "country", "exists": true})),
                &profile,
                NOW
            ),
            None
        );
    }

    #[test]
    fn prefixes_events_and_builtins() {
        let mut profile = Profile::new("v:abcdefgh", NOW);
        profile.view_page("/docs/a", NOW, Value::Null);
        profile.view_page("/docs/b", NOW, Value::Null);
        profile.record_event("event", "signup", NOW, Value::Null);
        profile.device = Some("mobile".into());
        assert!(holds(
            &rule(json!({"page": "/docs/", "prefix": true, "min_count": 2})),
            &profile,
            NOW
        ));
        assert!(!holds(
            &rule(json!({"page": "/docs/", "min_count": 1})),
            &profile,
            NOW
        ));
        assert!(holds(
            &rule(json!({"event": "signup", "within_days": 1})),
            &profile,
            NOW
        ));
        assert!(holds(
            &rule(json!({"attribute": "device", "eq": "mobile"})),
            &profile,
            NOW
        ));
        assert!(holds(
            &rule(json!({"attribute": "logged_in", "eq": "false"})),
            &profile,
            NOW
        ));
        assert!(holds(
            &rule(json!({"attribute": "country", "ne": "DE"})),
            &profile,
            NOW
        ));
        assert!(holds(
            &rule(json!({"attribute": "country", "exists": false})),
            &profile,
            NOW
        ));
    }

    #[test]
    fn mistakes_name_their_place() {
        assert_eq!(
            refused(json!({"all": [{"page": "pricing"}]})).0,
            "rule.all[0].page"
        );
        assert_eq!(refused(json!({"all": []})).0, "rule");
        assert_eq!(
            refused(json!({"any": [{"not": {"bogus": 1}}]})).0,
            "rule.any[0].not"
        );
        assert_eq!(
            refused(json!({"page": "/p", "within_days": 365})).0,
            "rule.within_days"
        );
        assert_eq!(refused(json!({"attribute": "country"})).0, "rule");
        assert_eq!(
            refused(json!({"attribute": "country", "eq": "DE", "ne": "FR"})).0,
            "rule"
        );
        assert_eq!(
            refused(json!({"order_over": {"amount": 5, "currency": "euro"}})).0,
            "rule.order_over.currency"
        );
        assert_eq!(refused(json!({"event": "Sign Up"})).0, "rule.event");
        assert!(
            refused(json!({"role": "a", "page": "/x"}))
                .1
                .contains("unexpected")
        );
        let mut deep = json!({"role": "x"});
        for _ in 0..=MAX_DEPTH {
            deep = json!({"not": deep});
        }
        assert!(refused(deep).1.contains("nest"));
        let wide: Vec<Value> = (0..MAX_NODES).map(|_| json!({"role": "x"})).collect();
        assert!(refused(json!({"any": wide})).1.contains("at most"));
    }
}
