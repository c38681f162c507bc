//! The HTTP API under `/api/iot/`. The manifest's `[[routes]]` make the
//! kernel check permissions first; handlers check them again because
//! calls through `invoke` bypass those rules. `/ingest/<device>` is open
//! at the kernel level and authenticated here by the device's token.

use serde_json::{Value, json};
use tessera_sdk::prelude::*;

use crate::aggregate::{Bucket, Resolution};
use crate::ingest;
use crate::model::{Batch, Device, NewDevice, is_metric, is_name};
use crate::rules::Rule;
use crate::settings;
use crate::store;
use crate::token;

const MANAGE: &str = "iot.device.manage";
const READ: &str = "iot.telemetry.read";
const RULES: &str = "iot.rule.manage";

/// The header carrying a device's token.
pub const TOKEN_HEADER: &str = "x-device-token";

/// Most points or buckets one series query answers.
const MAX_SERIES: usize = 10_000;

/// Every route.
pub fn router() -> Router {
    Router::new()
        .post("/devices", create_device)
        .get("/devices", list_devices)
        .get("/me/devices", crate::my_devices::handle)
        .get("/devices/:id", get_device)
        .delete("/devices/:id", delete_device)
        .post("/devices/:id/token", rotate_token)
        .get("/devices/:id/state", device_state)
        .get("/devices/:id/series", series)
        .post("/ingest/:id", ingest_http)
        .get("/rules", list_rules)
        .put("/rules/:id", put_rule)
        .get("/rules/:id", get_rule)
        .delete("/rules/:id", delete_rule)
}

/// The caller's site once `permission` is checked.
fn site_for(permission: &str) -> Result<String, Error> {
    identity::require(permission)?;
    Ok(identity::current().site)
}

fn name_param<'a>(params: &'a Params, name: &str) -> Result<&'a str, Error> {
    let value = params.require(name)?;
    if is_name(value) {
        Ok(value)
    } else {
        Err(Error::new(
            400,
            format!("invalid_{name}"),
            format!("`{value}` is not a valid {name}: use 1 to 64 of a-z, 0-9, `-` or `_`"),
        ))
    }
}

fn create_device(request: &Request, _: &Params) -> Result<Response, Error> {
    let site = site_for(MANAGE)?;
    let new: NewDevice = request.json()?;
    new.validate()
        .map_err(|message| Error::new(400, "invalid_device", message))?;
    let secret = token::generate().map_err(Error::internal)?;
    let device = Device {
        id: new.id.clone(),
        name: new.name.clone().unwrap_or_else(|| new.id.clone()),
        device_type: new.device_type,
        account: new.account,
        metadata: new.metadata.unwrap_or_else(|| json!({})),
        offline_after_seconds: new.offline_after_seconds,
        token_hash: token::hash(&secret),
        created_at: jobs::now_ms(),
        last_seen: None,
        offline: false,
    };
    let key = store::device_key(&site, &device.id);
    let stored = serde_json::to_vec(&device)
        .map_err(|error| Error::internal(format!("cannot encode the device: {error}")))?;
    if let storage::CasOutcome::Conflict(_) = storage::compare_and_swap(&key, None, Some(&stored))?
    {
        return Err(Error::conflict(format!(
            "a device `{}` already exists on this site",
            device.id
        )));
    }
    storage::set(&store::index_key(&site, &device.id), b"")?;
    events::publish_json(
        "iot.device.registered",
        &json!({ "site": site, "device": device.id, "account": device.account, "type": device.device_type }),
    )?;
    Ok(Response::json(
        201,
        &json!({ "device": device.view(), "token": secret }),
    ))
}

fn list_devices(request: &Request, _: &Params) -> Result<Response, Error> {
    let site = site_for(READ)?;
    let account = request.query("account");
    let kind = request.query("type");
    let devices: Vec<Value> = store::devices(&site)?
        .iter()
        .filter(|device| {
            account
                .as_ref()
                .is_none_or(|wanted| wanted == &device.account)
        })
        .filter(|device| {
            kind.as_ref()
                .is_none_or(|wanted| wanted == &device.device_type)
        })
        .map(Device::view)
        .collect();
    Ok(Response::ok_json(&json!({ "devices": devices })))
}

fn get_device(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(READ)?;
    let id = name_param(params, "id")?;
    Ok(Response::ok_json(&store::device(&site, id)?.view()))
}

fn delete_device(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(MANAGE)?;
    let id = name_param(params, "id")?;
    store::device(&site, id)?;
    storage::delete(&store::device_key(&site, id))?;
    storage::delete(&store::index_key(&site, id))?;
    storage::delete(&store::latest_key(&site, id))?;
    store::delete_all(&format!("site/{site}/raw/{id}/"))?;
    for resolution in Resolution::ALL {
        store::delete_all(&format!("site/{site}/agg/{}/{id}/", resolution.name()))?;
    }
    Ok(Response::empty(204))
}

fn rotate_token(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(MANAGE)?;
    let id = name_param(params, "id")?;
    let secret = token::generate().map_err(Error::internal)?;
    let hash = token::hash(&secret);
    storage::try_update_json(&store::device_key(&site, id), |current: Option<Device>| {
        let mut device = current.ok_or_else(|| Error::not_found(format!("no device `{id}`")))?;
        device.token_hash = hash.clone();
        Ok(device)
    })?;
    Ok(Response::ok_json(&json!({ "device": id, "token": secret })))
}

