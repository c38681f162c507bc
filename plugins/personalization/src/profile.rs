//! One profile per person: identity attributes joined with behaviour
//! (pages visited and custom events counted per day, last login, device,
//! orders, experiment exposures) and the segments the person is in. Every
//! collection is bounded so a profile stays small whatever a client sends.
//! Pure: no kernel calls.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{DAY_MS, day_of};

/// How many days of daily counts a profile keeps (the longest rule window).
pub const KEEP_DAYS: u32 = 90;
/// The most distinct pages a profile counts.
pub const MAX_PAGES: usize = 200;
/// The most distinct custom events a profile counts.
pub const MAX_EVENTS: usize = 100;
/// The most orders a profile remembers.
pub const MAX_ORDERS: usize = 200;
/// The most recent activities a profile keeps, with their properties.
pub const MAX_RECENT: usize = 50;
/// The most visitor ids merged into one profile.
pub const MAX_VISITORS: usize = 20;
/// The most server-side event ids remembered to skip redeliveries.
pub const MAX_SEEN_EVENTS: usize = 64;

/// A count in total and per day (the last [`KEEP_DAYS`] days).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    /// Every occurrence ever.
    pub total: u64,
    /// `(day, count)` pairs, oldest first.
    #[serde(default)]
    pub days: Vec<(u32, u32)>,
}

impl Counter {
    /// Counts one occurrence on `day`, forgetting days older than
    /// [`KEEP_DAYS`].
    pub fn add(&mut self, day: u32, count: u32) {
        self.total = self.total.saturating_add(u64::from(count));
        match self.days.last_mut() {
            Some((last, n)) if *last == day => *n = n.saturating_add(count),
            _ => {
                self.days.push((day, count));
                self.days.sort_unstable_by_key(|(d, _)| *d);
            }
        }
        self.days.retain(|(d, _)| d.saturating_add(KEEP_DAYS) > day);
    }

    /// Occurrences on the `window` days ending with `today` (today
    /// included).
    pub fn within(&self, today: u32, window: u32) -> u64 {
        self.days
            .iter()
            .filter(|(d, _)| d.saturating_add(window) > today && *d <= today)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    /// The oldest day counted within `window` days of `today`.
    pub fn oldest_within(&self, today: u32, window: u32) -> Option<u32> {
        self.days
            .iter()
            .map(|(d, _)| *d)
            .find(|d| d.saturating_add(window) > today && *d <= today)
    }

    fn merge(&mut self, other: &Counter) {
        self.total = self.total.saturating_add(other.total);
        for (day, count) in &other.days {
            match self.days.iter_mut().find(|(d, _)| d == day) {
                Some((_, n)) => *n = n.saturating_add(*count),
                None => self.days.push((*day, *count)),
            }
        }
        self.days.sort_unstable_by_key(|(d, _)| *d);
    }

    fn last_day(&self) -> u32 {
        self.days.last().map(|(d, _)| *d).unwrap_or(0)
    }
}

/// An order, as the commerce plugin announced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The total in the currency's minor unit (cents).
    pub total: u64,
    /// ISO currency code.
    pub currency: String,
    /// The order's latest state (`placed`, `paid`, `cancelled`, ...).
    pub status: String,
    /// When it was placed (ms).
    pub at: u64,
}

impl Order {
    /// Whether the order counts as bought: not cancelled, returned or
    /// still waiting for approval.
    pub fn counts(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "cancelled" | "returned" | "pending-approval"
        )
    }
}

/// A person's part in an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// The variant they were assigned.
    pub variant: String,
    /// When they first saw it (ms).
    pub exposed_at: u64,
    /// When they first reached the experiment's goal after that (ms).
    #[serde(default)]
    pub converted_at: Option<u64>,
}

/// One recent activity, kept with its properties for the export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// `page`, `event` or a server-side topic.
    pub kind: String,
    /// The page path or the event name.
    pub name: String,
    /// When (ms).
    pub at: u64,
    /// What the client or the server attached.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub properties: Value,
}

/// The per-minute tracking budget of one person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// The minute (ms / 60 000).
    pub minute: u64,
    /// Events tracked in it.
    pub count: u32,
}

