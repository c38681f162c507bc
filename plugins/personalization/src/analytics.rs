//! Daily aggregates per segment: page views, unique visitors, conversions
//! and views per page. Each (day, segment) is split over a few shards so
//! that concurrent tracking requests rarely race for the same key; a read
//! sums the shards. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Shards per (day, segment).
pub const SHARDS: u64 = 8;
/// The most pages one shard counts; past it, pages seen once are dropped
/// first (the top of the list stays right).
pub const MAX_CONTENT: usize = 500;
/// The segment name the totals over everyone are kept under.
pub const EVERYONE: &str = "_all";

/// One shard's (or a sum's) counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Page views.
    #[serde(default)]
    pub page_views: u64,
    /// People seen for the first time that day.
    #[serde(default)]
    pub unique_visitors: u64,
    /// Conversion events.
    #[serde(default)]
    pub conversions: u64,
    /// Views per page path.
    #[serde(default)]
    pub content: BTreeMap<String, u64>,
    /// CMS entries published (from `cms.entry.published`; everyone only).
    #[serde(default)]
    pub content_published: u64,
}

/// What one request adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// Page views by path.
    pub views: BTreeMap<String, u64>,
    /// Whether the person is new today.
    pub new_visitor: bool,
    /// Conversions.
    pub conversions: u64,
    /// CMS entries published.
    pub content_published: u64,
}

impl Delta {
    /// Whether it adds nothing.
    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
            && !self.new_visitor
            && self.conversions == 0
            && self.content_published == 0
    }
}

impl Counts {
    /// Adds `delta`.
    pub fn add(&mut self, delta: &Delta) {
        for (path, views) in &delta.views {
            self.page_views = self.page_views.saturating_add(*views);
            let count = self.content.entry(path.clone()).or_insert(0);
            *count = count.saturating_add(*views);
        }
        self.unique_visitors = self
            .unique_visitors
            .saturating_add(u64::from(delta.new_visitor));
        self.conversions = self.conversions.saturating_add(delta.conversions);
        self.content_published = self
            .content_published
            .saturating_add(delta.content_published);
        while self.content.len() > MAX_CONTENT {
            let smallest = self
                .content
                .iter()
                .min_by_key(|(_, views)| **views)
                .map(|(path, _)| path.clone());
            match smallest {
                Some(path) => self.content.remove(&path),
                None => break,
            };
        }
    }

    /// Adds another shard.
    pub fn merge(&mut self, other: &Counts) {
        self.page_views = self.page_views.saturating_add(other.page_views);
        self.unique_visitors = self.unique_visitors.saturating_add(other.unique_visitors);
        self.conversions = self.conversions.saturating_add(other.conversions);
        self.content_published = self
            .content_published
            .saturating_add(other.content_published);
        for (path, views) in &other.content {
            let count = self.content.entry(path.clone()).or_insert(0);
            *count = count.saturating_add(*views);
        }
    }

    /// The `n` most viewed pages, most viewed first (ties by path).
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut pages: Vec<(String, u64)> = self
            .content
            .iter()
            .map(|(path, views)| (path.clone(), *views))
            .collect();
        pages.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        pages.truncate(n);
        pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_up_and_rank_pages() {
        let mut one = Counts::default();
        one.add(&Delta {
            views: [("/a".to_owned(), 2), ("/b".to_owned(), 1)]
                .into_iter()
                .collect(),
            new_visitor: true,
            conversions: 1,
            content_published: 0,
        });
        let mut two = Counts::default();
        two.add(&Delta {
            views: [("/b".to_owned(), 3)].into_iter().collect(),
            ..Delta::default()
        });
        one.merge(&two);
        assert_eq!(
            (one.page_views, one.unique_visitors, one.conversions),
            (6, 1, 1)
        );
        assert_eq!(one.top(1), [("/b".to_owned(), 4)]);
        assert!(Delta::default().is_empty());
    }

    #[test]
    fn content_stays_bounded() {
        let mut counts = Counts::default();
        counts.add(&Delta {
            views: [("/keep".to_owned(), 9)].into_iter().collect(),
            ..Delta::default()
        });
        for i in 0..MAX_CONTENT + 5 {
            counts.add(&Delta {
                views: [(format!("/p{i}"), 1)].into_iter().collect(),
                ..Delta::default()
            });
        }
        assert_eq!(counts.content.len(), MAX_CONTENT);
        assert_eq!(counts.top(1), [("/keep".to_owned(), 9)]);
    }
}
