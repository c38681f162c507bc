//! [`Router`]: maps a method and a path pattern to a handler.

use std::cmp::Ordering;
use std::str::FromStr;

use crate::error::Error;
use crate::http::{Method, Request, Response};
use crate::percent;

/// A route handler: a function or closure from a request and its path
/// parameters to a response. Return an [`Error`] to answer with an error
/// body.
///
/// ```no_run
/// use tessera_sdk::{Error, Handler, Params, Request, Response};
///
/// let handler: Handler = Box::new(|_req: &Request, _params: &Params| {
///     Ok(Response::text(200, "hi"))
/// });
/// # let _ = handler;
/// ```
pub type Handler = Box<dyn Fn(&Request, &Params) -> Result<Response, Error>>;

/// The path parameters of a matched route: `:name` segments and a final
/// `*rest` wildcard, percent-decoded.
///
/// ```
/// use tessera_sdk::{Method, Request, Response, Router};
///
/// let router = Router::new().get("/files/:owner/*path", |_, params| {
///     let owner = params.require("owner")?;
///     let path = params.get("path").unwrap_or_default();
///     Ok(Response::text(200, format!("{owner}:{path}")))
/// });
/// let r = router.handle(Request::new(Method::Get, "/files/ada/notes/2024.txt"));
/// assert_eq!(r.body, b"ada:notes/2024.txt");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The value of the parameter `name`, if the route has one.
    ///
    /// ```no_run
    /// use tessera_sdk::{Params, Request, Response, Error};
    ///
    /// fn greet(_: &Request, params: &Params) -> Result<Response, Error> {
    ///     let name = params.get("name").unwrap_or("stranger");
    ///     Ok(Response::text(200, format!("hello {name}")))
    /// }
    /// # let _ = greet;
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of the parameter `name`, or a 400 `missing_param` error.
    ///
    /// ```no_run
    /// use tessera_sdk::{Params, Request, Response, Error};
    ///
    /// fn show(_: &Request, params: &Params) -> Result<Response, Error> {
    ///     let id = params.require("id")?;
    ///     Ok(Response::text(200, id))
    /// }
    /// # let _ = show;
    /// ```
    pub fn require(&self, name: &str) -> Result<&str, Error> {
        self.get(name).ok_or_else(|| {
            Error::new(
                400,
                "missing_param",
                format!("missing path parameter `{name}`"),
            )
        })
    }

    /// The parameter `name` parsed with [`FromStr`], or a 400 error
    /// (`missing_param`, or `invalid_param` when it does not parse).
    ///
    /// ```
    /// use tessera_sdk::{Method, Request, Response, Router};
    ///
    /// let router = Router::new().get("/page/:n", |_, params| {
    ///     let n: u32 = params.parse("n")?;
    ///     Ok(Response::ok_json(&n))
    /// });
    /// assert_eq!(router.handle(Request::new(Method::Get, "/page/3")).status, 200);
    /// assert_eq!(router.handle(Request::new(Method::Get, "/page/x")).status, 400);
    /// ```
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.require(name)?;
        raw.parse().map_err(|e| {
            Error::new(
                400,
                "invalid_param",
                format!("path parameter `{name}` ({raw:?}) is invalid: {e}"),
            )
        })
    }

    /// Every parameter as (name, value), in pattern order.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request, Response, Router};
    ///
    /// let router = Router::new().get("/:a/:b", |_, params| {
    ///     Ok(Response::ok_json(&params.iter().collect::<Vec<_>>()))
    /// });
    /// let r = router.handle(Request::new(Method::Get, "/x/y"));
    /// assert_eq!(r.body, br#"[["a","x"],["b","y"]]"#);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

impl Segment {
    /// Precedence: literal segments beat parameters, which beat the wildcard.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Rest(_) => 2,
        }
    }
}

struct Route {
    method: Method,
    pattern: String,
    segments: Vec<Segment>,
    handler: Handler,
}

/// Splits a path into segments, ignoring one trailing slash (`/a/` is `/a`).
fn split_path(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    split_path(pattern)
        .into_iter()
        .map(|segment| {
            if let Some(name) = segment.strip_prefix(':') {
                Segment::Param(name.to_owned())
            } else if let Some(name) = segment.strip_prefix('*') {
                Segment::Rest(name.to_owned())
            } else {
                Segment::Literal(segment.to_owned())
            }
        })
        .collect()
}

impl Route {
    /// The parameters when `path` (already split) matches this route.
    fn matches(&self, path: &[&str]) -> Option<Params> {
        let mut pairs = Vec::new();
        let mut rest = path;
        for segment in &self.segments {
            match segment {
                Segment::Rest(name) => {
                    pairs.push((name.clone(), percent::decode(&rest.join("/"), false)));
                    return Some(Params { pairs });
                }
                Segment::Literal(literal) => {
                    let (first, tail) = rest.split_first()?;
                    if first != literal {
                        return None;
                    }
                    rest = tail;
                }
                Segment::Param(name) => {
                    let (first, tail) = rest.split_first()?;
                    pairs.push((name.clone(), percent::decode(first, false)));
                    rest = tail;
                }
            }
        }
        rest.is_empty().then_some(Params { pairs })
    }