fn device_state(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(READ)?;
    let id = name_param(params, "id")?;
    let device = store::device(&site, id)?;
    let latest = store::latest(&site, id)?;
    Ok(Response::ok_json(&json!({
        "device": id,
        "offline": device.offline,
        "last_seen": device.last_seen,
        "updated_at": latest.updated_at,
        "metrics": latest.metrics,
    })))
}

fn query_number(request: &Request, name: &str, default: u64) -> Result<u64, Error> {
    match request.query(name) {
        None => Ok(default),
        Some(value) => value.parse().map_err(|_| {
            Error::bad_request(format!("`{name}` must be a non-negative integer (ms)"))
        }),
    }
}

fn series(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(READ)?;
    let id = name_param(params, "id")?;
    store::device(&site, id)?;
    let metric = request
        .query("metric")
        .ok_or_else(|| Error::bad_request("`metric` is required"))?;
    if !is_metric(&metric) {
        return Err(Error::bad_request(format!(
            "`{metric}` is not a metric name"
        )));
    }
    let from = query_number(request, "from", 0)?;
    let to = query_number(request, "to", u64::MAX)?;
    let resolution = request.query("resolution").unwrap_or_else(|| "raw".into());
    let mut items = Vec::new();
    if resolution == "raw" {
        for entry in storage::scan(&store::raw_prefix(&site, id, &metric)) {
            let (key, value) = entry?;
            let ts = stamp_of(&key);
            if ts < from {
                continue;
            }
            if ts > to || items.len() >= MAX_SERIES {
                break;
            }
            let value: f64 = serde_json::from_slice(&value).unwrap_or(f64::NAN);
            items.push(json!({ "ts": ts, "value": value }));
        }
    } else {
        let resolution = Resolution::parse(&resolution)
            .ok_or_else(|| Error::bad_request("`resolution` must be raw, minute or hour"))?;
        for entry in storage::scan(&store::aggregate_prefix(&site, resolution, id)) {
            let (key, value) = entry?;
            let ts = stamp_of(&key);
            if ts < resolution.bucket(from) {
                continue;
            }
            if ts > to || items.len() >= MAX_SERIES {
                break;
            }
            let bucket: Bucket = serde_json::from_slice(&value).map_err(|error| {
                Error::internal(format!(
                    "the aggregates under `{key}` are unreadable: {error}"
                ))
            })?;
            let Some(aggregate) = bucket.get(&metric) else {
                continue;
            };
            items.push(json!({
                "ts": ts, "min": aggregate.min, "max": aggregate.max,
                "avg": aggregate.avg(), "count": aggregate.count,
            }));
        }
    }
    Ok(Response::ok_json(&json!({
        "device": id, "metric": metric, "resolution": resolution, "items": items,
    })))
}

fn stamp_of(key: &str) -> u64 {
    key.rsplit('/')
        .next()
        .and_then(|stamp| stamp.parse().ok())
        .unwrap_or(0)
}

fn ingest_http(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = identity::current().site;
    let id = name_param(params, "id")?;
    let limit = settings::max_body_bytes();
    if request.body.len() > limit {
        return Err(Error::new(
            413,
            "payload_too_large",
            format!(
                "a telemetry body is at most {limit} bytes, this one has {}",
                request.body.len()
            ),
        ));
    }
    let presented = request.header(TOKEN_HEADER).ok_or_else(|| {
        Error::new(
            401,
            "device_token_required",
            format!("send the device's token in the {TOKEN_HEADER} header"),
        )
    })?;
    let refused = || Error::new(401, "invalid_device_token", "unknown device or wrong token");
    let device = match store::device(&site, id) {
        Ok(device) => device,
        Err(error) if error.status == 404 => {
            // Hash anyway, so that an unknown device costs the same time.
            let _ = token::verify(presented, "");
            return Err(refused());
        }
        Err(error) => return Err(error),
    };
    if !token::verify(presented, &device.token_hash) {
        return Err(refused());
    }
    let batch: Batch = request
        .json()
        .map_err(|error| Error::new(400, "invalid_telemetry", error.message))?;
    let accepted = ingest::ingest(&site, &device, &batch)?;
    Ok(Response::json(202, &json!({ "accepted": accepted })))
}

fn list_rules(_: &Request, _: &Params) -> Result<Response, Error> {
    let site = site_for(RULES)?;
    let rules: Vec<Value> = store::rules(&site)?
        .into_iter()
        .map(|(id, rule)| json!({ "id": id, "rule": rule }))
        .collect();
    Ok(Response::ok_json(&json!({ "rules": rules })))
}

fn put_rule(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(RULES)?;
    let id = name_param(params, "id")?;
    let rule: Rule = request.json()?;
    rule.validate()
        .map_err(|message| Error::new(400, "invalid_rule", message))?;
    let key = store::rule_key(&site, id);
    let existed = storage::get(&key)?.is_some();
    storage::set_json(&key, &rule)?;
    Ok(Response::json(
        if existed { 200 } else { 201 },
        &json!({ "id": id, "rule": rule }),
    ))
}

fn get_rule(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(RULES)?;
    let id = name_param(params, "id")?;
    let rule: Rule = storage::get_json(&store::rule_key(&site, id))?
        .ok_or_else(|| Error::not_found(format!("no rule `{id}`")))?;
    Ok(Response::ok_json(&json!({ "id": id, "rule": rule })))
}

fn delete_rule(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(RULES)?;
    let id = name_param(params, "id")?;
    if !storage::delete(&store::rule_key(&site, id))? {
        return Err(Error::not_found(format!("no rule `{id}`")));
    }
    store::delete_all(&format!("site/{site}/breached/{id}/"))?;
    Ok(Response::empty(204))
}
