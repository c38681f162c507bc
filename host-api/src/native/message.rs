//! The records crossing the native ABI, mirroring the WIT `http-types` and
//! `events` records, and their JSON encoding.
//!
//! Field names are the WIT names in `snake_case`; byte fields (`body`,
//! `payload`) are standard base64 with padding; headers are `[name, value]`
//! pairs. Unknown fields are ignored and missing optional fields take their
//! default, so a field can be added without a new ABI version.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Header fields as `(name, value)` pairs, names in lower case; a name may
/// appear more than once. As the WIT `http-types.headers`.
///
/// ```
/// let headers: tessera_host_api::native::Headers = vec![("accept".into(), "*/*".into())];
/// # let _ = headers;
/// ```
pub type Headers = Vec<(String, String)>;

/// Why a record could not be encoded or decoded.
///
/// ```
/// use tessera_host_api::native::NativeRequest;
///
/// let error = NativeRequest::from_bytes(b"not json").unwrap_err();
/// assert!(error.to_string().starts_with("the request is not valid native-ABI JSON"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not the JSON of the record (or the record could not be
    /// written as JSON).
    #[error("the {what} is not valid native-ABI JSON: {source}")]
    Json {
        /// Which record: `request`, `response` or `event`.
        what: &'static str,
        /// serde_json's account, with line and column.
        source: serde_json::Error,
    },
    /// A response's status is outside 100 to 599.
    #[error("the response status {0} is not an HTTP status (100 to 599)")]
    Status(u16),
}

/// An HTTP request routed to a native plugin: the WIT `http-types.request`.
///
/// Its JSON, as `tessera_native_handle` receives it:
///
/// ```json
/// {"method":"POST","path":"/echo","query":"pretty=1",
///  "headers":[["content-type","application/json"]],
///  "body":"eyJhIjoxfQ==","request_id":"3f1c..."}
/// ```
///
/// ```
/// use tessera_host_api::native::NativeRequest;
///
/// let request = NativeRequest {
///     body: br#"{"a":1}"#.to_vec(),
///     ..NativeRequest::new("POST", "/echo")
/// };
/// let bytes = request.to_bytes()?;
/// assert_eq!(NativeRequest::from_bytes(&bytes)?, request);
/// # Ok::<(), tessera_host_api::native::CodecError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeRequest {
    /// The method, upper case as sent: `GET`, `POST`, ... or any other.
    pub method: String,
    /// The path below the plugin's mount, starting with `/`: a request for
    /// `/api/acme/greet/ada` reaches the plugin mounted at `acme` as
    /// `/greet/ada`. Percent-encoding is kept as sent.
    pub path: String,
    /// The raw query string without the leading `?`, empty when absent.
    #[serde(default)]
    pub query: String,
    /// Request headers, hop-by-hop headers and the session cookie removed.
    #[serde(default)]
    pub headers: Headers,
    /// The request body (base64 in the JSON).
    #[serde(default, with = "base64_bytes")]
    pub body: Vec<u8>,
    /// The kernel's id for this request, also sent to the client as
    /// `x-request-id`. Log it to correlate.
    #[serde(default)]
    pub request_id: String,
}

impl NativeRequest {
    /// A request with this method and path and nothing else.
    ///
    /// ```
    /// let request = tessera_host_api::native::NativeRequest::new("GET", "/");
    /// assert!(request.body.is_empty() && request.query.is_empty());
    /// ```
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            ..Self::default()
        }
    }

    /// The first value of header `name`, compared case-insensitively.
    ///
    /// ```
    /// use tessera_host_api::native::NativeRequest;
    ///
    /// let request = NativeRequest {
    ///     headers: vec![("content-type".into(), "text/plain".into())],
    ///     ..NativeRequest::new("GET", "/")
    /// };
    /// assert_eq!(request.header("Content-Type"), Some("text/plain"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body parsed as JSON.
    ///
    /// ```
    /// use tessera_host_api::native::NativeRequest;
    ///
    /// let request = NativeRequest { body: b"[1,2]".to_vec(), ..NativeRequest::new("POST", "/") };
    /// assert_eq!(request.json::<Vec<u32>>()?, vec![1, 2]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The JSON bytes passed to `tessera_native_handle`.
    ///
    /// ```
    /// let bytes = tessera_host_api::native::NativeRequest::new("GET", "/").to_bytes()?;
    /// assert!(bytes.starts_with(br#"{"method":"GET""#));
    /// # Ok::<(), tessera_host_api::native::CodecError>(())
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        encode("request", self)
    }

    /// Decode the JSON bytes of a request.
    ///
    /// ```
    /// use tessera_host_api::native::NativeRequest;
    ///
    /// let request = NativeRequest::from_bytes(br#"{"method":"GET","path":"/"}"#)?;
    /// assert_eq!(request, NativeRequest::new("GET", "/"));
    /// # Ok::<(), tessera_host_api::native::CodecError>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        decode("request", bytes)
    }
}