    /// Compares precedence: the route whose segments are more specific,
    /// earliest segment first, wins.
    fn precedence(&self, other: &Route) -> Ordering {
        let ours = self.segments.iter().map(Segment::rank);
        let theirs = other.segments.iter().map(Segment::rank);
        ours.cmp(theirs)
    }
}

/// Routes requests to handlers by method and path.
///
/// Patterns are paths whose segments are literals, `:name` parameters (one
/// segment) or, last, a `*name` wildcard (the rest of the path, possibly
/// empty). When several patterns match, literal segments win over
/// parameters and parameters over the wildcard; ties go to the route added
/// first. A trailing slash is ignored, so `/counter/` matches `/counter`.
///
/// Unmatched paths get a 404 `not_found` error; a path that matches under
/// other methods gets a 405 `method_not_allowed` error with an `allow`
/// header.
///
/// Routers are plain values: test them natively with [`Router::handle`],
/// as long as the handlers under test do not call the kernel.
///
/// ```
/// use tessera_sdk::{Method, Request, Response, Router};
///
/// let router = Router::new()
///     .get("/greet/:name", |_, p| Ok(Response::text(200, format!("hi {}", p.require("name")?))))
///     .post("/counter", |_, _| Ok(Response::empty(204)));
///
/// assert_eq!(router.handle(Request::new(Method::Get, "/greet/ada/")).body, b"hi ada");
/// assert_eq!(router.handle(Request::new(Method::Get, "/nope")).status, 404);
/// let r = router.handle(Request::new(Method::Get, "/counter"));
/// assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// A router without routes.
    ///
    /// ```
    /// let router = tessera_sdk::Router::new();
    /// assert!(router.routes().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route for `method` and `pattern`.
    ///
    /// ```
    /// use tessera_sdk::{Method, Response, Router};
    ///
    /// let router = Router::new().route(Method::Options, "/", |_, _| {
    ///     Ok(Response::empty(204).with_header("allow", "GET, OPTIONS"))
    /// });
    /// assert_eq!(router.routes(), ["OPTIONS /"]);
    /// ```
    pub fn route<F>(mut self, method: Method, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.routes.push(Route {
            method,
            pattern: pattern.to_owned(),
            segments: parse_pattern(pattern),
            handler: Box::new(handler),
        });
        self
    }

    /// Adds a `GET` route.
    ///
    /// ```
    /// use tessera_sdk::{Response, Router};
    ///
    /// let router = Router::new().get("/", |_, _| Ok(Response::text(200, "home")));
    /// # let _ = router;
    /// ```
    pub fn get<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route(Method::Get, pattern, handler)
    }

    /// Adds a `POST` route.
    ///
    /// ```
    /// use tessera_sdk::{Response, Router};
    ///
    /// let router = Router::new().post("/notes", |req, _| Ok(Response::json(201, &req.json::<serde_json::Value>()?)));
    /// # let _ = router;
    /// ```
    pub fn post<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route(Method::Post, pattern, handler)
    }

    /// Adds a `PUT` route.
    ///
    /// ```
    /// use tessera_sdk::{Response, Router};
    ///
    /// let router = Router::new().put("/notes/:id", |_, _| Ok(Response::empty(204)));
    /// # let _ = router;
    /// ```
    pub fn put<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route(Method::Put, pattern, handler)
    }

    /// Adds a `PATCH` route.
    ///
    /// ```
    /// use tessera_sdk::{Response, Router};
    ///
    /// let router = Router::new().patch("/notes/:id", |_, _| Ok(Response::empty(204)));
    /// # let _ = router;
    /// ```
    pub fn patch<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route(Method::Patch, pattern, handler)
    }

    /// Adds a `DELETE` route.
    ///
    /// ```
    /// use tessera_sdk::{Response, Router};
    ///
    /// let router = Router::new().delete("/notes/:id", |_, _| Ok(Response::empty(204)));
    /// # let _ = router;
    /// ```
    pub fn delete<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &Params) -> Result<Response, Error> + 'static,
    {
        self.route(Method::Delete, pattern, handler)
    }

    /// Every route as `"<METHOD> <pattern>"`, in the order they were added.
    ///
    /// ```
    /// use tessera_sdk::{Response, Router};
    ///
    /// let router = Router::new()
    ///     .get("/", |_, _| Ok(Response::empty(204)))
    ///     .post("/counter", |_, _| Ok(Response::empty(204)));
    /// assert_eq!(router.routes(), ["GET /", "POST /counter"]);
    /// ```
    pub fn routes(&self) -> Vec<String> {
        self.routes
            .iter()
            .map(|route| format!("{} {}", route.method, route.pattern))
            .collect()
    }

    /// Dispatches `request` to the best matching route and turns an
    /// [`Error`] into its response. This is what
    /// [`export_plugin!`](crate::export_plugin) calls for every request.
    ///
    /// ```
    /// use tessera_sdk::{Method, Request, Response, Router};
    ///
    /// let router = Router::new().get("/ping", |_, _| Ok(Response::text(200, "pong")));
    /// let r = router.handle(Request::new(Method::Get, "/ping"));
    /// assert_eq!(r.body, b"pong");
    /// let r = router.handle(Request::new(Method::Get, "/x"));
    /// assert_eq!(r.body, br#"{"error":{"code":"not_found","message":"no route for GET /x"}}"#);
    /// ```
    pub fn handle(&self, request: Request) -> Response {
        self.dispatch(&request).unwrap_or_else(Error::into_response)
    }

    /// Runs the best matching route; a handler's error (or the router's own
    /// 404) is returned as it is.
    pub(crate) fn dispatch(&self, request: &Request) -> Result<Response, Error> {
        let path = split_path(&request.path);
        let mut best: Option<(&Route, Params)> = None;
        let mut allowed: Vec<&Method> = Vec::new();
        for route in &self.routes {
            let Some(params) = route.matches(&path) else {
                continue;
            };
            if route.method != request.method {
                if !allowed.contains(&&route.method) {
                    allowed.push(&route.method);
                }
                continue;
            }
            let better = match &best {
                Some((current, _)) => route.precedence(current) == Ordering::Less,
                None => true,
            };
            if better {
                best = Some((route, params));
            }
        }
        if let Some((route, params)) = best {
            return (route.handler)(request, &params);
        }
        if allowed.is_empty() {
            return Err(Error::not_found(format!(
                "no route for {} {}",
                request.method, request.path
            )));
        }
        let allow = allowed
            .iter()
            .map(|method| method.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let error = Error::new(
            405,
            "method_not_allowed",
            format!(
                "{} is not allowed on {}; allowed: {allow}",
                request.method, request.path
            ),
        );
        Ok(error.into_response().with_header("allow", allow))
    }
}

