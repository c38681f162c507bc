//! `GET`/`PUT /locales`: a site's locales and their fallback chains, and
//! `GET /delivery/locales` for delivery clients. Changing them re-indexes
//! the site's published entries (the field and search indexes hold one
//! view per locale) in the background through kernel jobs, a page at a
//! time: job `cms-reindex/{site}/{generation}/{page}`. Progress is stored
//! at `site/{site}/reindex`; a newer change starts a new generation and
//! the older chain stops at its next page.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_sdk::prelude::*;
use tessera_sdk::storage;

use crate::locales::{Locales, Settings, settings_key};
use crate::model::Published;
use crate::routes::caller;
use crate::store;

/// Published entries re-indexed per job run.
pub const REINDEX_PAGE: usize = 100;

/// The prefix of the re-index jobs' names.
const JOB_PREFIX: &str = "cms-reindex/";

/// Where a site's re-index stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reindex {
    /// Which change of the settings it follows.
    pub generation: u64,
    /// `running` or `done`.
    pub state: String,
    /// Entries re-indexed so far.
    pub indexed: u64,
    /// The last published key done, to go on after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

fn progress_key(site: &str) -> String {
    format!("{}reindex", store::root(site))
}

fn view(site: &str) -> Result<serde_json::Value, Error> {
    let locales = Locales::of_site(site);
    let reindex: Option<Reindex> = storage::get_json(&progress_key(site))?;
    let mut settings = serde_json::to_value(locales.settings())
        .map_err(|error| Error::internal(format!("cannot serialise the locales: {error}")))?;
    if let Some(object) = settings.as_object_mut() {
        object.insert(
            "chains".to_owned(),
            locales
                .all()
                .iter()
                .map(|locale| (locale.clone(), json!(locales.chain(locale))))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
        object.insert("reindex".to_owned(), json!(reindex));
    }
    Ok(settings)
}

/// `GET /locales` (`cms.entry.read`): the site's locale settings, each
/// locale's full chain, and the re-index progress.
pub fn get(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller(crate::routes::READ)?;
    Ok(Response::ok_json(&view(&site)?))
}

/// `GET /delivery/locales` (public): the locales and their chains.
pub fn public(_: &Request, _: &Params) -> Result<Response, Error> {
    let site = identity::current().site;
    let mut view = view(&site)?;
    if let Some(object) = view.as_object_mut() {
        object.remove("reindex");
    }
    Ok(Response::ok_json(&view))
}

/// `PUT /locales` (`cms.type.manage`): replaces the settings and starts
/// re-indexing the published entries.
pub fn put(request: &Request, _: &Params) -> Result<Response, Error> {
    let (site, _) = caller("cms.type.manage")?;
    let settings: Settings = request.json().map_err(|_| {
        Error::new(
            400,
            "invalid_locales",
            "send {\"default\": \"en\", \"locales\": [{\"code\": \"en\"}, {\"code\": \"fr-CA\", \"fallback\": [\"fr\"]}]}",
        )
    })?;
    settings
        .check()
        .map_err(|message| Error::new(400, "invalid_locales", message))?;
    storage::set_json(&settings_key(&site), &settings)?;
    let reindex = storage::update_json(&progress_key(&site), |old: Option<Reindex>| Reindex {
        generation: old.map_or(1, |old| old.generation + 1),
        state: "running".to_owned(),
        indexed: 0,
        after: None,
    })?;
    schedule(&site, reindex.generation, 0)?;
    Ok(Response::ok_json(&view(&site)?))
}

fn schedule(site: &str, generation: u64, page: u64) -> Result<(), Error> {
    let name = format!("{JOB_PREFIX}{site}/{generation}/{page}");
    jobs::at(&name, jobs::now_ms(), site.as_bytes())
}

/// Whether the job `name` is a re-index page.
pub fn owns(name: &str) -> bool {
    name.starts_with(JOB_PREFIX)
}

/// Runs one re-index page: the next [`REINDEX_PAGE`] published entries of
/// the site get their field and search index entries recomputed; the next
/// page is scheduled when more remain.
pub fn run_job(name: &str, payload: &[u8]) -> Result<(), String> {
    let site = String::from_utf8_lossy(payload).into_owned();
    let generation: u64 = name
        .strip_prefix(JOB_PREFIX)
        .and_then(|rest| rest.split('/').nth(1))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("`{name}` is not a re-index job"))?;
    reindex_page(&site, generation, name).map_err(|error| error.to_string())
}

fn reindex_page(site: &str, generation: u64, name: &str) -> Result<(), Error> {
    let Some(progress) = storage::get_json::<Reindex>(&progress_key(site))? else {
        return Ok(());
    };
    if progress.generation != generation || progress.state != "running" {
        log::info(&format!("{name}: superseded by a newer change; stopping"));
        return Ok(());
    }
    let prefix = format!("{}published/", store::root(site));
    let page = tessera_sdk::bindings::tessera::plugin::storage::scan(
        &tessera_sdk::bindings::tessera::plugin::storage::ScanRequest {
            prefix: prefix.clone(),
            start_after: progress.after.clone(),
            limit: u32::try_from(REINDEX_PAGE).unwrap_or(100),
        },
    )?;
    let mut done = 0;
    for entry in &page.entries {
        let doc: Published = serde_json::from_slice(&entry.value)
            .map_err(|error| Error::internal(format!("`{}` is unreadable: {error}", entry.key)))?;
        store::reindex(site, &doc)?;
        done += 1;
    }
    let next = page.next.clone();
    let updated = storage::update_json(&progress_key(site), |current: Option<Reindex>| {
        let mut current = current.unwrap_or_else(|| progress.clone());
        if current.generation == generation {
            current.indexed += done;
            current.after = next.clone();
            if next.is_none() {
                current.state = "done".to_owned();
            }
        }
        current
    })?;
    if next.is_some() && updated.generation == generation {
        let page_number = name
            .rsplit('/')
            .next()
            .and_then(|text| text.parse::<u64>().ok())
            .unwrap_or(0);
        schedule(site, generation, page_number + 1)?;
    }
    Ok(())
}
