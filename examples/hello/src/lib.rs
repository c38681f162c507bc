//! The smallest useful Tessera plugin: a greeting from config, a counter in
//! storage, a JSON echo and the caller's identity.

use serde_json::{Value, json};
use tessera_sdk::prelude::*;

struct Hello;

impl Plugin for Hello {
    fn router() -> Router {
        Router::new()
            .get("/", |_, _| {
                Ok(Response::ok_json(
                    &json!({ "plugin": "hello", "routes": Hello::router().routes() }),
                ))
            })
            .get("/greet/:name", |_, params| {
                let greeting = config::get_or("greeting", "Hello");
                let name = params.require("name")?;
                Ok(Response::ok_json(
                    &json!({ "message": format!("{greeting}, {name}!") }),
                ))
            })
            .get("/counter", |_, _| {
                let value: u64 = storage::get_json("counter")?.unwrap_or(0);
                Ok(Response::ok_json(&json!({ "value": value })))
            })
            .post("/counter", |_, _| {
                let value = storage::update_json("counter", |n: Option<u64>| n.unwrap_or(0) + 1)?;
                Ok(Response::ok_json(&json!({ "value": value })))
            })
            .post("/echo", |req, _| {
                let body: Value = req.json()?;
                Ok(Response::ok_json(&json!({ "echo": body })))
            })
            .get("/whoami", |_, _| {
                Ok(Response::ok_json(&identity::current()))
            })
    }
}

export_plugin!(Hello);
