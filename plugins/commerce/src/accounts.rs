//! B2B accounts: companies with an order limit and price segments, and
//! their members, each a `buyer` or an `approver`. Orders of a member
//! belong to the company: every member sees them and their invoices; an
//! order above the limit waits for an approver (see `approval`).
//!
//! | key (under `site/{site}/`) | value |
//! |---|---|
//! | `companies/{id}` | a [`Company`] |
//! | `members/{user id}` | the user's [`Member`] record (one company per user) |
//! | `company-members/{company}/{user id}` | the company's member index |

use serde::{Deserialize, Serialize};
use tessera_sdk::prelude::*;
use tessera_sdk::storage::{CasOutcome, Operation};

use crate::context::{ORDERS, decode, root, slug, staff};
use crate::money::Money;

/// A customer company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Company {
    /// The company id (set from the path).
    #[serde(default)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// Orders with a total above this (in its currency) need an
    /// approver's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_limit: Option<Money>,
    /// Price segments its members buy in.
    #[serde(default)]
    pub segments: Vec<String>,
}

/// What a member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Places orders; sees the company's orders and invoices.
    Buyer,
    /// Also approves orders above the limit.
    Approver,
}

/// A user's membership of a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user id.
    pub user_id: String,
    /// Their username (workflow outcomes name the decider by it).
    pub username: String,
    /// The company.
    pub company: String,
    /// Buyer or approver.
    pub role: Role,
}

fn company_key(site: &str, id: &str) -> String {
    format!("{}companies/{id}", root(site))
}

fn member_key(site: &str, user: &str) -> String {
    format!("{}members/{user}", root(site))
}

fn index_key(site: &str, company: &str, user: &str) -> String {
    format!("{}company-members/{company}/{user}", root(site))
}

/// The company `id`, if any.
pub fn company(site: &str, id: &str) -> Result<Option<Company>, Error> {
    storage::get_json(&company_key(site, id))
}

/// The membership of user `user`, if any.
pub fn membership(site: &str, user: &str) -> Result<Option<Member>, Error> {
    storage::get_json(&member_key(site, user))
}

/// The members of `company`.
pub fn members(site: &str, company: &str) -> Result<Vec<Member>, Error> {
    let prefix = format!("{}company-members/{company}/", root(site));
    let mut members = Vec::new();
    for entry in storage::scan(&prefix) {
        let (key, _) = entry?;
        let user = key.strip_prefix(&prefix).unwrap_or(&key);
        if let Some(member) = membership(site, user)?.filter(|member| member.company == company) {
            members.push(member);
        }
    }
    Ok(members)
}

/// Whether `username` is an approver of `company`.
pub fn is_approver(site: &str, company: &str, username: &str) -> Result<bool, Error> {
    Ok(members(site, company)?
        .iter()
        .any(|member| member.username == username && member.role == Role::Approver))
}

/// `PUT /companies/{id}`.
pub fn put_company(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(ORDERS)?;
    let id = slug("company", params.require("id")?)?;
    let mut company: Company = request.json()?;
    company.id = id.to_owned();
    if company.name.trim().is_empty() || company.name.chars().count() > 200 {
        return Err(Error::new(
            400,
            "invalid_company",
            "`name` must have 1 to 200 characters",
        ));
    }
    if let Some(limit) = &company.order_limit {
        limit.validate("order_limit.amount")?;
    }
    for segment in &company.segments {
        slug("segment", segment)?;
    }
    let existed = company_exists(&site, id)?;
    storage::set_json(&company_key(&site, id), &company)?;
    Ok(Response::json(if existed { 200 } else { 201 }, &company))
}

fn company_exists(site: &str, id: &str) -> Result<bool, Error> {
    Ok(storage::get(&company_key(site, id))?.is_some())
}

fn unknown_company(id: &str) -> Error {
    Error::new(404, "unknown_company", format!("no company `{id}`"))
}

/// `GET /companies/{id}`: the company with its members.
pub fn get_company(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(ORDERS)?;
    let id = params.require("id")?;
    let company = company(&site, id)?.ok_or_else(|| unknown_company(id))?;
    Ok(Response::ok_json(
        &json!({"company": company, "members": members(&site, id)?}),
    ))
}

/// `PUT /companies/{id}/members/{user}` `{"role": "buyer" | "approver"}`.
pub fn put_member(request: &Request, params: &Params) -> Result<Response, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        role: Role,
    }
    let (site, _) = staff(ORDERS)?;
    let id = params.require("id")?;
    let user_id = params.require("user")?;
    let body: Body = request.json()?;
    if !company_exists(&site, id)? {
        return Err(unknown_company(id));
    }
    let user = identity::lookup_user(user_id)?.ok_or_else(|| {
        Error::new(
            404,
            "unknown_user",
            format!("no user `{user_id}` on this site"),
        )
    })?;
    let member = Member {
        user_id: user.id.clone(),
        username: user.username,
        company: id.to_owned(),
        role: body.role,
    };
    let key = member_key(&site, user_id);
    let current = storage::get(&key)?;
    if let Some(bytes) = &current {
        let existing: Member = decode(&key, bytes)?;
        if existing.company != id {
            return Err(Error::new(
                409,
                "member_elsewhere",
                format!(
                    "user `{user_id}` is a member of `{}`: remove them there first",
                    existing.company
                ),
            ));
        }
    }
    let encoded = serde_json::to_vec(&member).map_err(|e| Error::internal(e.to_string()))?;
    match storage::compare_and_swap(&key, current.as_deref(), Some(&encoded))? {
        CasOutcome::Swapped => {}
        CasOutcome::Conflict(_) => {
            return Err(Error::conflict(
                "the membership changed meanwhile: try again",
            ));
        }
    }
    storage::set(&index_key(&site, id, user_id), "")?;
    Ok(Response::ok_json(&member))
}

/// `DELETE /companies/{id}/members/{user}`.
pub fn delete_member(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(ORDERS)?;
    let id = params.require("id")?;
    let user_id = params.require("user")?;
    match membership(&site, user_id)? {
        Some(member) if member.company == id => {
            storage::batch(&[
                Operation::delete(member_key(&site, user_id)),
                Operation::delete(index_key(&site, id, user_id)),
            ])?;
            Ok(Response::empty(204))
        }
        _ => Err(Error::new(
            404,
            "not_a_member",
            format!("user `{user_id}` is not a member of `{id}`"),
        )),
    }
}

/// `GET /account`: the caller's membership and company, if any.
pub fn my_account(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, user) = crate::context::signed_in()?;
    let member = membership(&site, &user.id)?;
    let company = match &member {
        Some(member) => company(&site, &member.company)?,
        None => None,
    };
    Ok(Response::ok_json(
        &json!({"member": member, "company": company}),
    ))
}
