//! [`Error`]: an HTTP error a handler returns, rendered as
//! `{"error":{"code":"...","message":"..."}}`.

use std::fmt;

use crate::bindings::tessera::plugin::events::PublishError;
use crate::bindings::tessera::plugin::identity::IdentityError;
use crate::bindings::tessera::plugin::invoke::InvokeError;
use crate::bindings::tessera::plugin::jobs::JobError;
use crate::bindings::tessera::plugin::outbound::OutboundError;
use crate::bindings::tessera::plugin::storage::StorageError;
use crate::http::Response;

/// An error that becomes an HTTP response: a status, a machine-readable
/// `code` (snake_case) and a human-readable `message`.
///
/// The response body is always
/// `{"error":{"code":"<code>","message":"<message>"}}`, the shape the kernel
/// uses for its own errors too. Most SDK calls return this type, so `?` works
/// inside handlers.
///
/// ```no_run
/// use tessera_sdk::{Error, Params, Request, Response};
///
/// fn show(_req: &Request, params: &Params) -> Result<Response, Error> {
///     let id = params.require("id")?;
///     if id == "secret" {
///         return Err(Error::forbidden("this entry is private"));
///     }
///     Err(Error::not_found(format!("no entry {id}")))
/// }
/// # let _ = show;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The HTTP status code, such as 400 or 404.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Error::conflict("busy").status, 409);
    /// ```
    pub status: u16,
    /// A short snake_case code a client can match on, such as `not_found`.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Error::not_found("x").code, "not_found");
    /// ```
    pub code: String,
    /// A human-readable explanation.
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Error::internal("disk on fire").message, "disk on fire");
    /// ```
    pub message: String,
}

impl Error {
    /// An error with any status and code.
    ///
    /// ```
    /// use tessera_sdk::Error;
    ///
    /// let e = Error::new(429, "rate_limited", "slow down");
    /// assert_eq!((e.status, e.code.as_str()), (429, "rate_limited"));
    /// ```
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400, code `bad_request`.
    ///
    /// ```
    /// let e = tessera_sdk::Error::bad_request("name must not be empty");
    /// assert_eq!((e.status, e.code.as_str()), (400, "bad_request"));
    /// ```
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// 401, code `unauthenticated`: the caller must sign in.
    ///
    /// ```
    /// let e = tessera_sdk::Error::unauthenticated("sign in first");
    /// assert_eq!((e.status, e.code.as_str()), (401, "unauthenticated"));
    /// ```
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "unauthenticated", message)
    }

    /// 403, code `forbidden`.
    ///
    /// ```
    /// let e = tessera_sdk::Error::forbidden("editors only");
    /// assert_eq!((e.status, e.code.as_str()), (403, "forbidden"));
    /// ```
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    /// 404, code `not_found`.
    ///
    /// ```
    /// let e = tessera_sdk::Error::not_found("no such entry");
    /// assert_eq!((e.status, e.code.as_str()), (404, "not_found"));
    /// ```
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// 409, code `conflict`.
    ///
    /// ```
    /// let e = tessera_sdk::Error::conflict("slug already taken");
    /// assert_eq!((e.status, e.code.as_str()), (409, "conflict"));
    /// ```
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }

    /// 500, code `internal`.
    ///
    /// ```
    /// let e = tessera_sdk::Error::internal("unexpected state");
    /// assert_eq!((e.status, e.code.as_str()), (500, "internal"));
    /// ```
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }

    /// The response for this error: its status, `content-type:
    /// application/json` and the body `{"error":{"code":...,"message":...}}`.
    ///
    /// ```
    /// let r = tessera_sdk::Error::not_found("gone").into_response();
    /// assert_eq!(r.status, 404);
    /// assert_eq!(r.body, br#"{"error":{"code":"not_found","message":"gone"}}"#);
    /// ```
    pub fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        Response::json(self.status, &body)
    }
}

impl fmt::Display for Error {
    /// `<status> <code>: <message>`.
    ///
    /// ```
    /// let e = tessera_sdk::Error::not_found("gone");
    /// assert_eq!(e.to_string(), "404 not_found: gone");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for Response {
    /// Same as [`Error::into_response`].
    ///
    /// ```
    /// use tessera_sdk::{Error, Response};
    ///
    /// let r: Response = Error::conflict("taken").into();
    /// assert_eq!(r.status, 409);
    /// ```
    fn from(error: Error) -> Self {
        error.into_response()
    }
}

impl From<serde_json::Error> for Error {
    /// 400 `invalid_json`, with serde's message.
    ///
    /// ```
    /// use tessera_sdk::Error;
    ///
    /// let parse = serde_json::from_str::<u32>("nope").map_err(Error::from);
    /// assert_eq!(parse.unwrap_err().code, "invalid_json");
    /// ```
    fn from(error: serde_json::Error) -> Self {
        Self::new(400, "invalid_json", error.to_string())
    }
}

