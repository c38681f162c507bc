//! The kernel's HTTP client for plugins' outbound calls (`tessera:plugin/
//! outbound`). One pooled hyper client with rustls (ring, Mozilla's roots
//! built in) serves every plugin; the host function checks the manifest's
//! origins and quotas before a request gets here.
//!
//! What it guarantees, whatever the plugin asks:
//! - a deadline: the plugin's timeout, capped by [`MAX_TIMEOUT`] and by
//!   what is left of the calling request's own deadline;
//! - bounded bodies: requests up to [`MAX_REQUEST_BYTES`], responses up to
//!   [`MAX_RESPONSE_BYTES`] (read incrementally and cut off there);
//! - no redirects followed (a redirect could leave the allowed origins: the
//!   plugin sees the 3xx and decides);
//! - hop-by-hop headers dropped both ways; `host` comes from the URL.
//!
//! Nothing about a call's headers, query string or body is logged: they
//! may carry credentials.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The default time limit of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest time limit a plugin may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request body sent.
pub const MAX_REQUEST_BYTES: usize = 8 << 20;
/// The largest response body read.
pub const MAX_RESPONSE_BYTES: u64 = 8 << 20;

/// Headers that describe one connection, not the message.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundFailure {
    /// The URL or a header cannot be sent.
    #[error("{0}")]
    Invalid(String),
    /// No complete answer within the time limit.
    #[error("no answer within the time limit")]
    Timeout,
    /// The response body exceeded the limit (carried).
    #[error("the response is larger than {0} bytes")]
    TooLarge(u64),
    /// Connecting or talking to the service failed.
    #[error("{0}")]
    Connection(String),
}

/// An outbound request, as the host function hands it over.
#[derive(Debug, Clone)]
pub struct OutboundCall {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The absolute http(s) URL.
    pub url: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// The time limit.
    pub timeout: Duration,
}

/// An outbound response.
#[derive(Debug, Clone)]
pub struct OutboundReply {
    /// The status code.
    pub status: u16,
    /// Response headers (hop-by-hop ones dropped).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The shared client.
#[derive(Clone)]
pub struct OutboundClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("OutboundClient")
    }
}

impl OutboundClient {
    /// A client trusting Mozilla's root certificates, for http and https.
    pub fn new() -> Result<Self, OutboundFailure> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| OutboundFailure::Connection(format!("TLS setup: {error}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { client })
    }

    /// Sends `call` and reads the whole response within its time limit.
    pub async fn send(&self, call: OutboundCall) -> Result<OutboundReply, OutboundFailure> {
        if call.body.len() > MAX_REQUEST_BYTES {
            return Err(OutboundFailure::Invalid(format!(
                "the request body is larger than {MAX_REQUEST_BYTES} bytes"
            )));
        }
        let request = build_request(&call)?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| OutboundFailure::Connection(connection_error(&error)))?;
            let status = response.status().as_u16();
            let headers = kept_headers(response.headers());
            let body = Limited::new(response.into_body(), limit_usize())
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        OutboundFailure::TooLarge(MAX_RESPONSE_BYTES)
                    } else {
                        OutboundFailure::Connection(format!("reading the response: {error}"))
                    }
                })?
                .to_bytes()
                .to_vec();
            Ok(OutboundReply {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(call.timeout, exchange)
            .await
            .map_err(|_| OutboundFailure::Timeout)?
    }
}

fn limit_usize() -> usize {
    usize::try_from(MAX_RESPONSE_BYTES).unwrap_or(usize::MAX)
}

/// The error text of a failed exchange, with its underlying cause.
fn connection_error(error: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    match error.source() {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

fn build_request(call: &OutboundCall) -> Result<http::Request<Full<Bytes>>, OutboundFailure> {
    let method = http::Method::from_bytes(call.method.as_bytes()).map_err(|_| {
        OutboundFailure::Invalid(format!("`{}` is not an HTTP method", call.method))
    })?;
    let uri: http::Uri = call
        .url
        .parse()
        .map_err(|error| OutboundFailure::Invalid(format!("`{}`: {error}", call.url)))?;
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in &call.headers {
        if HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| OutboundFailure::Invalid(format!("`{name}` is not a header name")))?;
        let value = http::HeaderValue::from_str(value).map_err(|_| {
            OutboundFailure::Invalid(format!("the value of header `{name}` cannot be sent"))
        })?;
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(call.body.clone())))
        .map_err(|error| OutboundFailure::Invalid(error.to_string()))
}

fn kept_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// The time limit of a call: what the plugin asked (else
/// [`DEFAULT_TIMEOUT`]), at most [`MAX_TIMEOUT`] and at most `left` (what
/// remains of the calling request's deadline).
pub fn time_limit(asked_ms: Option<u32>, left: Option<Duration>) -> Duration {
    let asked = asked_ms.map_or(DEFAULT_TIMEOUT, |ms| Duration::from_millis(u64::from(ms)));
    let capped = asked.min(MAX_TIMEOUT);
    match left {
        Some(left) => capped.min(left),
        None => capped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_are_capped_by_the_maximum_and_the_deadline() {
        assert_eq!(time_limit(None, None), DEFAULT_TIMEOUT);
        assert_eq!(time_limit(Some(120_000), None), MAX_TIMEOUT);
        assert_eq!(
            time_limit(Some(5_000), Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn hop_by_hop_headers_are_not_sent_and_bad_ones_are_named() {
        let call = OutboundCall {
            method: "POST".into(),
            url: "http://127.0.0.1:9/x".into(),
            headers: vec![
                ("Connection".into(), "close".into()),
                ("x-sig".into(), "abc".into()),
            ],
            body: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        };
        let request = build_request(&call).unwrap();
        assert!(request.headers().get("connection").is_none());
        assert_eq!(request.headers()["x-sig"], "abc");
        let bad = OutboundCall {
            headers: vec![("bad header".into(), "x".into())],
            ..call
        };
        assert!(
            build_request(&bad)
                .unwrap_err()
                .to_string()
                .contains("bad header")
        );
    }
}
