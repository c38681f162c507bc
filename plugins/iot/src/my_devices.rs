//! `GET /me/devices`: the devices of the signed-in buyer's company, for
//! the customer portal. The company comes from the commerce plugin's
//! `GET /account` (an optional dependency, through `invoke`); a device's
//! `account` is that company's id.

use serde::Deserialize;
use serde_json::{Value, json};
use tessera_sdk::prelude::*;

use crate::store;

/// The caller's company, from the commerce plugin.
fn my_company() -> Result<String, Error> {
    if identity::current().user.is_none() {
        return Err(Error::unauthenticated(
            "sign in to see your company's devices",
        ));
    }
    #[derive(Deserialize)]
    struct Account {
        member: Option<Member>,
    }
    #[derive(Deserialize)]
    struct Member {
        company: String,
    }
    let account: Account = invoke::get_json("tessera.commerce", "/account").map_err(|error| {
        if error.status == 404 && error.code == "not_found" {
            Error::new(
                409,
                "no_accounts",
                "companies come from the commerce plugin, which is not installed",
            )
        } else {
            error
        }
    })?;
    account.member.map(|member| member.company).ok_or_else(|| {
        Error::new(
            404,
            "no_company",
            "you do not belong to a company; ask your administrator",
        )
    })
}

/// `GET /me/devices`: `{"company", "items": [{id, name, type, online,
/// last_seen, latest: {metric: {value, ts}}}]}`.
pub fn handle(_: &Request, _: &Params) -> Result<Response, Error> {
    let company = my_company()?;
    let site = identity::current().site;
    let mut items = Vec::new();
    for device in store::devices(&site)?
        .into_iter()
        .filter(|device| device.account == company)
    {
        let latest = store::latest(&site, &device.id)?;
        items.push(json!({
            "id": device.id,
            "name": device.name,
            "type": device.device_type,
            "online": !device.offline && device.last_seen.is_some(),
            "last_seen": device.last_seen,
            "latest": latest.metrics,
        }));
    }
    let answer: Value = json!({ "company": company, "items": items });
    Ok(Response::ok_json(&answer))
}
