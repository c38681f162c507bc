//! The smallest Tessera native plugin: a shared library the kernel loads
//! into its own process through the native C ABI of `tessera-host-api`.
//!
//! - `GET /` answers `{"plugin":"native-hello","native":true}`;
//! - `GET /greet/:name` answers `{"message":"Hello, <name>!"}`;
//! - `POST /echo` answers `{"echo": <the JSON body>}`;
//! - `GET /panic` panics, to show that a panic fails only its own request.
//!
//! Events are acknowledged and nothing is recorded.
//!
//! Native code runs with all of the kernel's rights: the kernel loads it only
//! from a package signed by a trusted key, and only when the administrator
//! enabled native plugins. See `docs/native-plugins.md`.

use serde_json::{Value, json};
use tessera_host_api::native::{NativeEvent, NativeRequest, NativeResponse};

/// Serve one request under the plugin's mount.
pub fn handle(request: NativeRequest) -> NativeResponse {
    let method = request.method.as_str();
    let path = request.path.as_str();
    if let Some(name) = path.strip_prefix("/greet/") {
        return match method {
            "GET" => greet(name),
            _ => not_allowed("GET"),
        };
    }
    match (method, path) {
        ("GET", "/") => {
            NativeResponse::json(200, &json!({ "plugin": "native-hello", "native": true }))
        }
        ("POST", "/echo") => match request.json::<Value>() {
            Ok(body) => NativeResponse::json(200, &json!({ "echo": body })),
            Err(error) => error_response(
                400,
                "bad_request",
                &format!("the body is not JSON: {error}"),
            ),
        },
        ("GET", "/panic") => panic_on_purpose(&request.request_id),
        (_, "/" | "/echo" | "/panic") => not_allowed(if path == "/echo" { "POST" } else { "GET" }),
        _ => error_response(404, "not_found", &format!("no route for {path}")),
    }
}

/// Receive one event: nothing to record, so every event is acknowledged.
pub fn on_event(_event: NativeEvent) -> Result<(), String> {
    Ok(())
}

tessera_host_api::export_native_plugin!(handle, on_event);

fn greet(raw_name: &str) -> NativeResponse {
    match percent_decode(raw_name) {
        Some(name) if !name.is_empty() && !name.contains('/') => {
            NativeResponse::json(200, &json!({ "message": format!("Hello, {name}!") }))
        }
        _ => error_response(
            400,
            "bad_request",
            "the name must be one non-empty path segment of UTF-8",
        ),
    }
}

#[allow(
    clippy::panic,
    reason = "this route exists to show that a panic is contained"
)]
fn panic_on_purpose(request_id: &str) -> NativeResponse {
    panic!("native-hello panicked on purpose (request {request_id})")
}

fn not_allowed(allowed: &str) -> NativeResponse {
    error_response(405, "method_not_allowed", &format!("use {allowed}"))
        .with_header("allow", allowed)
}

/// `{"error":{"code":...,"message":...}}`, as the kernel and the SDK answer.
fn error_response(status: u16, code: &str, message: &str) -> NativeResponse {
    NativeResponse::json(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
}

/// Decode `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &NativeResponse) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn routes_answer_as_documented() {
        let root = handle(NativeRequest::new("GET", "/"));
        assert_eq!(
            body(&root),
            json!({ "plugin": "native-hello", "native": true })
        );
        let greet = handle(NativeRequest::new("GET", "/greet/ada%20lovelace"));
        assert_eq!(body(&greet)["message"], "Hello, ada lovelace!");
        let echo = handle(NativeRequest {
            body: br#"{"a":[1,2]}"#.to_vec(),
            ..NativeRequest::new("POST", "/echo")
        });
        assert_eq!(body(&echo), json!({ "echo": { "a": [1, 2] } }));
    }

    #[test]
    fn wrong_methods_unknown_paths_and_bad_input_are_json_errors() {
        assert_eq!(handle(NativeRequest::new("GET", "/echo")).status, 405);
        assert_eq!(handle(NativeRequest::new("POST", "/greet/x")).status, 405);
        assert_eq!(handle(NativeRequest::new("GET", "/nope")).status, 404);
        assert_eq!(handle(NativeRequest::new("GET", "/greet/%zz")).status, 400);
        assert_eq!(handle(NativeRequest::new("GET", "/greet/")).status, 400);
        assert_eq!(handle(NativeRequest::new("POST", "/echo")).status, 400);
    }
}