impl std::fmt::Debug for Router {
    /// Lists the routes.
    ///
    /// ```
    /// let router = tessera_sdk::Router::new().get("/", |_, _| Ok(tessera_sdk::Response::empty(204)));
    /// assert_eq!(format!("{router:?}"), r#"Router { routes: ["GET /"] }"#);
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(tag: &'static str) -> impl Fn(&Request, &Params) -> Result<Response, Error> {
        move |_, params| {
            Ok(Response::ok_json(
                &serde_json::json!({ "route": tag, "params": params.iter().collect::<Vec<_>>() }),
            ))
        }
    }

    fn call(router: &Router, method: Method, path: &str) -> (u16, serde_json::Value) {
        let response = router.handle(Request::new(method, path));
        let body = serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null);
        (response.status, body)
    }

    #[test]
    fn literal_beats_param_beats_wildcard() {
        let router = Router::new()
            .get("/items/*rest", ok("rest"))
            .get("/items/:id", ok("param"))
            .get("/items/new", ok("literal"));
        assert_eq!(
            call(&router, Method::Get, "/items/new").1["route"],
            "literal"
        );
        assert_eq!(call(&router, Method::Get, "/items/7").1["route"], "param");
        assert_eq!(call(&router, Method::Get, "/items/7/x").1["route"], "rest");
        assert_eq!(call(&router, Method::Get, "/items").1["route"], "rest");
    }

    #[test]
    fn root_and_trailing_slash() {
        let router = Router::new().get("/", ok("root")).get("/counter", ok("c"));
        assert_eq!(call(&router, Method::Get, "/").1["route"], "root");
        assert_eq!(call(&router, Method::Get, "").1["route"], "root");
        assert_eq!(call(&router, Method::Get, "/counter/").1["route"], "c");
        assert_eq!(call(&router, Method::Get, "/counter//").0, 404);
    }

    #[test]
    fn params_are_decoded() {
        let router = Router::new().get("/greet/:name", ok("g"));
        let (status, body) = call(&router, Method::Get, "/greet/Ada%20Lovelace");
        assert_eq!(status, 200);
        assert_eq!(body["params"][0][1], "Ada Lovelace");
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        let router = Router::new()
            .get("/counter", ok("get"))
            .post("/counter", ok("post"))
            .post("/counter/", ok("post again"));
        let (status, body) = call(&router, Method::Get, "/x");
        assert_eq!(status, 404);
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "not_found", "message": "no route for GET /x"}})
        );
        let response = router.handle(Request::new(Method::Delete, "/counter"));
        assert_eq!(response.status, 405);
        assert_eq!(response.header("allow"), Some("GET, POST"));
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    #[test]
    fn other_methods_route() {
        let router = Router::new().route(Method::Other("PURGE".into()), "/cache", ok("purge"));
        assert_eq!(
            call(&router, Method::Other("PURGE".into()), "/cache").1["route"],
            "purge"
        );
    }
}
