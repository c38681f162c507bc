//! The ERP's records as the connector stores them, read from the ERP's
//! JSON (the reference ERP API in `docs/integrations.md`). A partner
//! adapting the connector to another ERP changes this mapping. Pure.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Money in minor units with its ISO currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// Which kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A sales order.
    Order,
    /// An invoice.
    Invoice,
}

impl Kind {
    /// Both kinds, in sync order.
    pub const ALL: [Self; 2] = [Self::Order, Self::Invoice];

    /// The ERP path and storage segment: `orders`, `invoices`.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Order => "orders",
            Self::Invoice => "invoices",
        }
    }
}

/// An order or an invoice, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// What it is.
    pub kind: Kind,
    /// The ERP's number (`SO-1001`, `INV-77`), unique per kind.
    pub number: String,
    /// The ERP's customer number.
    pub customer: String,
    /// The ERP's status, as it says it (`open`, `shipped`, `paid`, ...).
    pub status: String,
    /// When it was placed (order) or issued (invoice), RFC 3339.
    pub date: String,
    /// When it is due (invoices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// The order an invoice bills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The total.
    pub total: Money,
    /// Everything else the ERP sent (lines, shipments, tracking), kept as
    /// is for the portal.
    #[serde(default)]
    pub details: Value,
}

fn text<'a>(item: &'a Value, name: &str) -> Result<&'a str, String> {
    item.get(name)
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty() && text.len() <= 200)
        .ok_or_else(|| format!("`{name}` is missing or not a short string"))
}

/// Whether `text` can be part of a storage key: no `/`, no spaces.
fn is_key_part(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// Reads one ERP item of `kind`; the error says which field is wrong.
pub fn parse(kind: Kind, item: &Value) -> Result<Record, String> {
    let number = text(item, "number")?.to_owned();
    if !is_key_part(&number) {
        return Err(format!(
            "`number` `{number}`: letters, digits, `-`, `_`, `.`, `:` only"
        ));
    }
    let with_number = |why: String| format!("{} {number}: {why}", kind.plural());
    let field = |name: &str| text(item, name).map_err(with_number);
    let total = item
        .get("total")
        .and_then(|total| {
            Some(Money {
                amount: total.get("amount")?.as_i64()?,
                currency: total.get("currency")?.as_str()?.to_owned(),
            })
        })
        .filter(|money| {
            money.currency.len() == 3 && money.currency.chars().all(|c| c.is_ascii_uppercase())
        })
        .ok_or_else(|| {
            with_number(
                "`total` must be {\"amount\": <minor units>, \"currency\": \"EUR\"}".to_owned(),
            )
        })?;
    let (date, due, order) = match kind {
        Kind::Order => (field("placed_at")?.to_owned(), None, None),
        Kind::Invoice => (
            field("issued_at")?.to_owned(),
            item.get("due_at")
                .and_then(Value::as_str)
                .map(str::to_owned),
            item.get("order").and_then(Value::as_str).map(str::to_owned),
        ),
    };
    let mut details = item.clone();
    if let Some(object) = details.as_object_mut() {
        for known in [
            "number",
            "customer",
            "status",
            "placed_at",
            "issued_at",
            "due_at",
            "order",
            "total",
        ] {
            object.remove(known);
        }
    }
    let customer = field("customer")?.to_owned();
    if !is_key_part(&customer) {
        return Err(with_number(format!(
            "`customer` `{customer}`: letters, digits, `-`, `_`, `.`, `:` only"
        )));
    }
    Ok(Record {
        kind,
        customer,
        status: field("status")?.to_owned(),
        number,
        date,
        due,
        order,
        total,
        details,
    })
}

/// One page of the ERP's answer: `{"items": [...], "cursor": "...", "more": bool}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page {
    /// The records changed since the cursor asked for, oldest change first.
    pub items: Vec<Value>,
    /// Where the next request resumes (none: unchanged).
    #[serde(default)]
    pub cursor: Option<String>,
    /// Whether more changes follow right away.
    #[serde(default)]
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn orders_and_invoices_are_read_and_mistakes_named() {
        let order = parse(
            Kind::Order,
            &json!({"number": "SO-1", "customer": "C-1", "status": "shipped",
                    "placed_at": "2026-11-20T10:00:00Z", "total": {"amount": 12345, "currency": "EUR"},
                    "tracking": "1Z999"}),
        )
        .unwrap();
        assert_eq!(order.total.amount, 12345);
        assert_eq!(order.details, json!({"tracking": "1Z999"}));
        let invoice = parse(
            Kind::Invoice,
            &json!({"number": "INV-1", "customer": "C-1", "status": "open", "order": "SO-1",
                    "issued_at": "2026-11-21", "due_at": "2026-12-21", "total": {"amount": 12345, "currency": "EUR"}}),
        )
        .unwrap();
        assert_eq!(invoice.order.as_deref(), Some("SO-1"));
        let error = parse(Kind::Order, &json!({"number": "SO-2", "customer": "C-1", "status": "x", "placed_at": "d", "total": {"amount": 1.5, "currency": "EUR"}})).unwrap_err();
        assert!(error.contains("SO-2") && error.contains("total"), "{error}");
        assert!(
            parse(Kind::Order, &json!({"customer": "C"}))
                .unwrap_err()
                .contains("number")
        );
    }
}
