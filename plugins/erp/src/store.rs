//! Where the connector keeps things, per site (`site/{site}/`):
//!
//! | key | value |
//! |---|---|
//! | `records/{kind}/{number}` | a [`Record`] |
//! | `by-customer/{customer}/{kind}/{date}/{number}` | empty: a customer's records, oldest first |
//! | `accounts/{customer}` | the company (commerce id) the ERP customer is |
//! | `company-customers/{company}/{customer}` | empty: the reverse |
//! | `cursor/{kind}` | where the next pull of that kind resumes |
//! | `status` | the last sync's [`crate::sync::Report`] per kind |

use tessera_sdk::Error;
use tessera_sdk::storage::{self, Operation};

use crate::records::{Kind, Record};

/// The prefix of `site`'s keys.
pub fn root(site: &str) -> String {
    format!("site/{site}/")
}

fn record_key(site: &str, kind: Kind, number: &str) -> String {
    format!("{}records/{}/{number}", root(site), kind.plural())
}

fn customer_prefix(site: &str, customer: &str, kind: Kind) -> String {
    format!("{}by-customer/{customer}/{}/", root(site), kind.plural())
}

fn customer_key(site: &str, record: &Record) -> String {
    format!(
        "{}{}/{}",
        customer_prefix(site, &record.customer, record.kind),
        record.date,
        record.number
    )
}

/// The operations that store `record`, replacing an earlier copy (whose
/// index entry moves if its customer or date changed).
pub fn upsert(site: &str, record: &Record) -> Result<Vec<Operation>, Error> {
    let key = record_key(site, record.kind, &record.number);
    let mut operations = Vec::new();
    if let Some(old) = storage::get_json::<Record>(&key)? {
        let old_index = customer_key(site, &old);
        if old_index != customer_key(site, record) {
            operations.push(Operation::delete(old_index));
        }
    }
    operations.push(Operation::set_json(key, record)?);
    operations.push(Operation::set(customer_key(site, record), Vec::new()));
    Ok(operations)
}

/// The records of `kind` of the ERP customers `customers`, newest first.
pub fn of_customers(
    site: &str,
    customers: &[String],
    kind: Kind,
    limit: usize,
) -> Result<Vec<Record>, Error> {
    let mut found = Vec::new();
    for customer in customers {
        let prefix = customer_prefix(site, customer, kind);
        for item in storage::scan(&prefix) {
            let (key, _) = item?;
            let Some(number) = key.rsplit('/').next() else {
                continue;
            };
            if let Some(record) = storage::get_json::<Record>(&record_key(site, kind, number))? {
                found.push(record);
            }
        }
    }
    found.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| b.number.cmp(&a.number)));
    found.truncate(limit);
    Ok(found)
}

/// The company an ERP customer belongs to.
pub fn company_of(site: &str, customer: &str) -> Result<Option<String>, Error> {
    Ok(storage::get(&format!("{}accounts/{customer}", root(site)))?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Maps ERP `customer` to `company` (none: unmapped).
pub fn map_account(site: &str, customer: &str, company: Option<&str>) -> Result<(), Error> {
    let mut operations = Vec::new();
    if let Some(old) = company_of(site, customer)? {
        operations.push(Operation::delete(format!(
            "{}company-customers/{old}/{customer}",
            root(site)
        )));
    }
    let key = format!("{}accounts/{customer}", root(site));
    match company {
        Some(company) => {
            operations.push(Operation::set(key, company));
            operations.push(Operation::set(
                format!("{}company-customers/{company}/{customer}", root(site)),
                Vec::new(),
            ));
        }
        None => operations.push(Operation::delete(key)),
    }
    storage::batch(&operations)?;
    Ok(())
}

/// The ERP customers mapped to `company`.
pub fn customers_of(site: &str, company: &str) -> Result<Vec<String>, Error> {
    let prefix = format!("{}company-customers/{company}/", root(site));
    storage::scan(&prefix)
        .map(|item| item.map(|(key, _)| key.strip_prefix(&prefix).unwrap_or_default().to_owned()))
        .collect()
}

/// Every mapping: `(customer, company)`.
pub fn accounts(site: &str) -> Result<Vec<(String, String)>, Error> {
    let prefix = format!("{}accounts/", root(site));
    storage::scan(&prefix)
        .map(|item| {
            item.map(|(key, value)| {
                (
                    key.strip_prefix(&prefix).unwrap_or_default().to_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                )
            })
        })
        .collect()
}

/// The key of the pull cursor of `kind`.
pub fn cursor_key(site: &str, kind: Kind) -> String {
    format!("{}cursor/{}", root(site), kind.plural())
}
