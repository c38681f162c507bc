//! Call another plugin's HTTP handler in-process, as the current principal.
//!
//! Allowed only towards plugins listed under `capabilities.invoke` in
//! `plugin.toml` (each also a dependency). Failures map to [`Error`]s whose
//! code mirrors the [`InvokeError`] case: `not_permitted` (403), `not_found`
//! (404), `failed` (502), `too_deep` (508).

use serde::de::DeserializeOwned;

use crate::bindings::tessera::plugin::invoke as wit;
pub use crate::bindings::tessera::plugin::invoke::InvokeError;
use crate::error::Error;
use crate::http::{Method, Request, Response};

/// Sends `request` to the plugin with id `plugin`; its path is relative to
/// that plugin's mount. Any response, whatever its status, is `Ok`.
///
/// ```no_run
/// use tessera_sdk::{invoke, Method, Request};
///
/// let response = invoke::call("tessera.hello", &Request::new(Method::Post, "/counter"))?;
/// println!("{}", response.status);
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn call(plugin: &str, request: &Request) -> Result<Response, Error> {
    Ok(wit::call(plugin, request)?)
}

/// `GET path` on `plugin`, parsing a 2xx JSON body as a `T`. A non-2xx answer
/// becomes an error with the callee's status, and with its code and message
/// when the body has the usual error shape.
///
/// ```no_run
/// #[derive(serde::Deserialize)]
/// struct Counter {
///     value: u64,
/// }
///
/// let counter: Counter = tessera_sdk::invoke::get_json("tessera.hello", "/counter")?;
/// # let _ = counter.value;
/// # Ok::<(), tessera_sdk::Error>(())
/// ```
pub fn get_json<T: DeserializeOwned>(plugin: &str, path: &str) -> Result<T, Error> {
    let request = Request::new(Method::Get, path).with_header("accept", "application/json");
    let response = call(plugin, &request)?;
    if !response.is_success() {
        return Err(callee_error(plugin, path, &response));
    }
    response.body_json()
}

/// The error a non-2xx response of a callee stands for.
fn callee_error(plugin: &str, path: &str, response: &Response) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(serde::Deserialize)]
    struct Detail {
        code: String,
        message: String,
    }
    match serde_json::from_slice::<Body>(&response.body) {
        Ok(body) => Error::new(response.status, body.error.code, body.error.message),
        Err(_) => Error::new(
            response.status,
            "invoke_error",
            format!("{plugin} answered GET {path} with {}", response.status),
        ),
    }
}
