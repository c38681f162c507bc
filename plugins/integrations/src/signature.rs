//! Webhook signatures: HMAC-SHA256 over the timestamp and the body, in the
//! `Tessera-Signature` header, and GitHub's `X-Hub-Signature-256` for
//! incoming calls from senders that use it. Pure.
//!
//! `Tessera-Signature: t=1764590000,v1=<hex of HMAC-SHA256(secret, "1764590000." + body)>`
//!
//! The timestamp (seconds since the epoch) is signed with the body, so a
//! receiver that refuses old timestamps is safe from replays; `v1` names
//! the scheme so that a later one can be sent alongside.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying a Tessera signature.
pub const HEADER: &str = "tessera-signature";
/// The header carrying a GitHub-style signature.
pub const GITHUB_HEADER: &str = "x-hub-signature-256";

fn mac(secret: &str) -> HmacSha256 {
    // HMAC takes keys of any length.
    HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
}

/// The `Tessera-Signature` value for `body` sent at `timestamp` (seconds).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Why an incoming signature is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The header is missing or unreadable.
    Malformed(String),
    /// The timestamp is too far from now (seconds apart).
    Stale(u64),
    /// No signature matches.
    Mismatch,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(formatter, "{why}"),
            Self::Stale(apart) => write!(
                formatter,
                "the signature's timestamp is {apart} s away from now; sign each call when sending it"
            ),
            Self::Mismatch => formatter.write_str("the signature does not match the body"),
        }
    }
}

/// Checks a `Tessera-Signature` `header` for `body` at `now` (seconds),
/// allowing `tolerance` seconds of clock difference. Every `v1` in the
/// header is tried (a sender rotating secrets may send two); comparisons
/// take constant time.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: u64,
    tolerance: u64,
) -> Result<(), Refusal> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<u64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp
        .ok_or_else(|| Refusal::Malformed(format!("`{HEADER}` needs t=<seconds>,v1=<hex>")))?;
    if signatures.is_empty() {
        return Err(Refusal::Malformed(format!(
            "`{HEADER}` carries no v1 signature"
        )));
    }
    let apart = now.abs_diff(timestamp);
    if apart > tolerance {
        return Err(Refusal::Stale(apart));
    }
    let matches = signatures.iter().any(|signature| {
        let Ok(bytes) = hex::decode(signature) else {
            return false;
        };
        let mut mac = mac(secret);
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&bytes).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(Refusal::Mismatch)
    }
}

/// Checks a GitHub-style `X-Hub-Signature-256: sha256=<hex>` header.
pub fn verify_github(secret: &str, header: &str, body: &[u8]) -> Result<(), Refusal> {
    let hex_part = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| Refusal::Malformed(format!("`{GITHUB_HEADER}` needs sha256=<hex>")))?;
    let bytes = hex::decode(hex_part)
        .map_err(|_| Refusal::Malformed(format!("`{GITHUB_HEADER}` is not hex")))?;
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&bytes).map_err(|_| Refusal::Mismatch)
}

/// The GitHub-style header value for `body`.
pub fn sign_github(secret: &str, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_anything_changed_does_not() {
        let header = sign("s3cret", 1_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1000,v1="));
        assert_eq!(verify("s3cret", &header, b"{\"a\":1}", 1_100, 300), Ok(()));
        assert_eq!(
            verify("s3cret", &header, b"{\"a\":2}", 1_100, 300),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify("other", &header, b"{\"a\":1}", 1_100, 300),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify("s3cret", &header, b"{\"a\":1}", 2_000, 300),
            Err(Refusal::Stale(1_000))
        );
        assert!(matches!(
            verify("s3cret", "v1=00", b"", 0, 300),
            Err(Refusal::Malformed(_))
        ));
        let rotated = format!("{header},v1=00ff");
        assert_eq!(verify("s3cret", &rotated, b"{\"a\":1}", 1_000, 300), Ok(()));
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2.
        let mut mac = mac("Jefe");
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn github_signatures() {
        let header = sign_github("k", b"body");
        assert_eq!(verify_github("k", &header, b"body"), Ok(()));
        assert_eq!(verify_github("k", &header, b"bodY"), Err(Refusal::Mismatch));
        assert!(matches!(
            verify_github("k", "md5=1", b""),
            Err(Refusal::Malformed(_))
        ));
    }
}
