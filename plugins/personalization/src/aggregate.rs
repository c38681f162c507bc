//! Writing and reading the daily analytics: each tracking request adds its
//! page views, conversions and (once per person and day) a unique visitor
//! to the totals of everyone and of each segment the person is in.

use serde_json::Value;
use tessera_sdk::prelude::*;
use tessera_sdk::storage;

use crate::analytics::{Counts, Delta, EVERYONE, SHARDS};
use crate::ids::{check_key, day_of, fnv1a, format_day, parse_day};
use crate::profile::Profile;
use crate::store;

/// The longest range one analytics query may ask for, in days.
pub const MAX_RANGE_DAYS: u32 = 92;

/// Adds `delta` for `profile` on the day of `now` (`delta.new_visitor`
/// says whether this was the person's first page view of the day).
pub fn record(site: &str, profile: &Profile, now: u64, delta: Delta) -> Result<(), Error> {
    record_delta(site, now, &profile.id, &profile.segments, &delta)
}

/// Adds `delta` on the day of `now` to everyone's counts and those of
/// `segments`, in the shard of `pid`.
pub fn record_delta(
    site: &str,
    now: u64,
    pid: &str,
    segments: &[String],
    delta: &Delta,
) -> Result<(), Error> {
    if delta.is_empty() {
        return Ok(());
    }
    let day = day_of(now);
    let shard = fnv1a(pid.as_bytes()) % SHARDS;
    for segment in std::iter::once(EVERYONE).chain(segments.iter().map(String::as_str)) {
        storage::update_json(
            &store::day_key(site, day, segment, shard),
            |counts: Option<Counts>| {
                let mut counts = counts.unwrap_or_default();
                counts.add(delta);
                counts
            },
        )?;
    }
    Ok(())
}

/// Counts conversions from a server-side event for `profile`.
pub fn record_conversion(site: &str, profile: &Profile, now: u64) -> Result<(), Error> {
    record(
        site,
        profile,
        now,
        Delta {
            conversions: 1,
            ..Delta::default()
        },
    )
}

fn day_param(request: &Request, name: &str, default: u32) -> Result<u32, Error> {
    match request.query(name) {
        None => Ok(default),
        Some(text) => parse_day(&text).ok_or_else(|| {
            Error::new(
                400,
                "invalid_query",
                format!("`{name}` is a date: YYYY-MM-DD"),
            )
        }),
    }
}

/// `GET /analytics/daily?from=&to=&segment=&top=` (`cdp.analytics.read`):
/// per day, page views, unique visitors, conversions and the most viewed
/// pages, for everyone or one segment. At most 92 days; default the last 7.
pub fn daily(request: &Request, _: &Params) -> Result<Response, Error> {
    identity::require("cdp.analytics.read")?;
    let site = identity::current().site;
    let today = day_of(jobs::now_ms());
    let to = day_param(request, "to", today)?;
    let from = day_param(request, "from", to.saturating_sub(6))?;
    if from > to || to - from >= MAX_RANGE_DAYS {
        return Err(Error::new(
            400,
            "invalid_query",
            format!("`from` is on or before `to`, at most {MAX_RANGE_DAYS} days apart"),
        ));
    }
    let segment = request
        .query("segment")
        .unwrap_or_else(|| EVERYONE.to_owned());
    if segment != EVERYONE {
        check_key("segment", &segment)?;
    }
    let top = request
        .query("top")
        .map(|text| text.parse::<usize>().ok().filter(|n| (1..=100).contains(n)))
        .unwrap_or(Some(10))
        .ok_or_else(|| Error::new(400, "invalid_query", "`top` is 1 to 100"))?;
    let mut days = Vec::new();
    let mut total = Counts::default();
    for day in from..=to {
        let mut counts = Counts::default();
        for entry in storage::scan(&store::day_prefix(&site, day, &segment)) {
            let (_, value) = entry?;
            counts.merge(&serde_json::from_slice(&value)?);
        }
        total.merge(&counts);
        days.push(view(Some(day), &counts, top));
    }
    Ok(Response::ok_json(&json!({
        "segment": segment,
        "from": format_day(from),
        "to": format_day(to),
        "days": days,
        "total": view(None, &total, top),
    })))
}

fn view(day: Option<u32>, counts: &Counts, top: usize) -> Value {
    let mut value = json!({
        "page_views": counts.page_views,
        "unique_visitors": counts.unique_visitors,
        "conversions": counts.conversions,
        "content_published": counts.content_published,
        "top_content": counts.top(top).into_iter()
            .map(|(path, views)| json!({"path": path, "views": views}))
            .collect::<Vec<_>>(),
    });
    if let Some(day) = day {
        crate::fields::set(&mut value, "day", json!(format_day(day)));
    }
    value
}

/// Deletes the event marks of days before `today - 1`, at most `limit`;
/// returns how many.
pub fn forget_old_marks(site: &str, today: u32, limit: usize) -> Result<usize, Error> {
    let prefix = store::event_mark_prefix(site);
    let keep_from = format!("{prefix}{:06}", today.saturating_sub(1));
    let mut old = Vec::new();
    for entry in storage::scan(&prefix) {
        let (key, _) = entry?;
        if key >= keep_from || old.len() >= limit {
            break;
        }
        old.push(key);
    }
    for key in &old {
        storage::delete(key)?;
    }
    Ok(old.len())
}