/// A person's profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `u:{user id}` or `v:{visitor id}`.
    pub id: String,
    /// The user, once known.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The user's login name, once known.
    #[serde(default)]
    pub username: Option<String>,
    /// The user's roles on the site, as of their last request.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Visitor ids merged into this profile.
    #[serde(default)]
    pub visitors: Vec<String>,
    /// Attributes: `country`, `language`, `company`, `role` and any other.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// When the profile was created (ms).
    #[serde(default)]
    pub created_at: u64,
    /// The last activity (ms).
    #[serde(default)]
    pub last_seen: u64,
    /// The last sign-in (ms).
    #[serde(default)]
    pub last_login: Option<u64>,
    /// `desktop`, `mobile`, `tablet` or `bot`, from the last user agent.
    #[serde(default)]
    pub device: Option<String>,
    /// Page views by path.
    #[serde(default)]
    pub pages: BTreeMap<String, Counter>,
    /// Custom and server-side events by name.
    #[serde(default)]
    pub events: BTreeMap<String, Counter>,
    /// Orders by order id.
    #[serde(default)]
    pub orders: BTreeMap<String, Order>,
    /// Experiments the person was exposed to, by experiment key.
    #[serde(default)]
    pub experiments: BTreeMap<String, Exposure>,
    /// The latest activities, oldest first.
    #[serde(default)]
    pub recent: Vec<Activity>,
    /// The segments the person is in, as last evaluated.
    #[serde(default)]
    pub segments: Vec<String>,
    /// When a time-window rule's answer can change next (ms).
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Server-side event ids already applied.
    #[serde(default)]
    pub seen_events: Vec<String>,
    /// The tracking budget.
    #[serde(default)]
    pub rate: Rate,
    /// Bumped on every change; orders membership writes.
    #[serde(default)]
    pub rev: u64,
}

/// What a profile's key holds: the profile, or the mark a merged visitor
/// leaves behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stored {
    /// The visitor was merged into this profile.
    Merged {
        /// The profile id it lives on in.
        merged_into: String,
    },
    /// A profile.
    Profile(Box<Profile>),
}

impl Profile {
    /// A new, empty profile with id `pid`.
    pub fn new(pid: &str, now: u64) -> Profile {
        Profile {
            id: pid.to_owned(),
            created_at: now,
            last_seen: now,
            ..Profile::default()
        }
    }

    /// Counts `count` events against the per-minute budget `limit`; false
    /// when it would exceed it (nothing counted then).
    pub fn take_budget(&mut self, now: u64, count: u32, limit: u32) -> bool {
        let minute = now / 60_000;
        if self.rate.minute != minute {
            self.rate = Rate { minute, count: 0 };
        }
        let after = self.rate.count.saturating_add(count);
        if after > limit {
            return false;
        }
        self.rate.count = after;
        true
    }

    /// Records a page view of `path`.
    pub fn view_page(&mut self, path: &str, now: u64, properties: Value) {
        count_in(&mut self.pages, path, now, MAX_PAGES);
        self.remember("page", path, now, properties);
    }

    /// Whether any page was viewed on `day` (the analytics count a person
    /// as a unique visitor of a day at their first page view of it).
    pub fn viewed_on(&self, day: u32) -> bool {
        self.pages.values().any(|counter| counter.last_day() == day)
    }

    /// When an anonymous visitor's profile is due for deletion: the end
    /// of the day `days` days after its last activity (whole days, so the
    /// moment moves once a day, not with every request); `None` for users,
    /// or when `days` is 0.
    pub fn retention_end(&self, days: u64) -> Option<u64> {
        (days > 0 && self.user_id.is_none() && self.id.starts_with("v:")).then(|| {
            let last_day = self.last_seen / DAY_MS;
            last_day
                .saturating_add(days)
                .saturating_add(1)
                .saturating_mul(DAY_MS)
        })
    }

    /// Records the custom or server-side event `name`.
    pub fn record_event(&mut self, kind: &str, name: &str, now: u64, properties: Value) {
        count_in(&mut self.events, name, now, MAX_EVENTS);
        self.remember(kind, name, now, properties);
    }

