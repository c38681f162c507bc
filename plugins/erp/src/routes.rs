//! The connector's API under `/api/erp/`: administrators map ERP customers
//! to B2B accounts and run or inspect the sync; buyers read their
//! company's orders and invoices; staff read any company's.

use serde::Deserialize;
use serde_json::{Value, json};
use tessera_sdk::prelude::*;

use crate::records::{Kind, Record};
use crate::{store, sync};

const MANAGE: &str = "erp.sync.manage";
const READ: &str = "erp.records.read";

/// Every route.
pub fn router() -> Router {
    Router::new()
        .get("/accounts", list_accounts)
        .put("/accounts/:customer", put_account)
        .delete("/accounts/:customer", delete_account)
        .post("/sync", sync_now)
        .get("/sync", sync_status)
        .get("/me/orders", my_orders)
        .get("/me/invoices", my_invoices)
        .get("/companies/:company/orders", company_orders)
        .get("/companies/:company/invoices", company_invoices)
}

fn site_for(permission: &str) -> Result<String, Error> {
    identity::require(permission)?;
    Ok(identity::current().site)
}

fn list_accounts(_: &Request, _: &Params) -> Result<Response, Error> {
    let site = site_for(MANAGE)?;
    let items: Vec<Value> = store::accounts(&site)?
        .into_iter()
        .map(|(customer, company)| json!({"customer": customer, "company": company}))
        .collect();
    Ok(Response::ok_json(&json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    company: String,
}

fn put_account(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(MANAGE)?;
    let customer = params.require("customer")?;
    let body: AccountBody = request.json().map_err(|_| {
        Error::new(
            400,
            "invalid_account",
            "send {\"company\": \"<commerce company id>\"}",
        )
    })?;
    let valid = |text: &str| {
        !text.is_empty()
            && text.len() <= 100
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    };
    if !valid(customer) || !valid(&body.company) {
        return Err(Error::new(
            400,
            "invalid_account",
            "customer numbers and company ids: letters, digits, `-`, `_`, `.`, `:`",
        ));
    }
    store::map_account(&site, customer, Some(&body.company))?;
    // The first mapping starts the scheduled pull.
    sync::schedule(&site)?;
    Ok(Response::ok_json(
        &json!({"customer": customer, "company": body.company}),
    ))
}

fn delete_account(_: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(MANAGE)?;
    store::map_account(&site, params.require("customer")?, None)?;
    Ok(Response::empty(204))
}

fn sync_now(_: &Request, _: &Params) -> Result<Response, Error> {
    let site = site_for(MANAGE)?;
    let reports = sync::run(&site)?;
    sync::schedule(&site)?;
    let status = if reports.iter().any(|report| report.error.is_some()) {
        502
    } else {
        200
    };
    Ok(Response::json(status, &json!({ "reports": reports })))
}

fn sync_status(_: &Request, _: &Params) -> Result<Response, Error> {
    let site = site_for(MANAGE)?;
    Ok(Response::ok_json(
        &json!({ "reports": sync::status(&site)? }),
    ))
}

fn limit(request: &Request) -> usize {
    request
        .query("limit")
        .and_then(|text| text.parse().ok())
        .unwrap_or(50)
        .clamp(1, 200)
}

fn listing(site: &str, company: &str, kind: Kind, limit: usize) -> Result<Response, Error> {
    let customers = store::customers_of(site, company)?;
    let items: Vec<Record> = store::of_customers(site, &customers, kind, limit)?;
    Ok(Response::ok_json(
        &json!({"company": company, "items": items}),
    ))
}

/// The caller's company, from the commerce plugin's account API.
fn my_company() -> Result<String, Error> {
    let principal = identity::current();
    if principal.user.is_none() {
        return Err(Error::unauthenticated(
            "sign in to see your company's orders",
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
        if error.code == "not_found" && error.status == 404 {
            Error::new(
                409,
                "no_accounts",
                "B2B accounts come from the commerce plugin, which is not installed",
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

fn my_orders(request: &Request, _: &Params) -> Result<Response, Error> {
    let company = my_company()?;
    listing(
        &identity::current().site,
        &company,
        Kind::Order,
        limit(request),
    )
}

fn my_invoices(request: &Request, _: &Params) -> Result<Response, Error> {
    let company = my_company()?;
    listing(
        &identity::current().site,
        &company,
        Kind::Invoice,
        limit(request),
    )
}

fn company_orders(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(READ)?;
    listing(
        &site,
        params.require("company")?,
        Kind::Order,
        limit(request),
    )
}

fn company_invoices(request: &Request, params: &Params) -> Result<Response, Error> {
    let site = site_for(READ)?;
    listing(
        &site,
        params.require("company")?,
        Kind::Invoice,
        limit(request),
    )
}
