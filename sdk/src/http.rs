//! Helpers on the generated HTTP types: reading a [`Request`], building a
//! [`Response`], naming a [`Method`].

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::bindings::tessera::plugin::http_types::{Headers, Method, Request, Response};
use crate::error::Error;
use crate::percent;

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

fn find_header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

impl Request {
    /// A request to send with [`invoke::call`](crate::invoke::call). A `?` in
    /// `path` splits off the query string. Headers and body start empty, and
    /// so does `request_id`.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Get, "/entries?tag=news");
    /// assert_eq!(req.path, "/entries");
    /// assert_eq!(req.query("tag").as_deref(), Some("news"));
    /// ```
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let mut path = path.into();
        let query = match path.split_once('?') {
            Some((_, query)) => query.to_owned(),
            None => String::new(),
        };
        if let Some(at) = path.find('?') {
            path.truncate(at);
        }
        Self {
            method,
            path,
            query,
            headers: Vec::new(),
            body: Vec::new(),
            request_id: String::new(),
        }
    }

    /// This request with one more header (the name is lower-cased).
    ///
    /// ```
    /// use tessera_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Get, "/").with_header("Accept", "application/json");
    /// assert_eq!(req.header("accept"), Some("application/json"));
    /// ```
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// This request with `body` as its body.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Put, "/notes/1").with_body("remember the milk");
    /// assert_eq!(req.text().ok(), Some("remember the milk"));
    /// ```
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// This request with `value` serialised as a JSON body and
    /// `content-type: application/json`. Fails (500) only when `value`
    /// cannot be serialised.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Post, "/echo").with_json(&serde_json::json!({"a": 1}))?;
    /// assert_eq!(req.header("content-type"), Some("application/json"));
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn with_json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::internal(format!("cannot serialise the request body: {e}")))?;
        Ok(self.with_header("content-type", JSON).with_body(body))
    }

    /// The body parsed as JSON; a 400 `invalid_json` error (with serde's
    /// message) when it does not parse as a `T`.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use tessera_sdk::{Error, Params, Request, Response};
    ///
    /// #[derive(Deserialize)]
    /// struct NewNote {
    ///     title: String,
    /// }
    ///
    /// fn create(req: &Request, _: &Params) -> Result<Response, Error> {
    ///     let note: NewNote = req.json()?;
    ///     Ok(Response::json(201, &serde_json::json!({ "title": note.title })))
    /// }
    /// # let _ = create;
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// The body as UTF-8 text; a 400 `invalid_utf8` error when it is not.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Post, "/").with_body(vec![0xff]);
    /// assert_eq!(req.text().unwrap_err().code, "invalid_utf8");
    /// ```
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|e| {
            Error::new(
                400,
                "invalid_utf8",
                format!("the request body is not UTF-8: {e}"),
            )
        })
    }

    /// The first value of the header `name`, compared case-insensitively.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Get, "/").with_header("x-trace", "abc");
    /// assert_eq!(req.header("X-Trace"), Some("abc"));
    /// assert_eq!(req.header("x-missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The first value of the query parameter `name`, percent-decoded with
    /// `+` read as a space. A parameter without `=` has the value `""`.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Get, "/search?q=caf%C3%A9+au+lait&page=2&raw");
    /// assert_eq!(req.query("q").as_deref(), Some("café au lait"));
    /// assert_eq!(req.query("raw").as_deref(), Some(""));
    /// assert_eq!(req.query("missing"), None);
    /// ```
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// Every query parameter in order, names and values percent-decoded.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request};
    ///
    /// let req = Request::new(Method::Get, "/?tag=a&tag=b");
    /// let tags: Vec<String> = req
    ///     .query_pairs()
    ///     .into_iter()
    ///     .filter(|(k, _)| k == "tag")
    ///     .map(|(_, v)| v)
    ///     .collect();
    /// assert_eq!(tags, ["a", "b"]);
    /// ```
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent::decode(key, true), percent::decode(value, true))
            })
            .collect()
    }
}