    /// Records or updates order `id`; the time of an order is kept from
    /// its first announcement.
    pub fn record_order(&mut self, id: &str, mut order: Order) {
        if let Some(known) = self.orders.get(id) {
            order.at = known.at;
        } else if self.orders.len() >= MAX_ORDERS {
            let oldest = self
                .orders
                .iter()
                .min_by_key(|(_, order)| order.at)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                self.orders.remove(&oldest);
            }
        }
        self.last_seen = self.last_seen.max(order.at);
        self.orders.insert(id.to_owned(), order);
    }

    /// Whether server-side event `id` was applied already; remembers it.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen_events.iter().any(|seen| seen == id) {
            return false;
        }
        self.seen_events.push(id.to_owned());
        let excess = self.seen_events.len().saturating_sub(MAX_SEEN_EVENTS);
        self.seen_events.drain(..excess);
        true
    }

    fn remember(&mut self, kind: &str, name: &str, now: u64, properties: Value) {
        self.last_seen = self.last_seen.max(now);
        self.recent.push(Activity {
            kind: kind.to_owned(),
            name: name.to_owned(),
            at: now,
            properties,
        });
        let excess = self.recent.len().saturating_sub(MAX_RECENT);
        self.recent.drain(..excess);
    }

    /// Folds an anonymous visitor's profile into this one: counts add up,
    /// orders and activities join, this profile's attributes and
    /// experiment assignments win over the visitor's.
    pub fn absorb(&mut self, visitor: &Profile) {
        for (path, counter) in &visitor.pages {
            self.pages.entry(path.clone()).or_default().merge(counter);
        }
        trim(&mut self.pages, MAX_PAGES);
        for (name, counter) in &visitor.events {
            self.events.entry(name.clone()).or_default().merge(counter);
        }
        trim(&mut self.events, MAX_EVENTS);
        for (id, order) in &visitor.orders {
            if !self.orders.contains_key(id) {
                self.record_order(id, order.clone());
            }
        }
        for (key, exposure) in &visitor.experiments {
            self.experiments
                .entry(key.clone())
                .or_insert_with(|| exposure.clone());
        }
        for (name, value) in &visitor.attributes {
            self.attributes
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        let visitor_id = visitor.id.strip_prefix("v:").unwrap_or(&visitor.id);
        for id in std::iter::once(visitor_id).chain(visitor.visitors.iter().map(String::as_str)) {
            if !self.visitors.iter().any(|known| known == id) && self.visitors.len() < MAX_VISITORS
            {
                self.visitors.push(id.to_owned());
            }
        }
        self.recent.extend(visitor.recent.iter().cloned());
        self.recent.sort_by_key(|activity| activity.at);
        let excess = self.recent.len().saturating_sub(MAX_RECENT);
        self.recent.drain(..excess);
        self.created_at = self.created_at.min(visitor.created_at);
        self.last_seen = self.last_seen.max(visitor.last_seen);
        if self.device.is_none() {
            self.device.clone_from(&visitor.device);
        }
    }

    /// The days with any page view, oldest first (for erasing markers).
    pub fn active_days(&self) -> Vec<u32> {
        let mut days: Vec<u32> = self
            .pages
            .values()
            .chain(self.events.values())
            .flat_map(|counter| counter.days.iter().map(|(d, _)| *d))
            .collect();
        days.push(day_of(self.last_seen));
        days.sort_unstable();
        days.dedup();
        days
    }
}

fn count_in(map: &mut BTreeMap<String, Counter>, name: &str, now: u64, max: usize) {
    if !map.contains_key(name) && map.len() >= max {
        // Forget the least recently, then least often, seen name.
        let evict = map
            .iter()
            .min_by_key(|(_, counter)| (counter.last_day(), counter.total))
            .map(|(name, _)| name.clone());
        if let Some(evict) = evict {
            map.remove(&evict);
        }
    }
    map.entry(name.to_owned()).or_default().add(day_of(now), 1);
}

