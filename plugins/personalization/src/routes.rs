//! The routes under `/api/cdp`. Permissions are checked by the kernel
//! (plugin.toml) and again in each handler, because calls through
//! `invoke` do not pass the manifest's rules.

use tessera_sdk::prelude::*;

use crate::{
    aggregate, experience_routes as ex, profile_routes as profiles, segment_routes as segments,
    track, trials,
};

/// The plugin's OpenAPI 3.1 description.
const OPENAPI: &str = include_str!("../openapi.json");

/// Every route.
pub fn router() -> Router {
    Router::new()
        .post("/track", track::track)
        .post("/identify", track::identify)
        .get("/me/segments", profiles::my_segments)
        .get("/me", profiles::me)
        .delete("/me", profiles::erase_me)
        .patch("/me/attributes", profiles::my_attributes)
        .get("/segments", segments::list)
        .put("/segments/:key", segments::put)
        .get("/segments/:key", segments::get)
        .delete("/segments/:key", segments::delete)
        .get("/segments/:key/members", segments::members)
        .get("/profiles", profiles::list)
        .get("/profiles/:pid", profiles::get)
        .delete("/profiles/:pid", profiles::delete)
        .get("/profiles/:pid/export", profiles::export)
        .put("/profiles/:pid/attributes", profiles::set_attributes)
        .patch("/profiles/:pid/attributes", profiles::set_attributes)
        .get("/experiences", ex::list_experiences)
        .put("/experiences/:key", ex::put_experience)
        .get("/experiences/:key", ex::get_experience)
        .delete("/experiences/:key", ex::delete_experience)
        .get("/experiments", ex::list_experiments)
        .put("/experiments/:key", ex::put_experiment)
        .get("/experiments/:key", ex::get_experiment)
        .delete("/experiments/:key", ex::delete_experiment)
        .get("/experiments/:key/assignment", trials::assignment)
        .get("/experiments/:key/results", trials::results)
        .get("/analytics/daily", aggregate::daily)
        .get("/openapi.json", |_, _| {
            Ok(Response::text(200, OPENAPI).with_header("content-type", "application/json"))
        })
}