impl From<StorageError> for Error {
    /// `not-permitted` → 403 `not_permitted`; `invalid-key` → 400
    /// `invalid_key`; `value-too-large` → 413 `value_too_large`; anything else
    /// (`limit-exceeded`, `quota-exceeded`, `backend`) → 500 `storage_error`
    /// with the kernel's message.
    ///
    /// ```
    /// use tessera_sdk::Error;
    /// use tessera_sdk::storage::StorageError;
    ///
    /// let e = Error::from(StorageError::Backend("disk full".into()));
    /// assert_eq!((e.status, e.code.as_str()), (500, "storage_error"));
    /// let e = Error::from(StorageError::NotPermitted);
    /// assert_eq!((e.status, e.code.as_str()), (403, "not_permitted"));
    /// ```
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotPermitted => Self::new(
                403,
                "not_permitted",
                "storage is not enabled: set `storage = true` under [capabilities] in plugin.toml",
            ),
            StorageError::InvalidKey(why) => {
                Self::new(400, "invalid_key", format!("invalid storage key: {why}"))
            }
            StorageError::ValueTooLarge(size) => Self::new(
                413,
                "value_too_large",
                format!("a value of {size} bytes is too large to store"),
            ),
            StorageError::LimitExceeded(why) => Self::new(
                500,
                "storage_error",
                format!("storage limit exceeded: {why}"),
            ),
            StorageError::Backend(why) => {
                Self::new(500, "storage_error", format!("storage failed: {why}"))
            }
            StorageError::QuotaExceeded(refusal) => Self::new(
                500,
                "storage_error",
                format!("storage quota exceeded: {}", refusal.message),
            ),
        }
    }
}

impl From<PublishError> for Error {
    /// `not-permitted` → 403 `not_permitted`; `invalid-topic` → 500
    /// `invalid_topic`; `payload-too-large` → 413 `payload_too_large`;
    /// `unavailable` → 503 `unavailable`.
    ///
    /// ```
    /// use tessera_sdk::Error;
    /// use tessera_sdk::events::PublishError;
    ///
    /// let e = Error::from(PublishError::PayloadTooLarge(9_000_000));
    /// assert_eq!((e.status, e.code.as_str()), (413, "payload_too_large"));
    /// ```
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::NotPermitted(why) => Self::new(403, "not_permitted", why),
            PublishError::InvalidTopic(why) => Self::new(500, "invalid_topic", why),
            PublishError::PayloadTooLarge(size) => Self::new(
                413,
                "payload_too_large",
                format!("an event payload of {size} bytes is too large"),
            ),
            PublishError::Unavailable(why) => Self::new(503, "unavailable", why),
        }
    }
}

impl From<InvokeError> for Error {
    /// The code mirrors the case: `not-permitted` → 403 `not_permitted`,
    /// `not-found` → 404 `not_found`, `failed` → 502 `failed`, `too-deep` →
    /// 508 `too_deep`.
    ///
    /// ```
    /// use tessera_sdk::Error;
    /// use tessera_sdk::invoke::InvokeError;
    ///
    /// let e = Error::from(InvokeError::TooDeep(8));
    /// assert_eq!((e.status, e.code.as_str()), (508, "too_deep"));
    /// ```
    fn from(error: InvokeError) -> Self {
        match error {
            InvokeError::NotPermitted(why) => Self::new(403, "not_permitted", why),
            InvokeError::NotFound(why) => Self::new(404, "not_found", why),
            InvokeError::Failed(why) => Self::new(502, "failed", why),
            InvokeError::TooDeep(limit) => Self::new(
                508,
                "too_deep",
                format!("invocations nest deeper than the limit of {limit}"),
            ),
        }
    }
}

impl From<IdentityError> for Error {
    /// `invalid-argument` → 400 `invalid_argument`; `unavailable` → 503
    /// `unavailable`.
    ///
    /// ```
    /// use tessera_sdk::Error;
    /// use tessera_sdk::identity::IdentityError;
    ///
    /// let e = Error::from(IdentityError::Unavailable("restarting".into()));
    /// assert_eq!(e.status, 503);
    /// ```
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::InvalidArgument(why) => Self::new(400, "invalid_argument", why),
            IdentityError::Unavailable(why) => Self::new(503, "unavailable", why),
        }
    }
}

impl From<JobError> for Error {
    /// `invalid-schedule` and `invalid-name` → 400 `invalid_schedule` /
    /// `invalid_job_name`; `unavailable` → 503 `unavailable`.
    ///
    /// ```
    /// use tessera_sdk::Error;
    /// use tessera_sdk::jobs::JobError;
    ///
    /// let e = Error::from(JobError::InvalidSchedule("bad cron".into()));
    /// assert_eq!((e.status, e.code.as_str()), (400, "invalid_schedule"));
    /// ```
    fn from(error: JobError) -> Self {
        match error {
            JobError::InvalidSchedule(why) => Self::new(400, "invalid_schedule", why),
            JobError::InvalidName(why) => Self::new(400, "invalid_job_name", why),
            JobError::Unavailable(why) => Self::new(503, "unavailable", why),
        }
    }
}

impl From<OutboundError> for Error {
    /// `not-permitted` → 403 `not_permitted`; `invalid-url` → 500
    /// `invalid_url`; `timeout` → 504 `timeout`; anything else → 502
    /// `bad_gateway`.
    ///
    /// ```
    /// use tessera_sdk::Error;
    /// use tessera_sdk::bindings::tessera::plugin::outbound::OutboundError;
    ///
    /// let e = Error::from(OutboundError::Timeout);
    /// assert_eq!((e.status, e.code.as_str()), (504, "timeout"));
    /// ```
    fn from(error: OutboundError) -> Self {
        match error {
            OutboundError::NotPermitted(why) => Self::new(403, "not_permitted", why),
            OutboundError::InvalidUrl(why) => Self::new(500, "invalid_url", why),
            OutboundError::Timeout => Self::new(504, "timeout", "the outbound call timed out"),
            OutboundError::ResponseTooLarge(limit) => Self::new(
                502,
                "bad_gateway",
                format!("the response exceeded the limit of {limit} bytes"),
            ),
            OutboundError::Connection(why) | OutboundError::Unavailable(why) => {
                Self::new(502, "bad_gateway", why)
            }
        }
    }
}