/// A native plugin's answer: the WIT `http-types.response`.
///
/// Its JSON, as `tessera_native_handle` writes it to `out`:
///
/// ```json
/// {"status":200,"headers":[["content-type","application/json"]],"body":"eyJvayI6dHJ1ZX0="}
/// ```
///
/// ```
/// use tessera_host_api::native::NativeResponse;
///
/// let response = NativeResponse::json(200, &serde_json::json!({ "ok": true }));
/// let decoded = NativeResponse::from_bytes(&response.to_bytes()?)?;
/// assert_eq!(decoded.body, br#"{"ok":true}"#);
/// # Ok::<(), tessera_host_api::native::CodecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeResponse {
    /// HTTP status code, 100 to 599.
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: Headers,
    /// Response body (base64 in the JSON).
    #[serde(default, with = "base64_bytes")]
    pub body: Vec<u8>,
}

impl NativeResponse {
    /// A response with this status, no headers and no body.
    ///
    /// ```
    /// let response = tessera_host_api::native::NativeResponse::new(204);
    /// assert!(response.body.is_empty());
    /// ```
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response (`content-type: application/json`). A value that
    /// cannot be written as JSON (a map with non-string keys) gives a 500
    /// whose text says so.
    ///
    /// ```
    /// use tessera_host_api::native::NativeResponse;
    ///
    /// let response = NativeResponse::json(201, &serde_json::json!({ "id": 7 }));
    /// assert_eq!(response.header("content-type"), Some("application/json"));
    /// assert_eq!(response.body, br#"{"id":7}"#);
    /// ```
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status)
                .with_header("content-type", "application/json")
                .with_body(body),
            Err(error) => Self::text(500, &format!("cannot encode the response: {error}")),
        }
    }

    /// A plain-text response (`content-type: text/plain; charset=utf-8`).
    ///
    /// ```
    /// let response = tessera_host_api::native::NativeResponse::text(404, "no such route");
    /// assert_eq!(response.body, b"no such route");
    /// ```
    pub fn text(status: u16, text: &str) -> Self {
        Self::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(text.as_bytes().to_vec())
    }

    /// This response with one more header.
    ///
    /// ```
    /// let response = tessera_host_api::native::NativeResponse::new(200).with_header("x-a", "1");
    /// assert_eq!(response.header("x-a"), Some("1"));
    /// ```
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// This response with `body` as its body.
    ///
    /// ```
    /// let response = tessera_host_api::native::NativeResponse::new(200).with_body(b"hi".to_vec());
    /// assert_eq!(response.body, b"hi");
    /// ```
    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The first value of header `name`, compared case-insensitively.
    ///
    /// ```
    /// let response = tessera_host_api::native::NativeResponse::text(200, "hi");
    /// assert!(response.header("Content-Type").is_some_and(|value| value.starts_with("text/plain")));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The JSON bytes `tessera_native_handle` writes to `out`.
    ///
    /// ```
    /// let bytes = tessera_host_api::native::NativeResponse::new(204).to_bytes()?;
    /// assert_eq!(bytes, br#"{"status":204,"headers":[],"body":""}"#);
    /// # Ok::<(), tessera_host_api::native::CodecError>(())
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        encode("response", self)
    }

    /// Decode the JSON bytes of a response, refusing a status outside 100
    /// to 599.
    ///
    /// ```
    /// use tessera_host_api::native::NativeResponse;
    ///
    /// assert_eq!(NativeResponse::from_bytes(br#"{"status":200}"#)?.status, 200);
    /// assert!(NativeResponse::from_bytes(br#"{"status":42}"#).is_err());
    /// # Ok::<(), tessera_host_api::native::CodecError>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        let response: Self = decode("response", bytes)?;
        if !(100..=599).contains(&response.status) {
            return Err(CodecError::Status(response.status));
        }
        Ok(response)
    }
}

/// An event delivered to a native plugin: the WIT `events.event`.
///
/// Its JSON, as `tessera_native_on_event` receives it:
///
/// ```json
/// {"id":"01J...","topic":"cms.entry.published","payload":"eyJpZCI6N30=",
///  "source":"tessera.cms","published_at":1767225600000}
/// ```
///
/// ```
/// use tessera_host_api::native::NativeEvent;
///
/// let event = NativeEvent::new("cms.entry.published", br#"{"id":7}"#.to_vec());
/// assert_eq!(NativeEvent::from_bytes(&event.to_bytes()?)?, event);
/// # Ok::<(), tessera_host_api::native::CodecError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeEvent {
    /// Unique id of the event, stable across redeliveries: an id seen
    /// before is already handled.
    #[serde(default)]
    pub id: String,
    /// The dotted topic it was published on.
    pub topic: String,
    /// The payload, JSON by convention (base64 in the JSON).
    #[serde(default, with = "base64_bytes")]
    pub payload: Vec<u8>,
    /// Who published it: a plugin id, or `kernel`.
    #[serde(default)]
    pub source: String,
    /// When it was published, milliseconds since the Unix epoch.
    #[serde(default)]
    pub published_at: u64,
}

