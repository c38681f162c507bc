//! The B2B account API: staff manage companies and their members; a
//! signed-in user reads their own membership.

use serde::Deserialize;
use tessera_sdk::prelude::*;

use crate::accounts::{self, Company, Member, Role};
use crate::context::{ORDERS, signed_in, slug, staff};

fn unknown_company(id: &str) -> Error {
    Error::new(404, "unknown_company", format!("no company `{id}`"))
}

/// `PUT /companies/{id}`.
pub fn put_company(request: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(ORDERS)?;
    let id = slug("company", params.require("id")?)?;
    let mut company: Company = request.json()?;
    company.id = id.to_owned();
    accounts::validate(&company)?;
    let existed = accounts::put_company(&site, &company)?;
    Ok(Response::json(if existed { 200 } else { 201 }, &company))
}

/// `GET /companies/{id}`: the company with its members.
pub fn get_company(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(ORDERS)?;
    let id = params.require("id")?;
    let company = accounts::company(&site, id)?.ok_or_else(|| unknown_company(id))?;
    Ok(Response::ok_json(
        &json!({"company": company, "members": accounts::members(&site, id)?}),
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
    if !accounts::company_exists(&site, id)? {
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
    accounts::set_member(&site, &member)?;
    Ok(Response::ok_json(&member))
}

/// `DELETE /companies/{id}/members/{user}`.
pub fn delete_member(_: &Request, params: &Params) -> Result<Response, Error> {
    let (site, _) = staff(ORDERS)?;
    let id = params.require("id")?;
    let user_id = params.require("user")?;
    if accounts::remove_member(&site, id, user_id)? {
        Ok(Response::empty(204))
    } else {
        Err(Error::new(
            404,
            "not_a_member",
            format!("user `{user_id}` is not a member of `{id}`"),
        ))
    }
}

/// `GET /account`: the caller's membership and company, if any.
pub fn my_account(_: &Request, _: &Params) -> Result<Response, Error> {
    let (site, user) = signed_in()?;
    let member = accounts::membership(&site, &user.id)?;
    let company = match &member {
        Some(member) => accounts::company(&site, &member.company)?,
        None => None,
    };
    Ok(Response::ok_json(
        &json!({"member": member, "company": company}),
    ))
}
