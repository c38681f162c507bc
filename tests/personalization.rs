//! The personalisation plugin end to end, against the real binary with the
//! CMS and the personalisation plugin compiled to components: an anonymous
//! visitor is tracked, signs in and their history merges into the user's
//! profile; a behavioural segment is entered on the third visit of a page;
//! the CMS serves different variants to users in different segments and
//! the default to anonymous callers; experiences choose blocks per
//! segment; an A/B test assigns stably and counts conversions; daily
//! analytics add up; erasure removes the profile, its memberships and
//! marks, and is announced as `cdp.profile.erased`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::{Value, json};
use support::{Kernel, Reply};

/// A kernel with the CMS and the personalisation plugin; `settings` are
/// extra lines of the personalisation plugin's configuration.
fn start(data: &std::path::Path, settings: &str) -> Kernel {
    let config = data.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("tessera.personalization.toml"), settings).unwrap();
    support::start_with_plugins(
        data,
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[
            support::repo_root().join("plugins/cms"),
            support::repo_root().join("plugins/personalization"),
        ],
    )
}

/// A signed-in browser: its cookie header, CSRF token and user id.
struct Session {
    cookie: String,
    csrf: String,
    id: String,
}

impl Session {
    fn send(
        &self,
        kernel: &Kernel,
        method: &str,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let body = body.map(|body| body.to_string());
        let mut headers = vec![
            ("cookie", self.cookie.as_str()),
            ("x-csrf-token", &self.csrf),
        ];
        headers.extend_from_slice(extra);
        kernel.call(method, path, &headers, body.as_deref())
    }

    fn get(&self, kernel: &Kernel, path: &str) -> Reply {
        self.send(kernel, "GET", path, None, &[])
    }

    fn post(&self, kernel: &Kernel, path: &str, body: Value) -> Reply {
        self.send(kernel, "POST", path, Some(body), &[])
    }

    fn segments(&self, kernel: &Kernel) -> Vec<String> {
        strings(&self.get(kernel, "/api/cdp/me/segments"), "segments")
    }
}