impl NativeEvent {
    /// An event on `topic` with `payload` and nothing else.
    ///
    /// ```
    /// let event = tessera_host_api::native::NativeEvent::new("iot.reading", b"{}".to_vec());
    /// assert_eq!(event.topic, "iot.reading");
    /// ```
    pub fn new(topic: impl Into<String>, payload: Vec<u8>) -> Self {
        Self {
            topic: topic.into(),
            payload,
            ..Self::default()
        }
    }

    /// The payload parsed as JSON.
    ///
    /// ```
    /// let event = tessera_host_api::native::NativeEvent::new("a.b", b"7".to_vec());
    /// assert_eq!(event.payload_json::<u32>()?, 7);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn payload_json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }

    /// The JSON bytes passed to `tessera_native_on_event`.
    ///
    /// ```
    /// let bytes = tessera_host_api::native::NativeEvent::new("a.b", Vec::new()).to_bytes()?;
    /// assert!(bytes.starts_with(br#"{"id":"","topic":"a.b""#));
    /// # Ok::<(), tessera_host_api::native::CodecError>(())
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        encode("event", self)
    }

    /// Decode the JSON bytes of an event.
    ///
    /// ```
    /// let event = tessera_host_api::native::NativeEvent::from_bytes(br#"{"topic":"a.b"}"#)?;
    /// assert_eq!(event.topic, "a.b");
    /// # Ok::<(), tessera_host_api::native::CodecError>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        decode("event", bytes)
    }
}

fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(value).map_err(|source| CodecError::Json { what, source })
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    serde_json::from_slice(bytes).map_err(|source| CodecError::Json { what, source })
}

/// Bytes as a standard, padded base64 string.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|error| serde::de::Error::custom(format!("invalid base64: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_request() -> NativeRequest {
        NativeRequest {
            method: "PATCH".into(),
            path: "/items/%2F7".into(),
            query: "a=1&b=%20".into(),
            headers: vec![
                ("content-type".into(), "application/octet-stream".into()),
                ("x-many".into(), "1".into()),
                ("x-many".into(), "2".into()),
            ],
            body: (0..=255).collect(),
            request_id: "req-1".into(),
        }
    }

    #[test]
    fn requests_responses_and_events_round_trip_with_any_bytes() {
        let request = sample_request();
        assert_eq!(
            NativeRequest::from_bytes(&request.to_bytes().unwrap()).unwrap(),
            request
        );
        let response = NativeResponse::new(418)
            .with_header("x-a", "b")
            .with_body(vec![0, 255, 10]);
        assert_eq!(
            NativeResponse::from_bytes(&response.to_bytes().unwrap()).unwrap(),
            response
        );
        let event = NativeEvent {
            id: "e1".into(),
            topic: "cms.entry.published".into(),
            payload: b"\x00\x01binary".to_vec(),
            source: "tessera.cms".into(),
            published_at: u64::MAX,
        };
        assert_eq!(
            NativeEvent::from_bytes(&event.to_bytes().unwrap()).unwrap(),
            event
        );
    }

    #[test]
    fn the_wire_format_is_the_documented_json() {
        let request = NativeRequest {
            body: b"hi".to_vec(),
            headers: vec![("a".into(), "b".into())],
            request_id: "r".into(),
            ..NativeRequest::new("GET", "/x")
        };
        let json: serde_json::Value = serde_json::from_slice(&request.to_bytes().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "method": "GET", "path": "/x", "query": "",
                "headers": [["a", "b"]], "body": "aGk=", "request_id": "r",
            })
        );
        let event = NativeEvent {
            published_at: 5,
            ..NativeEvent::new("a.b", b"{}".to_vec())
        };
        let json: serde_json::Value = serde_json::from_slice(&event.to_bytes().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "", "topic": "a.b", "payload": "e30=", "source": "", "published_at": 5,
            })
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_optional_ones_default() {
        let request =
            NativeRequest::from_bytes(br#"{"method":"GET","path":"/","added_in_a_later_minor":1}"#)
                .unwrap();
        assert_eq!(request, NativeRequest::new("GET", "/"));
        let response = NativeResponse::from_bytes(br#"{"status":204}"#).unwrap();
        assert_eq!(response, NativeResponse::new(204));
    }

    #[test]
    fn bad_input_is_refused_with_the_record_named() {
        let error = NativeRequest::from_bytes(br#"{"method":"GET"}"#).unwrap_err();
        assert!(
            error.to_string().contains("request") && error.to_string().contains("path"),
            "{error}"
        );
        let error = NativeRequest::from_bytes(br#"{"method":"GET","path":"/","body":"%%"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid base64"), "{error}");
        let error = NativeResponse::from_bytes(br#"{"status":600}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("600"), "{error}");
        let error = NativeEvent::from_bytes(b"").unwrap_err().to_string();
        assert!(error.starts_with("the event is not valid"), "{error}");
    }

    #[test]
    fn headers_are_found_case_insensitively_first_value_first() {
        let request = sample_request();
        assert_eq!(request.header("X-Many"), Some("1"));
        assert_eq!(request.header("missing"), None);
    }
}
