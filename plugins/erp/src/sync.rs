//! Pulling from the ERP: for each kind, pages of records changed since the
//! stored cursor (`GET {erp-url}/{orders|invoices}?cursor=..&limit=..`),
//! each page stored in one atomic batch **with** the cursor after it, so a
//! crash or a failure resumes exactly where the last stored page ended
//! and nothing is read twice into different states. Runs on a recurring
//! kernel job (`erp-sync/{site}`) and on demand (`POST /sync`).
//!
//! Every run leaves a [`Report`] per kind (`GET /sync`): what was read,
//! stored, skipped as invalid (with the reasons), which customers are not
//! mapped to an account, and the error that stopped it, if any; a failed
//! run also publishes `erp.sync.failed`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_sdk::outbound;
use tessera_sdk::prelude::*;
use tessera_sdk::storage::Operation;

use crate::records::{self, Kind, Page};
use crate::store::{self, root};

/// The prefix of the recurring sync jobs' names.
pub const JOB_PREFIX: &str = "erp-sync/";

/// How many invalid records a report names.
const MAX_REASONS: usize = 20;

/// The outcome of one run for one kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `orders` or `invoices`.
    pub kind: String,
    /// When it started (ms).
    pub started_at: u64,
    /// When it ended (ms).
    pub finished_at: u64,
    /// Pages read.
    pub pages: u32,
    /// Records read.
    pub read: u32,
    /// Records stored.
    pub stored: u32,
    /// Records skipped as invalid.
    pub invalid: u32,
    /// Why (the first few).
    pub reasons: Vec<String>,
    /// ERP customers seen without an account mapping.
    pub unmapped: Vec<String>,
    /// The cursor after the run.
    pub cursor: Option<String>,
    /// Whether more changes wait for the next run.
    pub more: bool,
    /// What stopped the run, if it failed.
    pub error: Option<String>,
}

fn number(name: &str, default: u64) -> u64 {
    config::get(name)
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(default)
}

/// The configured ERP base URL, without a trailing `/`.
fn base_url() -> Result<String, Error> {
    let url = config::get_or("erp-url", "");
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() {
        return Err(Error::new(
            409,
            "not_configured",
            "no ERP is configured: an administrator sets `erp-url` (and `erp-token`) in <data>/config/tessera.erp.toml",
        ));
    }
    Ok(url.to_owned())
}

/// Pulls every kind for `site`; the reports.
pub fn run(site: &str) -> Result<Vec<Report>, Error> {
    let base = base_url()?;
    let reports: Vec<Report> = Kind::ALL
        .into_iter()
        .map(|kind| pull(site, &base, kind))
        .collect();
    storage::set_json(&format!("{}status", root(site)), &reports)?;
    for report in &reports {
        let topic = if report.error.is_some() {
            "erp.sync.failed"
        } else {
            "erp.sync.completed"
        };
        let payload = json!({"site": site, "report": report});
        if let Err(error) = events::publish_json(topic, &payload) {
            log::warn(&format!("cannot announce the ERP sync: {error}"));
        }
    }
    Ok(reports)
}

fn pull(site: &str, base: &str, kind: Kind) -> Report {
    let mut report = Report {
        kind: kind.plural().to_owned(),
        started_at: jobs::now_ms(),
        ..Report::default()
    };
    let cursor_key = store::cursor_key(site, kind);
    let mut cursor: Option<String> = match storage::get_json(&cursor_key) {
        Ok(cursor) => cursor,
        Err(error) => {
            report.error = Some(error.to_string());
            return finish(report);
        }
    };
    let max_pages = number("max-pages-per-run", 20).max(1);
    let limit = number("page-size", 100).clamp(1, 1000);
    let token = config::get_or("erp-token", "");
    loop {
        let mut url = format!("{base}/{}?limit={limit}", kind.plural());
        if let Some(cursor) = &cursor {
            url.push_str("&cursor=");
            url.push_str(&percent_encode(cursor));
        }
        let authorization = format!("Bearer {token}");
        let headers: Vec<(&str, &str)> = if token.is_empty() {
            Vec::new()
        } else {
            vec![("authorization", authorization.as_str())]
        };
        let page: Page = match outbound::get_json(&url, &headers) {
            Ok(page) => page,
            Err(error) => {
                // The URL may carry the cursor, not credentials; still, name
                // the path only.
                report.error = Some(format!(
                    "GET {}/{}: {} ({})",
                    base,
                    kind.plural(),
                    error.message,
                    error.code
                ));
                break;
            }
        };
        report.pages += 1;
        let mut operations = Vec::new();
        for item in &page.items {
            report.read += 1;
            match records::parse(kind, item) {
                Ok(record) => {
                    match store::company_of(site, &record.customer) {
                        Ok(None) if !report.unmapped.contains(&record.customer) => {
                            report.unmapped.push(record.customer.clone());
                        }
                        _ => {}
                    }
                    match store::upsert(site, &record) {
                        Ok(more) => {
                            operations.extend(more);
                            report.stored += 1;
                        }
                        Err(error) => {
                            report.error = Some(error.to_string());
                            return finish(report);
                        }
                    }
                }
                Err(reason) => {
                    report.invalid += 1;
                    if report.reasons.len() < MAX_REASONS {
                        report.reasons.push(reason);
                    }
                }
            }
        }
        if let Some(next) = &page.cursor {
            cursor = Some(next.clone());
            match Operation::set_json(cursor_key.clone(), next) {
                Ok(operation) => operations.push(operation),
                Err(error) => {
                    report.error = Some(error.to_string());
                    return finish(report);
                }
            }
        }
        // The page and the cursor after it, together or not at all.
        if let Err(error) = write(&operations) {
            report.stored = report
                .stored
                .saturating_sub(u32::try_from(page.items.len()).unwrap_or(0));
            report.error = Some(error.to_string());
            break;
        }
        report.more = page.more;
        if !page.more || u64::from(report.pages) >= max_pages {
            break;
        }
    }
    report.cursor = cursor;
    finish(report)
}

fn finish(mut report: Report) -> Report {
    report.finished_at = jobs::now_ms();
    report
}

fn write(operations: &[Operation]) -> Result<(), Error> {
    if operations.len() > 1000 {
        return Err(Error::internal(
            "a page needs more than 1000 writes; lower `page-size`",
        ));
    }
    storage::batch(operations)
}

/// Percent-encodes a cursor for a query string.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Schedules the recurring pull of `site` (replacing an earlier schedule).
pub fn schedule(site: &str) -> Result<(), Error> {
    let interval = number("sync-interval-seconds", 300).max(60) * 1000;
    jobs::every(&format!("{JOB_PREFIX}{site}"), interval, site.as_bytes())
}

/// Whether the job `name` is a scheduled pull.
pub fn owns(name: &str) -> bool {
    name.starts_with(JOB_PREFIX)
}

/// Runs the scheduled pull of the site in `payload`.
pub fn run_job(payload: &[u8]) -> Result<(), String> {
    let site = String::from_utf8_lossy(payload).into_owned();
    let reports = run(&site).map_err(|error| error.to_string())?;
    match reports.iter().find_map(|report| report.error.clone()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The last run's reports of `site`.
pub fn status(site: &str) -> Result<Vec<Report>, Error> {
    Ok(storage::get_json(&format!("{}status", root(site)))?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_percent_encoded() {
        assert_eq!(
            percent_encode("2026-11-20T10:00:00Z/7"),
            "2026-11-20T10%3A00%3A00Z%2F7"
        );
    }
}
