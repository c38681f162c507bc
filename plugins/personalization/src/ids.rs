//! Names and times: who a profile belongs to, which keys are well formed,
//! and days as the analytics and the rules count them (UTC). Pure.

use tessera_sdk::Error;

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// Whom a profile belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    /// A signed-in user, by user id.
    User(String),
    /// An anonymous visitor, by visitor id.
    Visitor(String),
}

impl Person {
    /// The profile id: `u:{user id}` or `v:{visitor id}`.
    pub fn pid(&self) -> String {
        match self {
            Person::User(id) => format!("u:{id}"),
            Person::Visitor(id) => format!("v:{id}"),
        }
    }

    /// The person a profile id names, if well formed.
    pub fn parse(pid: &str) -> Option<Person> {
        if let Some(id) = pid.strip_prefix("u:") {
            return is_id(id).then(|| Person::User(id.to_owned()));
        }
        let id = pid.strip_prefix("v:")?;
        is_visitor_id(id).then(|| Person::Visitor(id.to_owned()))
    }

    /// The bare id (user or visitor).
    pub fn id(&self) -> &str {
        match self {
            Person::User(id) | Person::Visitor(id) => id,
        }
    }
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether `id` is an acceptable visitor id: 8 to 64 letters, digits, `-`
/// or `_` (a UUID qualifies).
pub fn is_visitor_id(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// Whether `key` is a segment, experience or experiment key: 1 to 64
/// letters, digits, `-`, `_` or `.` (the CMS's rule for variant segments).
pub fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// 400 `invalid_key` unless `key` [`is_key`].
pub fn check_key(what: &str, key: &str) -> Result<(), Error> {
    if is_key(key) {
        Ok(())
    } else {
        Err(Error::new(
            400,
            "invalid_key",
            format!("`{key}` is not a {what} key (1-64 letters, digits, `-`, `_`, `.`)"),
        ))
    }
}

/// Whether `name` is a custom event name: 1 to 64 lower-case letters,
/// digits, `.`, `-` or `_`.
pub fn is_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

/// The day (days since 1970-01-01, UTC) of `ms`.
pub fn day_of(ms: u64) -> u32 {
    u32::try_from(ms / DAY_MS).unwrap_or(u32::MAX)
}

/// The first millisecond of `day`.
pub fn day_start(day: u32) -> u64 {
    u64::from(day) * DAY_MS
}

/// `day` as `YYYY-MM-DD`.
pub fn format_day(day: u32) -> String {
    // Howard Hinnant's civil_from_days.
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day a `YYYY-MM-DD` date names, if valid (1970 to 9999).
pub fn parse_day(text: &str) -> Option<u32> {
    let mut parts = text.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    // Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let day = u32::try_from(days).ok()?;
    // Reject 2026-02-31 and friends: the date must format back to itself.
    (d >= 1 && format_day(day) == text).then_some(day)
}

/// FNV-1a, 64 bits: stable across builds and platforms, for assignment
/// and sharding (not for secrets).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_round_trip_through_profile_ids() {
        let user = Person::User("u_42".into());
        assert_eq!(Person::parse(&user.pid()), Some(user));
        let visitor = Person::Visitor("0b7e4c1a-aaaa".into());
        assert_eq!(Person::parse(&visitor.pid()), Some(visitor));
        assert_eq!(Person::parse("v:short"), None);
        assert_eq!(Person::parse("x:whatever"), None);
        assert_eq!(Person::parse("u:a/b"), None);
    }

    #[test]
    fn keys_and_names_are_checked() {
        assert!(is_key("tech-buyer"));
        assert!(!is_key("tech buyer"));
        assert!(!is_key(&"k".repeat(65)));
        assert!(is_event_name("signup.done"));
        assert!(!is_event_name("SignUp"));
        assert!(is_visitor_id("8f14e45f-ceea-467a-9575-0123456789ab"));
        assert!(!is_visitor_id("short"));
        assert!(!is_visitor_id("has space in it"));
        assert_eq!(check_key("segment", "a b").unwrap_err().status, 400);
    }

    #[test]
    fn days_format_and_parse() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(parse_day("1970-01-01"), Some(0));
        let day = parse_day("2026-12-01").unwrap();
        assert_eq!(format_day(day), "2026-12-01");
        assert_eq!(
            parse_day("2024-02-29").map(format_day).unwrap(),
            "2024-02-29"
        );
        assert_eq!(parse_day("2026-02-31"), None);
        assert_eq!(parse_day("2026-13-01"), None);
        assert_eq!(parse_day("yesterday"), None);
        assert_eq!(day_of(day_start(day) + DAY_MS - 1), day);
    }
}