/// Registers and signs in `username`, granting `role` when given.
fn user(kernel: &Kernel, username: &str, role: Option<&str>) -> Session {
    let password = format!("{username}-password");
    let body = json!({ "username": username, "password": password }).to_string();
    let registered = kernel.post("/auth/register", &body);
    assert_eq!(registered.status, 201, "{}", registered.body);
    let id = registered.json()["user"]["id"].as_str().unwrap().to_owned();
    if let Some(role) = role {
        let granted = kernel.admin_json("PUT", &format!("/admin/users/{id}/roles/{role}"), None);
        assert_eq!(granted.status, 200, "{}", granted.body);
    }
    let login = kernel.post("/auth/login", &body);
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login
        .set_cookies
        .iter()
        .map(|cookie| cookie.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    Session {
        cookie,
        csrf: login.json()["csrf_token"].as_str().unwrap().to_owned(),
        id,
    }
}

fn role(kernel: &Kernel, name: &str, permissions: &[&str]) {
    let reply = kernel.admin_json(
        "PUT",
        &format!("/admin/roles/{name}"),
        Some(json!({ "permissions": permissions })),
    );
    assert!([200, 201].contains(&reply.status), "{}", reply.body);
}

/// An anonymous browser's call with its visitor id.
fn anonymous(
    kernel: &Kernel,
    visitor: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let body = body.map(|body| body.to_string());
    kernel.call(method, path, &[("x-visitor-id", visitor)], body.as_deref())
}

fn page(path: &str) -> Value {
    json!({"type": "page", "path": path})
}

fn strings(reply: &Reply, field: &str) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` list: {}", reply.body))
        .iter()
        .map(|item| item.as_str().unwrap().to_owned())
        .collect()
}

fn define_segment(kernel: &Kernel, key: &str, rule: Value) {
    let reply = kernel.admin_json(
        "PUT",
        &format!("/api/cdp/segments/{key}"),
        Some(json!({"name": key, "rule": rule})),
    );
    assert!([200, 201].contains(&reply.status), "{}", reply.body);
}

fn assert_refused(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error_code(), code, "{}", reply.body);
    assert!(
        reply.json()["error"]["message"].is_string(),
        "{}",
        reply.body
    );
}

/// Calls `fetch` until its reply satisfies `ready`, for up to 20 s; the
/// last reply.
fn poll(fetch: impl Fn() -> Reply, ready: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let reply = fetch();
        if ready(&reply) || std::time::Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The variant the CMS delivers of the entry `offer` with `headers`.
fn delivered(kernel: &Kernel, headers: &[(&str, &str)]) -> (Value, Value) {
    let reply = kernel.call("GET", "/api/cms/delivery/article/offer", headers, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    (body["variant"].clone(), body["fields"]["title"].clone())
}

#[test]
fn visitors_merge_into_users_enter_segments_and_get_their_cms_variants() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path(), "");
    role(&kernel, "chief", &["cms.*"]);

    // Segments: validated with the rule's failing part named, admin only.
    let refused = kernel.admin_json(
        "PUT",
        "/api/cdp/segments/broken",
        Some(json!({"name": "Broken", "rule": {"all": [{"page": "pricing"}]}})),
    );
    assert_refused(&refused, 400, "invalid_segment");
    assert!(
        refused.body.contains("rule.all[0].page"),
        "{}",
        refused.body
    );
    let denied = kernel.call(
        "PUT",
        "/api/cdp/segments/x",
        &[],
        Some(r#"{"name": "x", "rule": {"role": "a"}}"#),
    );
    assert_eq!(denied.status, 401, "{}", denied.body);
    define_segment(
        &kernel,
        "pricing-fan",
        json!({"page": "/pricing", "min_count": 3, "within_days": 30}),
    );
    define_segment(
        &kernel,
        "tech-buyer",
        json!({"attribute": "role", "eq": "technical-buyer"}),
    );

    // An anonymous visitor looks at the pricing page twice: tracked, not yet
    // in the segment.
    let visitor = "visitor-0001-aaaa";
    for _ in 0..2 {
        let tracked = anonymous(
            &kernel,
            visitor,
            "POST",
            "/api/cdp/track",
            Some(page("/pricing/")),
        );
        assert_eq!(tracked.status, 202, "{}", tracked.body);
        assert_eq!(tracked.json()["profile"], format!("v:{visitor}"));
    }
    let mine = anonymous(&kernel, visitor, "GET", "/api/cdp/me", None);
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.json()["profile"]["pages"]["/pricing"]["total"], 2);
    let none = anonymous(&kernel, visitor, "GET", "/api/cdp/me/segments", None);
    assert_eq!(strings(&none, "segments"), Vec::<String>::new());

    // A visitor without an id gets one, as a cookie.
    let fresh = kernel.call("POST", "/api/cdp/track", &[], Some(&page("/").to_string()));
    assert_eq!(fresh.status, 202, "{}", fresh.body);
    let issued = fresh.json()["visitor_id"].as_str().unwrap().to_owned();
    assert!(
        fresh
            .set_cookies
            .iter()
            .any(|c| c.starts_with(&format!("tessera_vid={issued}"))),
        "{:?}",
        fresh.set_cookies
    );

    // Bad input: clear 4xx, nothing stored.
    for (body, status, code) in [
        ("{not json", 400, "invalid_json"),
        (r#"{"type": "page"}"#, 400, "invalid_event"),
        (
            r#"{"type": "page", "path": "relative"}"#,
            400,
            "invalid_event",
        ),
        (
            r#"{"type": "event", "name": "Bad Name"}"#,
            400,
            "invalid_event",
        ),
        (r#"{"events": []}"#, 400, "invalid_event"),
    ] {
        let reply = kernel.call(
            "POST",
            "/api/cdp/track",
            &[("x-visitor-id", visitor)],
            Some(body),
        );
        assert_refused(&reply, status, code);
    }
    let huge = json!({"type": "event", "name": "big", "properties": {"x": "y".repeat(20_000)}});
    let reply = anonymous(&kernel, visitor, "POST", "/api/cdp/track", Some(huge));
    assert_refused(&reply, 413, "payload_too_large");
    let reply = anonymous(
        &kernel,
        "bad id!",
        "POST",
        "/api/cdp/track",
        Some(page("/")),
    );
    assert_refused(&reply, 400, "invalid_visitor_id");
    let mine = anonymous(&kernel, visitor, "GET", "/api/cdp/me", None);
    assert_eq!(
        mine.json()["profile"]["pages"]["/pricing"]["total"],
        2,
        "{}",
        mine.body
    );
    assert_eq!(mine.json()["profile"]["events"], json!({}), "{}", mine.body);

    // Ada signs in on that browser: the visitor's history merges into her
    // profile, and the third visit puts her in the segment.
    let ada = user(&kernel, "ada", None);
    let identified = ada.send(
        &kernel,
        "POST",
        "/api/cdp/identify",
        None,
        &[("x-visitor-id", visitor)],
    );
    assert_eq!(identified.status, 200, "{}", identified.body);
    assert_eq!(identified.json()["merged"], true);
    assert_eq!(identified.json()["profile"], format!("u:{}", ada.id));
    assert!(ada.segments(&kernel).is_empty());
    let tracked = ada.send(
        &kernel,
        "POST",
        "/api/cdp/track",
        Some(page("/pricing")),
        &[("x-visitor-id", visitor)],
    );
    assert_eq!(tracked.status, 202, "{}", tracked.body);
    assert_eq!(ada.segments(&kernel), ["pricing-fan"]);
    let profile = kernel.admin_json("GET", &format!("/api/cdp/profiles/u:{}", ada.id), None);
    assert_eq!(profile.status, 200, "{}", profile.body);
    let profile = profile.json();
    assert_eq!(profile["pages"]["/pricing"]["total"], 3);
    assert_eq!(profile["visitors"], json!([visitor]));
    assert_eq!(profile["username"], "ada");
    assert!(profile["last_login"].as_u64().is_some(), "{profile}");
    // The anonymous browser no longer reads the merged history.
    let merged = anonymous(&kernel, visitor, "GET", "/api/cdp/me", None);
    assert_refused(&merged, 404, "no_profile");
    let members = kernel.admin_json("GET", "/api/cdp/segments/pricing-fan/members", None);
    assert_eq!(strings(&members, "items"), [format!("u:{}", ada.id)]);
    assert_eq!(members.json()["size"], 1);

    // Bob says he is a technical buyer: another segment.
    let bob = user(&kernel, "bob", None);
    let refused = bob.send(
        &kernel,
        "PATCH",
        "/api/cdp/me/attributes",
        Some(json!({"vip": "yes"})),
        &[],
    );
    assert_refused(&refused, 400, "invalid_attributes");
    let set = bob.send(
        &kernel,
        "PATCH",
        "/api/cdp/me/attributes",
        Some(json!({"role": "technical-buyer", "country": "DE"})),
        &[],
    );
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(bob.segments(&kernel), ["tech-buyer"]);

    // A segment defined later reaches existing profiles in the background.
    define_segment(
        &kernel,
        "germany",
        json!({"attribute": "country", "eq": "DE"}),
    );
    let members = poll(
        || kernel.admin_json("GET", "/api/cdp/segments/germany/members", None),
        |reply| reply.json()["size"] == 1,
    );
    assert_eq!(strings(&members, "items"), [format!("u:{}", bob.id)]);
    let listed = kernel.admin_json("GET", "/api/cdp/segments", None);
    let sizes: Vec<(String, u64)> = listed.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_owned(),
                s["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            ("germany".into(), 1),
            ("pricing-fan".into(), 1),
            ("tech-buyer".into(), 1)
        ]
    );

    // The CMS serves each their variant, the default to everyone else.
    let chief = user(&kernel, "chief", Some("chief"));
    let defined = kernel.admin_json(
        "PUT",
        "/api/cms/types/article",
        Some(json!({"name": "Article", "fields": [
            {"name": "title", "type": "text", "required": true},
            {"name": "price", "type": "number"}
        ]})),
    );
    assert_eq!(defined.status, 201, "{}", defined.body);
    let created = chief.post(
        &kernel,
        "/api/cms/types/article/entries",
        json!({"slug": "offer", "data": {"title": "Our offer", "price": 10},
               "variants": [{"segment": "tech-buyer", "data": {"title": "Specifications"}},
                            {"segment": "pricing-fan", "data": {"title": "Plans for you"}}]}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let entry = created.json()["id"].as_str().unwrap().to_owned();
    let published = chief.post(
        &kernel,
        &format!("/api/cms/entries/{entry}/publish"),
        json!({}),
    );
    assert_eq!(published.status, 200, "{}", published.body);
    assert_eq!(
        delivered(&kernel, &[("cookie", &ada.cookie)]),
        (json!("pricing-fan"), json!("Plans for you"))
    );
    assert_eq!(
        delivered(&kernel, &[("cookie", &bob.cookie)]),
        (json!("tech-buyer"), json!("Specifications"))
    );
    assert_eq!(delivered(&kernel, &[]), (Value::Null, json!("Our offer")));
    let stranger = [("x-visitor-id", "someone-else-123")];
    assert_eq!(
        delivered(&kernel, &stranger),
        (Value::Null, json!("Our offer"))
    );

    // An experience: the first audience the caller is in, else the default.
    let experience = json!({"name": "Home", "audiences": [
        {"segment": "tech-buyer", "blocks": [{"hero": "specs"}]},
        {"segment": "pricing-fan", "blocks": [{"hero": "plans"}, {"cta": "trial"}]}
    ], "default": [{"hero": "welcome"}]});
    let denied = ada.send(
        &kernel,
        "PUT",
        "/api/cdp/experiences/home",
        Some(experience.clone()),
        &[],
    );
    assert_eq!(denied.status, 403, "{}", denied.body);
    let put = kernel.admin_json("PUT", "/api/cdp/experiences/home", Some(experience));
    assert_eq!(put.status, 201, "{}", put.body);
    let seen = ada.get(&kernel, "/api/cdp/experiences/home").json();
    assert_eq!(seen["segment"], "pricing-fan");
    assert_eq!(seen["blocks"], json!([{"hero": "plans"}, {"cta": "trial"}]));
    let seen = kernel.get("/api/cdp/experiences/home").json();
    assert_eq!(
        (seen["segment"].clone(), seen["blocks"].clone()),
        (Value::Null, json!([{"hero": "welcome"}]))
    );

    // The plugin describes itself.
    let openapi = kernel.get("/api/cdp/openapi.json");
    assert_eq!(openapi.status, 200, "{}", openapi.body);
    assert_eq!(openapi.json()["openapi"], "3.1.0");
    assert!(
        openapi.json()["paths"]["/me/segments"]["get"].is_object(),
        "{}",
        openapi.body
    );

    // Profiles are for those allowed to read them.
    assert_eq!(kernel.get("/api/cdp/profiles").status, 401);
    assert_eq!(ada.get(&kernel, "/api/cdp/profiles").status, 403);
    let listed = kernel.admin_json("GET", "/api/cdp/profiles?limit=200", None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        listed.body.contains(&format!("u:{}", bob.id)),
        "{}",
        listed.body
    );
}

#[test]
fn an_ab_test_assigns_stably_counts_conversions_and_feeds_the_analytics() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(
        data.path(),
        "track-per-minute = \"30\"\nnew-profiles-per-minute = \"60\"\n",
    );
    let refused = kernel.admin_json(
        "PUT",
        "/api/cdp/experiments/cta",
        Some(json!({"name": "CTA", "variants": [{"key": "a"}], "goal": "signup"})),
    );
    assert_refused(&refused, 400, "invalid_experiment");
    let defined = kernel.admin_json(
        "PUT",
        "/api/cdp/experiments/cta",
        Some(json!({"name": "CTA", "variants": [{"key": "a"}, {"key": "b"}], "goal": "signup"})),
    );
    assert_eq!(defined.status, 201, "{}", defined.body);
    define_segment(
        &kernel,
        "docs-reader",
        json!({"page": "/docs", "prefix": true}),
    );

    // 40 visitors: each sees the same variant every time; every visitor in
    // b converts, every fourth in a.
    let mut expected = std::collections::BTreeMap::from([("a", (0, 0)), ("b", (0, 0))]);
    for i in 0..40 {
        let visitor = format!("ab-visitor-{i:04}");
        let first = anonymous(
            &kernel,
            &visitor,
            "GET",
            "/api/cdp/experiments/cta/assignment",
            None,
        );
        assert_eq!(first.status, 200, "{}", first.body);
        let variant = first.json()["variant"].as_str().unwrap().to_owned();
        let again = anonymous(
            &kernel,
            &visitor,
            "GET",
            "/api/cdp/experiments/cta/assignment",
            None,
        );
        assert_eq!(again.json()["variant"], variant.as_str());
        let path = if i % 2 == 0 {
            "/docs/start"
        } else {
            "/pricing"
        };
        let converts = variant == "b" || i % 4 == 0;
        let mut events = vec![page(path)];
        if converts {
            // Twice: a person converts once.
            events.push(json!({"type": "event", "name": "signup", "properties": {"plan": "pro"}}));
            events.push(json!({"type": "event", "name": "signup"}));
        }
        let tracked = anonymous(
            &kernel,
            &visitor,
            "POST",
            "/api/cdp/track",
            Some(json!({"events": events})),
        );
        assert_eq!(tracked.status, 202, "{}", tracked.body);
        let counts = expected.get_mut(variant.as_str()).unwrap();
        counts.0 += 1;
        counts.1 += u64::from(converts);
    }
    // A goal reached without exposure converts nothing.
    let unexposed = anonymous(
        &kernel,
        "never-exposed-1",
        "POST",
        "/api/cdp/track",
        Some(json!({"type": "event", "name": "signup"})),
    );
    assert_eq!(unexposed.status, 202, "{}", unexposed.body);

    let results = kernel.admin_json("GET", "/api/cdp/experiments/cta/results", None);
    assert_eq!(results.status, 200, "{}", results.body);
    let results = results.json();
    for arm in results["variants"].as_array().unwrap() {
        let (exposures, conversions) = expected[arm["variant"].as_str().unwrap()];
        assert_eq!(arm["exposures"], exposures, "{results}");
        assert_eq!(arm["conversions"], conversions, "{results}");
    }
    let b = &results["variants"][1];
    assert!(b["z"].as_f64().unwrap() > 0.0, "{results}");
    let p = b["p_value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{results}");
    assert_eq!(b["significant"], p < 0.05);

    // The assignment survives signing in: the visitor's exposure moves to
    // the user's profile.
    let visitor = "ab-visitor-0007";
    let before = anonymous(
        &kernel,
        visitor,
        "GET",
        "/api/cdp/experiments/cta/assignment",
        None,
    );
    let eve = user(&kernel, "eve", None);
    let after = eve.send(
        &kernel,
        "GET",
        "/api/cdp/experiments/cta/assignment",
        None,
        &[("x-visitor-id", visitor)],
    );
    assert_eq!(
        after.json()["variant"],
        before.json()["variant"],
        "{}",
        after.body
    );
    let after = eve.get(&kernel, "/api/cdp/experiments/cta/assignment");
    assert_eq!(
        after.json()["variant"],
        before.json()["variant"],
        "{}",
        after.body
    );
    let results = kernel
        .admin_json("GET", "/api/cdp/experiments/cta/results", None)
        .json();
    let exposures: u64 = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["exposures"].as_u64().unwrap())
        .sum();
    assert_eq!(exposures, 40, "{results}");

    // Daily analytics: everyone, and one segment.
    let all = kernel.admin_json("GET", "/api/cdp/analytics/daily", None);
    assert_eq!(all.status, 200, "{}", all.body);
    let total = &all.json()["total"];
    let converted: u64 = expected.values().map(|(_, c)| c).sum();
    assert_eq!(total["page_views"], 40, "{total}");
    assert_eq!(total["unique_visitors"], 40, "{total}");
    // Every signup event counts (a goal), the unexposed one too.
    assert_eq!(total["conversions"], 2 * converted + 1, "{total}");
    assert_eq!(
        total["top_content"],
        json!([{"path": "/docs/start", "views": 20}, {"path": "/pricing", "views": 20}])
    );
    let docs = kernel.admin_json("GET", "/api/cdp/analytics/daily?segment=docs-reader", None);
    assert_eq!(docs.json()["total"]["page_views"], 20, "{}", docs.body);
    let bad = kernel.admin_json("GET", "/api/cdp/analytics/daily?from=2026-02-31", None);
    assert_refused(&bad, 400, "invalid_query");
    assert_eq!(kernel.get("/api/cdp/analytics/daily").status, 401);

    // Tracking is bounded per person and minute (30 here): a second batch
    // of 20 is refused whole (a third one too, should a minute have ended
    // between the first two).
    let burst: Vec<Value> = (0..20).map(|_| page("/burst")).collect();
    let visitor = "burst-visitor-1";
    let replies: Vec<Reply> = (0..3)
        .map(|_| {
            let body = json!({ "events": burst });
            anonymous(&kernel, visitor, "POST", "/api/cdp/track", Some(body))
        })
        .collect();
    let accepted = replies
        .iter()
        .take_while(|reply| reply.status == 202)
        .count();
    let statuses: Vec<u16> = replies.iter().map(|reply| reply.status).collect();
    assert!((1..=2).contains(&accepted), "{statuses:?}");
    assert_refused(&replies[accepted], 429, "rate_limited");
    let mine = anonymous(&kernel, visitor, "GET", "/api/cdp/me", None);
    let total = mine.json()["profile"]["pages"]["/burst"]["total"].clone();
    assert_eq!(total, 20 * accepted, "{}", mine.body);

    // Browsers that never keep their visitor id create at most 60 profiles
    // a minute here (42 so far; should a minute end meanwhile, the next
    // one fills within another 60).
    let refused = (0..130)
        .map(|_| {
            let body = page("/").to_string();
            kernel.call("POST", "/api/cdp/track", &[], Some(&body))
        })
        .find(|reply| reply.status != 202)
        .expect("the new-visitor budget ran out");
    assert_refused(&refused, 429, "rate_limited");
    assert!(refused.body.contains("new visitors"), "{}", refused.body);
}

#[test]
fn erasure_removes_the_profile_and_is_announced() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path(), "");
    role(&kernel, "support", &["cdp.profile.read"]);
    define_segment(&kernel, "reader", json!({"page": "/blog", "prefix": true}));
    define_segment(&kernel, "active", json!({"last_login_within_days": 7}));

    // The recurring job that expires time windows is scheduled.
    let jobs = kernel.admin_json("GET", "/admin/jobs", None);
    assert!(
        jobs.json()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|job| { job["plugin"] == "tessera.personalization" && job["name"] == "expire" }),
        "{}",
        jobs.body
    );

    // Registration creates the profile from the identity event.
    let zoe = user(&kernel, "zoe", Some("support"));
    let pid = format!("u:{}", zoe.id);
    let created = poll(
        || zoe.get(&kernel, &format!("/api/cdp/profiles/{pid}")),
        |reply| reply.status == 200,
    );
    assert_eq!(created.json()["username"], "zoe", "{}", created.body);
    assert_eq!(
        created.json()["events"]["identity.user.registered"]["total"],
        1
    );

    let visitor = "zoe-browser-0001";
    anonymous(
        &kernel,
        visitor,
        "POST",
        "/api/cdp/track",
        Some(page("/blog/one")),
    );
    let identified = zoe.send(
        &kernel,
        "POST",
        "/api/cdp/identify",
        None,
        &[("x-visitor-id", visitor)],
    );
    assert_eq!(
        identified.json()["segments"],
        json!(["active", "reader"]),
        "{}",
        identified.body
    );
    // Signing in starts a 7-day window: the membership expires then.
    let profile = zoe.get(&kernel, &format!("/api/cdp/profiles/{pid}")).json();
    let last_login = profile["last_login"].as_u64().unwrap();
    assert_eq!(
        profile["expires_at"],
        last_login + 7 * 86_400_000,
        "{profile}"
    );
    let attributes = kernel.admin_json(
        "PATCH",
        &format!("/api/cdp/profiles/{pid}/attributes"),
        Some(json!({"company": "Acme", "language": "de"})),
    );
    assert_eq!(attributes.status, 200, "{}", attributes.body);

    // The export holds everything.
    let export = zoe.get(&kernel, &format!("/api/cdp/profiles/{pid}/export"));
    assert_eq!(export.status, 200, "{}", export.body);
    let export = export.json();
    assert_eq!(export["profile"]["attributes"]["company"], "Acme");
    assert_eq!(export["profile"]["pages"]["/blog/one"]["total"], 1);
    assert_eq!(export["segments"], json!(["active", "reader"]));

    let active = kernel.admin_json("GET", "/api/cdp/segments/active/members", None);
    assert_eq!(strings(&active, "items"), [pid.as_str()]);

    // Erasing needs its permission.
    let denied = zoe.send(
        &kernel,
        "DELETE",
        &format!("/api/cdp/profiles/{pid}"),
        None,
        &[],
    );
    assert_eq!(denied.status, 403, "{}", denied.body);
    let erased = kernel.admin_json("DELETE", &format!("/api/cdp/profiles/{pid}"), None);
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(erased.json()["visitor_ids"], json!([visitor]));

    // Gone: the profile, its membership, its place in the segment, the
    // merged visitor.
    assert_eq!(
        zoe.get(&kernel, &format!("/api/cdp/profiles/{pid}")).status,
        404
    );
    assert!(zoe.segments(&kernel).is_empty());
    for segment in ["reader", "active"] {
        let members =
            kernel.admin_json("GET", &format!("/api/cdp/segments/{segment}/members"), None);
        assert_eq!(strings(&members, "items"), Vec::<String>::new());
        assert_eq!(members.json()["size"], 0);
    }
    assert_eq!(
        anonymous(&kernel, visitor, "GET", "/api/cdp/me/segments", None).json()["segments"],
        json!([])
    );
    let again = kernel.admin_json("DELETE", &format!("/api/cdp/profiles/{pid}"), None);
    assert_refused(&again, 404, "not_found");

    // Announced for every plugin that holds personal data.
    let events = kernel.admin_json("GET", "/admin/events?topic=cdp.profile.erased", None);
    assert_eq!(events.status, 200, "{}", events.body);
    let announced = &events.json()["events"][0];
    assert_eq!(
        announced["payload"]["user_id"],
        zoe.id.as_str(),
        "{announced}"
    );
    assert_eq!(announced["payload"]["profile"], pid.as_str());
    assert_eq!(announced["source"], "tessera.personalization");

    // A visitor erases their own anonymous profile.
    let visitor = "self-eraser-0001";
    anonymous(
        &kernel,
        visitor,
        "POST",
        "/api/cdp/track",
        Some(page("/blog/two")),
    );
    assert_eq!(
        anonymous(&kernel, visitor, "GET", "/api/cdp/me", None).status,
        200
    );
    let erased = anonymous(&kernel, visitor, "DELETE", "/api/cdp/me", None);
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_refused(
        &anonymous(&kernel, visitor, "GET", "/api/cdp/me", None),
        404,
        "no_profile",
    );
    let members = kernel.admin_json("GET", "/api/cdp/segments/reader/members", None);
    assert_eq!(members.json()["size"], 0, "{}", members.body);
}

#[test]
fn a_sign_in_records_the_login_without_identify() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path(), "");
    define_segment(&kernel, "active", json!({"last_login_within_days": 7}));

    // Registration creates the profile; the sign-in that follows (an API
    // client's: it never calls `/identify`) records the login from the
    // kernel's `identity.user.signed-in` event.
    let cli = user(&kernel, "cli", None);
    let path = format!("/api/cdp/profiles/u:{}", cli.id);
    let profile = poll(
        || kernel.admin_json("GET", &path, None),
        |reply| reply.status == 200 && reply.json()["last_login"].is_u64(),
    );
    let profile = profile.json();
    let first_login = profile["last_login"].as_u64().expect("a login");
    assert_eq!(profile["segments"], json!(["active"]), "{profile}");
    assert!(
        profile["events"].get("identity.user.signed-in").is_none(),
        "a sign-in is not counted as an event: {profile}"
    );

    // Signing in again moves it forward.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let body = json!({"username": "cli", "password": "cli-password"}).to_string();
    assert_eq!(kernel.post("/auth/login", &body).status, 200);
    let later = poll(
        || kernel.admin_json("GET", &path, None),
        |reply| reply.json()["last_login"].as_u64() > Some(first_login),
    );
    assert!(
        later.json()["last_login"].as_u64() > Some(first_login),
        "{}",
        later.body
    );
    let events = kernel.admin_json("GET", "/admin/events?topic=identity.user.signed-in", None);
    let events = events.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["payload"]["username"], "cli");
    assert_eq!(events[0]["payload"]["second_factor"], false);
}