fn trim(map: &mut BTreeMap<String, Counter>, max: usize) {
    while map.len() > max {
        let evict = map
            .iter()
            .min_by_key(|(_, counter)| (counter.last_day(), counter.total))
            .map(|(name, _)| name.clone());
        match evict {
            Some(evict) => {
                map.remove(&evict);
            }
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 20_000 * DAY_MS + 5_000;

    #[test]
    fn counters_keep_a_window_of_days() {
        let mut counter = Counter::default();
        counter.add(100, 1);
        counter.add(100, 1);
        counter.add(150, 1);
        assert_eq!(counter.total, 3);
        assert_eq!(counter.within(150, 30), 1);
        assert_eq!(counter.within(150, 51), 3);
        assert_eq!(counter.oldest_within(150, 51), Some(100));
        counter.add(100 + KEEP_DAYS, 1);
        assert_eq!(counter.days.first().map(|(d, _)| *d), Some(150));
        assert_eq!(counter.total, 4);
    }

    #[test]
    fn collections_stay_bounded() {
        let mut profile = Profile::new("v:abcdefgh", NOW);
        for i in 0..(MAX_PAGES + 10) {
            profile.view_page(&format!("/p/{i}"), NOW, Value::Null);
        }
        assert_eq!(profile.pages.len(), MAX_PAGES);
        assert!(profile.viewed_on(day_of(NOW)));
        assert!(!profile.viewed_on(day_of(NOW) + 1));
        assert_eq!(profile.recent.len(), MAX_RECENT);
        for i in 0..(MAX_SEEN_EVENTS + 5) {
            assert!(profile.first_time(&format!("e{i}")));
        }
        assert!(!profile.first_time(&format!("e{}", MAX_SEEN_EVENTS + 4)));
        assert_eq!(profile.seen_events.len(), MAX_SEEN_EVENTS);
    }

    #[test]
    fn only_anonymous_profiles_expire_after_their_last_activity() {
        let mut visitor = Profile::new("v:abcdefgh", NOW);
        let end = (u64::from(day_of(NOW)) + 31) * DAY_MS;
        assert_eq!(visitor.retention_end(30), Some(end));
        visitor.view_page("/", NOW + 5, Value::Null);
        assert_eq!(visitor.retention_end(30), Some(end));
        visitor.view_page("/", NOW + DAY_MS, Value::Null);
        assert_eq!(visitor.retention_end(30), Some(end + DAY_MS));
        assert_eq!(visitor.retention_end(0), None);
        let mut user = Profile::new("u:ada", NOW);
        user.user_id = Some("ada".into());
        assert_eq!(user.retention_end(30), None);
    }

    #[test]
    fn the_budget_refuses_past_the_limit_and_resets_each_minute() {
        let mut profile = Profile::new("v:abcdefgh", NOW);
        assert!(profile.take_budget(NOW, 3, 4));
        assert!(!profile.take_budget(NOW, 2, 4));
        assert!(profile.take_budget(NOW, 1, 4));
        assert!(profile.take_budget(NOW + 60_000, 4, 4));
    }

    #[test]
    fn a_visitor_is_absorbed_into_a_user() {
        let mut visitor = Profile::new("v:visitor-1", NOW - 10);
        visitor.view_page("/pricing", NOW, json!({"title": "Pricing"}));
        visitor.attributes.insert("country".into(), "DE".into());
        visitor
            .attributes
            .insert("company".into(), "Visitor Inc".into());
        visitor.experiments.insert(
            "cta".into(),
            Exposure {
                variant: "b".into(),
                exposed_at: NOW,
                converted_at: None,
            },
        );
        let mut user = Profile::new("u:ada", NOW);
        user.view_page("/pricing", NOW, Value::Null);
        user.attributes.insert("company".into(), "Acme".into());
        user.absorb(&visitor);
        assert_eq!(user.pages.get("/pricing").map(|c| c.total), Some(2));
        assert_eq!(
            user.attributes.get("country").map(String::as_str),
            Some("DE")
        );
        assert_eq!(
            user.attributes.get("company").map(String::as_str),
            Some("Acme")
        );
        assert_eq!(user.visitors, ["visitor-1"]);
        assert_eq!(
            user.experiments.get("cta").map(|e| e.variant.as_str()),
            Some("b")
        );
        assert_eq!(user.created_at, NOW - 10);
        assert_eq!(user.recent.len(), 2);
    }

    #[test]
    fn orders_keep_their_first_time_and_stop_counting_when_cancelled() {
        let mut profile = Profile::new("u:ada", NOW);
        let order = |status: &str, at| Order {
            total: 150_000,
            currency: "EUR".into(),
            status: status.into(),
            at,
        };
        profile.record_order("O1", order("placed", NOW));
        profile.record_order("O1", order("cancelled", NOW + 99));
        let stored = profile.orders.get("O1").unwrap();
        assert_eq!(stored.at, NOW);
        assert!(!stored.counts());
    }

    #[test]
    fn a_merge_mark_and_a_profile_are_told_apart() {
        let mark: Stored = serde_json::from_value(json!({"merged_into": "u:ada"})).unwrap();
        assert_eq!(
            mark,
            Stored::Merged {
                merged_into: "u:ada".into()
            }
        );
        let profile = Profile::new("v:abcdefgh", NOW);
        let stored: Stored =
            serde_json::from_value(serde_json::to_value(&profile).unwrap()).unwrap();
        assert_eq!(stored, Stored::Profile(Box::new(profile)));
    }
}
