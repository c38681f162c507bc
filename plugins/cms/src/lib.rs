//! `tessera.cms`: content types defined at run time, versioned draft entries
//! per site with unique slugs and values, publishing, and a headless
//! delivery API for published content with filters, sorting, cursor
//! pagination, locale fallback and ETags, and full-text search over
//! published entries; publishing or unpublishing at a scheduled time; and
//! digital assets: deduplicated, chunked uploads with metadata, served
//! with ranges and cached image renditions, which entries refer to through
//! `asset` fields. See `docs/cms.md`.
//!
//! The pure rules (type and entry validation, locales, the delivery query
//! language, rendering) live in modules that never call the kernel and are
//! unit-tested natively; `store`, `routes` and the handlers of `delivery`
//! talk to the kernel.

mod asset_delivery;
mod asset_search;
mod assets;
mod blobs;
pub mod conditional;
pub mod conditions;
pub mod delivery;
pub mod diff;
pub mod expand;
pub mod field_index;
pub mod locale_publish;
mod locale_settings;
pub mod locales;
pub mod media;
pub mod model;
pub mod openapi;
pub mod planner;
pub mod query;
pub mod ranges;
mod refs;
pub mod release;
pub mod renditions;
pub mod review;
mod routes;
pub mod schedule;
pub mod schema;
pub mod search;
pub mod segments;
mod store;
pub mod validate;
pub mod variants;

use tessera_sdk::prelude::*;

/// The plugin.
pub struct Cms;

impl Plugin for Cms {
    fn router() -> Router {
        routes::router()
    }

    fn on_event(event: Event) -> Result<(), String> {
        review::on_event(&event)
    }

    fn run_job(name: String, payload: Vec<u8>) -> Result<(), String> {
        if schedule::owns(&name) {
            schedule::run_job(&name, &payload)
        } else if locale_settings::owns(&name) {
            locale_settings::run_job(&name, &payload)
        } else {
            Err(format!("the CMS has no job `{name}`"))
        }
    }
}

export_plugin!(Cms);
