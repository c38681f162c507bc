//! The payment-provider interface and the built-in test provider. A real
//! provider (a card processor reached through `outbound`) implements
//! [`PaymentProvider`] and is added to [`provider`].

use serde::Deserialize;
use tessera_sdk::Error;

use crate::context::setting;

/// What the client sends to pay: the provider and its payment token (from
/// the provider's client-side library; never card data).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The provider id, such as `test`.
    pub provider: String,
    /// The provider's one-time payment token.
    pub token: String,
}

/// A charge to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge<'a> {
    /// The order paid for.
    pub order: &'a str,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: &'a str,
    /// The provider's payment token.
    pub token: &'a str,
}

/// Why a provider refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declined(pub String);

/// A payment provider.
pub trait PaymentProvider {
    /// Its id, as clients name it.
    fn id(&self) -> &'static str;

    /// Charges; returns the provider's reference of the payment.
    fn charge(&self, charge: &Charge<'_>) -> Result<String, Declined>;

    /// Refunds the payment with `reference` in full.
    fn refund(&self, reference: &str, amount: i64) -> Result<(), Declined>;
}

/// The test provider: token `tok_ok` pays, `tok_declined` is declined,
/// anything else is an invalid token. Deterministic references
/// (`test_{order}`). Only when `test-payments = "true"`.
pub struct TestProvider;

impl PaymentProvider for TestProvider {
    fn id(&self) -> &'static str {
        "test"
    }

    fn charge(&self, charge: &Charge<'_>) -> Result<String, Declined> {
        match charge.token {
            "tok_ok" => Ok(format!("test_{}", charge.order)),
            "tok_declined" => Err(Declined("the test card was declined".to_owned())),
            other => Err(Declined(format!(
                "`{other}` is not a test token: use tok_ok or tok_declined"
            ))),
        }
    }

    fn refund(&self, reference: &str, _amount: i64) -> Result<(), Declined> {
        if reference.starts_with("test_") {
            Ok(())
        } else {
            Err(Declined(format!("`{reference}` is not a test payment")))
        }
    }
}

/// The provider with `id`; 400 `unknown_provider` when there is none (or
/// the test provider is off).
pub fn provider(id: &str) -> Result<Box<dyn PaymentProvider>, Error> {
    match id {
        "test" if setting("test-payments", "false") == "true" => Ok(Box::new(TestProvider)),
        _ => Err(Error::new(
            400,
            "unknown_provider",
            format!("no payment provider `{id}`"),
        )),
    }
}

/// 402 `payment_declined`.
pub fn declined(reason: &Declined) -> Error {
    Error::new(402, "payment_declined", reason.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_provider_pays_and_declines_by_token() {
        let charge = |token| Charge {
            order: "o1",
            amount: 100,
            currency: "EUR",
            token,
        };
        assert_eq!(TestProvider.charge(&charge("tok_ok")).unwrap(), "test_o1");
        assert!(TestProvider.charge(&charge("tok_declined")).is_err());
        assert!(TestProvider.charge(&charge("4111111111111111")).is_err());
        assert!(TestProvider.refund("test_o1", 100).is_ok());
        assert!(TestProvider.refund("live_1", 100).is_err());
    }
}
