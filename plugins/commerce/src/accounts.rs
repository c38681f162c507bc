//! B2B accounts: companies with an order limit and price segments, and
//! their members, each a `buyer` or an `approver`, and where they live.
//! Orders of a member belong to the company: every member sees them and
//! their invoices; an order above the limit waits for an approver (see
//! `approval`). The API is in `accounts_routes`.
//!
//! | key (under `site/{site}/`) | value |
//! |---|---|
//! | `companies/{id}` | a [`Company`] |
//! | `members/{user id}` | the user's [`Member`] record (one company per user) |
//! | `company-members/{company}/{user id}` | the company's member index |

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;
use tessera_sdk::storage::{self, CasOutcome, Operation};

use crate::context::{decode, root, slug};
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

/// Checks a company: a name of 1 to 200 characters, a valid limit, slug
/// segments.
pub fn validate(company: &Company) -> Result<(), Error> {
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
    Ok(())
}

/// Writes a company; whether it existed.
pub fn put_company(site: &str, company: &Company) -> Result<bool, Error> {
    let existed = company_exists(site, &company.id)?;
    storage::set_json(&company_key(site, &company.id), company)?;
    Ok(existed)
}

/// Whether company `id` exists.
pub fn company_exists(site: &str, id: &str) -> Result<bool, Error> {
    Ok(storage::get(&company_key(site, id))?.is_some())
}

/// Makes `member` a member of its company (compare-and-swap on the user's
/// record): 409 `member_elsewhere` when they belong to another company.
pub fn set_member(site: &str, member: &Member) -> Result<(), Error> {
    let key = member_key(site, &member.user_id);
    let current = storage::get(&key)?;
    if let Some(bytes) = &current {
        let existing: Member = decode(&key, bytes)?;
        if existing.company != member.company {
            return Err(Error::new(
                409,
                "member_elsewhere",
                format!(
                    "user `{}` is a member of `{}`: remove them there first",
                    member.user_id, existing.company
                ),
            ));
        }
    }
    let encoded = serde_json::to_vec(member).map_err(|e| Error::internal(e.to_string()))?;
    match storage::compare_and_swap(&key, current.as_deref(), Some(&encoded))? {
        CasOutcome::Swapped => {}
        CasOutcome::Conflict(_) => {
            return Err(Error::conflict(
                "the membership changed meanwhile: try again",
            ));
        }
    }
    storage::set(&index_key(site, &member.company, &member.user_id), "")
}

/// Removes user `user` from `company`; whether they were a member.
pub fn remove_member(site: &str, company: &str, user: &str) -> Result<bool, Error> {
    match membership(site, user)? {
        Some(member) if member.company == company => {
            storage::batch(&[
                Operation::delete(member_key(site, user)),
                Operation::delete(index_key(site, company, user)),
            ])?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