impl Response {
    /// A response with `value` serialised as JSON and `content-type:
    /// application/json`. Should serialisation fail, the response is a 500
    /// error instead.
    ///
    /// ```
    /// use tessera_sdk::Response;
    ///
    /// let r = Response::json(201, &serde_json::json!({ "id": 7 }));
    /// assert_eq!(r.status, 201);
    /// assert_eq!(r.header("content-type"), Some("application/json"));
    /// assert_eq!(r.body, br#"{"id":7}"#);
    /// ```
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self {
                status,
                headers: vec![("content-type".to_owned(), JSON.to_owned())],
                body,
            },
            Err(e) => Error::internal(format!("cannot serialise the response: {e}")).into(),
        }
    }

    /// [`Response::json`] with status 200.
    ///
    /// ```
    /// use tessera_sdk::Response;
    ///
    /// let r = Response::ok_json(&serde_json::json!({ "ok": true }));
    /// assert_eq!(r.status, 200);
    /// ```
    pub fn ok_json<T: Serialize + ?Sized>(value: &T) -> Self {
        Self::json(200, value)
    }

    /// A plain-text response (`content-type: text/plain; charset=utf-8`).
    ///
    /// ```
    /// use tessera_sdk::Response;
    ///
    /// let r = Response::text(200, "pong");
    /// assert_eq!(r.body, b"pong");
    /// ```
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), TEXT.to_owned())],
            body: text.into().into_bytes(),
        }
    }

    /// A response with no headers and no body, such as a 204.
    ///
    /// ```
    /// use tessera_sdk::Response;
    ///
    /// let r = Response::empty(204);
    /// assert!(r.body.is_empty() && r.headers.is_empty());
    /// ```
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// This response with one more header (the name is lower-cased).
    ///
    /// ```
    /// use tessera_sdk::Response;
    ///
    /// let r = Response::empty(201).with_header("Location", "/api/notes/notes/7");
    /// assert_eq!(r.header("location"), Some("/api/notes/notes/7"));
    /// ```
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// The first value of the header `name`, compared case-insensitively.
    ///
    /// ```
    /// use tessera_sdk::Response;
    ///
    /// assert_eq!(Response::text(200, "x").header("Content-Type"), Some("text/plain; charset=utf-8"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the status is 2xx.
    ///
    /// ```
    /// use tessera_sdk::Response;
    ///
    /// assert!(Response::empty(204).is_success());
    /// assert!(!Response::empty(404).is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON, for responses from
    /// [`invoke::call`](crate::invoke::call); a 502 `invalid_response` error
    /// when it does not parse as a `T`.
    ///
    /// ```
    /// use tessera_sdk::Response;
    ///
    /// let r = Response::ok_json(&serde_json::json!({ "value": 3 }));
    /// let v: serde_json::Value = r.body_json()?;
    /// assert_eq!(v["value"], 3);
    /// # Ok::<(), tessera_sdk::Error>(())
    /// ```
    pub fn body_json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                502,
                "invalid_response",
                format!("the response body is not the expected JSON: {e}"),
            )
        })
    }
}

impl Method {
    /// The method's name, upper-case: `GET`, `POST`, or the text of
    /// [`Method::Other`].
    ///
    /// ```
    /// use tessera_sdk::Method;
    ///
    /// assert_eq!(Method::Delete.as_str(), "DELETE");
    /// assert_eq!(Method::Other("PURGE".into()).as_str(), "PURGE");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(name) => name,
        }
    }
}

impl fmt::Display for Method {
    /// Writes [`Method::as_str`].
    ///
    /// ```
    /// assert_eq!(tessera_sdk::Method::Patch.to_string(), "PATCH");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Method {
    /// The method named `name`, compared case-insensitively; unknown names
    /// become [`Method::Other`] in upper case.
    ///
    /// ```
    /// use tessera_sdk::Method;
    ///
    /// assert_eq!(Method::from("get"), Method::Get);
    /// assert_eq!(Method::from("purge"), Method::Other("PURGE".into()));
    /// ```
    fn from(name: &str) -> Self {
        match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other(name.to_ascii_uppercase()),
        }
    }
}
