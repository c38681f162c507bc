//! The CMS plugin end to end, against the real binary: an administrator
//! defines a content type, a writer creates and revises a draft but cannot
//! publish, an editor publishes, anonymous callers read published content
//! through the delivery API with filters, sorting, cursor pagination,
//! locale fallback and ETags; drafts stay invisible, unpublishing hides an
//! entry, old versions are restored, slug and unique clashes are 409s (also
//! under concurrency), validation errors name the field, and every change
//! lands in the event log as `cms.entry.*`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::{Value, json};
use support::{Kernel, Reply};

fn start(data: &std::path::Path) -> Kernel {
    start_configured(data, "")
}

/// A kernel with the CMS configured for `en` and `fr`, plus `extra` TOML.
fn start_configured(data: &std::path::Path, extra: &str) -> Kernel {
    let config = data.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("tessera.cms.toml"),
        format!("locales = \"en,fr\"\ndefault-locale = \"en\"\n{extra}"),
    )
    .unwrap();
    support::start_with_plugins(
        data,
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[support::repo_root().join("plugins/cms")],
    )
}

/// A signed-in browser: its cookie header and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn send(&self, kernel: &Kernel, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|body| body.to_string());
        kernel.call(
            method,
            path,
            &[("cookie", &self.cookie), ("x-csrf-token", &self.csrf)],
            body.as_deref(),
        )
    }

    fn get(&self, kernel: &Kernel, path: &str) -> Reply {
        self.send(kernel, "GET", path, None)
    }

    fn post(&self, kernel: &Kernel, path: &str, body: Value) -> Reply {
        self.send(kernel, "POST", path, Some(body))
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

/// Registers `username`, grants it `role` and signs it in.
fn user(kernel: &Kernel, username: &str, role: &str) -> Session {
    let password = format!("{username}-password");
    let body = json!({ "username": username, "password": password }).to_string();
    let registered = kernel.post("/auth/register", &body);
    assert_eq!(registered.status, 201, "{}", registered.body);
    let id = registered.json()["user"]["id"].as_str().unwrap().to_owned();
    let granted = kernel.admin_json("PUT", &format!("/admin/users/{id}/roles/{role}"), None);
    assert_eq!(granted.status, 200, "{}", granted.body);
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
    }
}

fn article_type() -> Value {
    json!({
        "name": "Article",
        "fields": [
            {"name": "title", "type": "text", "required": true, "max": 80, "localized": true},
            {"name": "body", "type": "rich_text"},
            {"name": "price", "type": "number", "min": 0},
            {"name": "code", "type": "text", "unique": true, "pattern": "^[A-Z][0-9]+$"},
            {"name": "published_on", "type": "datetime"}
        ]
    })
}

fn create(kernel: &Kernel, who: &Session, slug: &str, data: Value) -> Reply {
    who.post(
        kernel,
        "/api/cms/types/article/entries",
        json!({ "slug": slug, "data": data }),
    )
}

fn created(kernel: &Kernel, who: &Session, slug: &str, data: Value) -> String {
    let reply = create(kernel, who, slug, data);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["id"].as_str().unwrap().to_owned()
}

fn publish(kernel: &Kernel, who: &Session, id: &str) -> Reply {
    who.post(kernel, &format!("/api/cms/entries/{id}/publish"), json!({}))
}

/// The ids of a delivery list, in order.
fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["slug"].as_str().unwrap().to_owned())
        .collect()
}

/// The plugin's ETag of `body`: FNV-1a 64, quoted.
fn etag(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

#[test]
fn the_editorial_loop_runs_from_type_to_delivery() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    role(&kernel, "writer", &["cms.entry.read", "cms.entry.write"]);
    role(&kernel, "editor", &["cms.entry.read", "cms.entry.publish"]);
    let wendy = user(&kernel, "wendy", "writer");
    let ed = user(&kernel, "ed", "editor");

    // Types: validated with the field named, versioned, admin only.
    let mut broken = article_type();
    broken["fields"][2]["max"] = json!(-5);
    let refused = kernel.admin_json("PUT", "/api/cms/types/article", Some(broken));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.error_code(), "invalid_type");
    assert!(refused.body.contains("fields[2].max"), "{}", refused.body);
    let denied = wendy.send(
        &kernel,
        "PUT",
        "/api/cms/types/article",
        Some(article_type()),
    );
    assert_eq!(denied.status, 403, "{}", denied.body);
    let defined = kernel.admin_json("PUT", "/api/cms/types/article", Some(article_type()));
    assert_eq!(defined.status, 201, "{}", defined.body);
    assert_eq!(defined.json()["version"], 1);
    let listed = wendy.get(&kernel, "/api/cms/types");
    assert_eq!(
        listed.json()["types"][0]["key"],
        "article",
        "{}",
        listed.body
    );

    // A draft, then a second version.
    let hello = created(
        &kernel,
        &wendy,
        "hello",
        json!({"title": {"en": "Hello", "fr": "Bonjour"}, "price": 10, "code": "A1"}),
    );
    let updated = wendy.send(
        &kernel,
        "PUT",
        &format!("/api/cms/entries/{hello}"),
        Some(
            json!({"data": {"title": {"en": "Hello", "fr": "Bonjour"}, "price": 12, "code": "A1"}}),
        ),
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json()["version"], 2);
    assert_eq!(updated.json()["slug"], "hello", "the slug is kept");
    assert_eq!(updated.json()["updated_by"], "wendy");

    // Validation names the field; slugs and unique values are claimed.
    let invalid = create(
        &kernel,
        &wendy,
        "bad",
        json!({"title": {"en": "Bad"}, "price": -1}),
    );
    assert_eq!(invalid.status, 400, "{}", invalid.body);
    assert_eq!(invalid.error_code(), "invalid_entry");
    assert!(invalid.body.contains("`price`"), "{}", invalid.body);
    let lowercase = create(
        &kernel,
        &wendy,
        "bad",
        json!({"title": {"en": "Bad"}, "code": "a1"}),
    );
    assert_eq!(lowercase.status, 400, "{}", lowercase.body);
    assert!(
        lowercase.body.contains("`code`: does not match"),
        "{}",
        lowercase.body
    );
    let untitled = create(&kernel, &wendy, "bad", json!({"price": 1}));
    assert!(untitled.body.contains("`title`"), "{}", untitled.body);
    let clash = create(&kernel, &wendy, "hello", json!({"title": {"en": "Again"}}));
    assert_eq!(clash.status, 409, "{}", clash.body);
    assert_eq!(clash.error_code(), "slug_taken");
    let same_code = create(
        &kernel,
        &wendy,
        "other",
        json!({"title": {"en": "Other"}, "code": "A1"}),
    );
    assert_eq!(same_code.status, 409, "{}", same_code.body);
    assert_eq!(same_code.error_code(), "not_unique");
    assert!(same_code.body.contains("`code`"), "{}", same_code.body);
    // The refused entry gave its slug back.
    let other = created(
        &kernel,
        &wendy,
        "other",
        json!({"title": {"en": "Other"}, "price": 1}),
    );

    // Drafts are not for anonymous callers.
    assert_eq!(kernel.get(&format!("/api/cms/entries/{hello}")).status, 401);
    assert_eq!(kernel.get("/api/cms/types").status, 401);

    // Only editors publish.
    let forbidden = publish(&kernel, &wendy, &hello);
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);
    let published = publish(&kernel, &ed, &hello);
    assert_eq!(published.status, 200, "{}", published.body);
    assert_eq!(published.json()["published_version"], 2);
    let cheap = created(
        &kernel,
        &wendy,
        "cheap",
        json!({"title": {"en": "Cheap"}, "price": 5}),
    );
    let dear = created(
        &kernel,
        &wendy,
        "dear",
        json!({"title": {"en": "Dear"}, "price": 20}),
    );
    let draft = created(
        &kernel,
        &wendy,
        "draft",
        json!({"title": {"en": "Draft"}, "price": 15}),
    );
    for id in [&cheap, &dear, &other] {
        assert_eq!(publish(&kernel, &ed, id).status, 200);
    }

    // Anonymous delivery: filter, sort, pagination; drafts are invisible.
    let query = "/api/cms/delivery/article?filter%5Bprice%5D%5Bgte%5D=6&sort=-price&limit=1";
    let first = kernel.get(query);
    assert_eq!(ids(&first), ["dear"]);
    let cursor = first.json()["next_cursor"].as_str().unwrap().to_owned();
    let second = kernel.get(&format!("{query}&cursor={cursor}"));
    assert_eq!(ids(&second), ["hello"]);
    assert_eq!(second.json()["next_cursor"], Value::Null, "{}", second.body);
    assert_eq!(second.json()["items"][0]["fields"]["price"], 12);
    let everything = kernel.get("/api/cms/delivery/article?limit=100");
    assert_eq!(everything.json()["items"].as_array().unwrap().len(), 4);
    assert!(!everything.body.contains("Draft"), "{}", everything.body);
    let mut paged = Vec::new();
    let mut path = "/api/cms/delivery/article?limit=3".to_owned();
    loop {
        let page = kernel.get(&path);
        paged.extend(ids(&page));
        match page.json()["next_cursor"].as_str() {
            Some(next) => path = format!("/api/cms/delivery/article?limit=3&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(paged.len(), 4, "{paged:?}");
    let picked = kernel
        .get("/api/cms/delivery/article?filter%5Bprice%5D%5Bin%5D=5,20&sort=price&fields=price");
    assert_eq!(ids(&picked), ["cheap", "dear"]);
    assert_eq!(picked.json()["items"][0]["fields"], json!({"price": 5}));
    let bad_query = kernel.get("/api/cms/delivery/article?filter%5Bprice%5D%5Blike%5D=1");
    assert_eq!(bad_query.status, 400, "{}", bad_query.body);
    assert!(
        kernel
            .get(&format!("/api/cms/delivery/article/{draft}"))
            .status
            == 404
    );

    // Newest first, from the `recent/` index, page by page.
    let mut recent = Vec::new();
    let mut path = "/api/cms/delivery/article?sort=-published_at&limit=3".to_owned();
    loop {
        let page = kernel.get(&path);
        assert_eq!(page.status, 200, "{}", page.body);
        for item in page.json()["items"].as_array().unwrap() {
            recent.push((
                item["published_at"].as_u64().unwrap(),
                item["id"].as_str().unwrap().to_owned(),
            ));
        }
        match page.json()["next_cursor"].as_str() {
            Some(next) => {
                path =
                    format!("/api/cms/delivery/article?sort=-published_at&limit=3&cursor={next}");
            }
            None => break,
        }
    }
    assert_eq!(recent.len(), 4, "{recent:?}");
    assert!(
        recent
            .windows(2)
            .all(|pair| pair[0].0 > pair[1].0 || (pair[0].0 == pair[1].0 && pair[0].1 < pair[1].1)),
        "{recent:?}"
    );
    // Published first, so listed last (unless published in the same ms).
    let oldest = recent.iter().map(|(at, _)| *at).min().unwrap();
    assert!(
        recent.iter().any(|(at, id)| *at == oldest && *id == hello),
        "{recent:?}"
    );

    // One entry by slug or id, with locale fallback and an ETag.
    let french = kernel.get("/api/cms/delivery/article/hello?locale=fr");
    assert_eq!(french.status, 200, "{}", french.body);
    assert_eq!(french.json()["fields"]["title"], "Bonjour");
    let fallback = kernel.get(&format!("/api/cms/delivery/article/{cheap}?locale=fr"));
    assert_eq!(
        fallback.json()["fields"]["title"],
        "Cheap",
        "{}",
        fallback.body
    );
    let english = kernel.get(&format!("/api/cms/delivery/article/{hello}"));
    assert_eq!(
        english.json()["fields"]["title"],
        "Hello",
        "{}",
        english.body
    );
    let tag = etag(&english.body);
    let unchanged = kernel.call(
        "GET",
        &format!("/api/cms/delivery/article/{hello}"),
        &[("if-none-match", &tag)],
        None,
    );
    assert_eq!(unchanged.status, 304, "{}", unchanged.body);
    let changed = kernel.call(
        "GET",
        &format!("/api/cms/delivery/article/{hello}"),
        &[("if-none-match", "\"stale\"")],
        None,
    );
    assert_eq!(changed.status, 200);

    // Unpublishing hides it.
    let withdrawn = ed.post(
        &kernel,
        &format!("/api/cms/entries/{hello}/unpublish"),
        json!({}),
    );
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
    assert_eq!(kernel.get("/api/cms/delivery/article/hello").status, 404);
    assert_eq!(
        ids(&kernel.get("/api/cms/delivery/article?sort=slug")),
        ["cheap", "dear", "other"]
    );

    // Versions: listed, read, restored as a new version.
    let versions = wendy.get(&kernel, &format!("/api/cms/entries/{hello}/versions"));
    assert_eq!(
        versions.json()["versions"].as_array().unwrap().len(),
        2,
        "{}",
        versions.body
    );
    let v1 = wendy.get(&kernel, &format!("/api/cms/entries/{hello}/versions/1"));
    assert_eq!(v1.json()["data"]["price"], 10, "{}", v1.body);
    let restored = wendy.post(
        &kernel,
        &format!("/api/cms/entries/{hello}/versions/1/restore"),
        json!({}),
    );
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.json()["version"], 3);
    assert_eq!(restored.json()["data"]["price"], 10);
    let v3 = wendy.get(&kernel, &format!("/api/cms/entries/{hello}/versions/3"));
    assert_eq!(v3.json()["restored_from"], 1, "{}", v3.body);

    // A schema change keeps existing entries readable.
    let mut v2 = article_type();
    v2["fields"].as_array_mut().unwrap().remove(1);
    v2["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "subtitle", "type": "text"}));
    let changed_type = kernel.admin_json("PUT", "/api/cms/types/article", Some(v2));
    assert_eq!(changed_type.json()["version"], 2, "{}", changed_type.body);
    let old = wendy.get(&kernel, &format!("/api/cms/entries/{cheap}"));
    assert_eq!(old.json()["schema_version"], 1, "{}", old.body);
    assert_eq!(kernel.get("/api/cms/delivery/article/cheap").status, 200);

    // Deleting needs its own permission.
    let kept = wendy.send(
        &kernel,
        "DELETE",
        &format!("/api/cms/entries/{draft}"),
        None,
    );
    assert_eq!(kept.status, 403, "{}", kept.body);
    let gone = kernel.admin_json("DELETE", &format!("/api/cms/entries/{draft}"), None);
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert_eq!(
        wendy
            .get(&kernel, &format!("/api/cms/entries/{draft}"))
            .status,
        404
    );
    created(
        &kernel,
        &wendy,
        "draft",
        json!({"title": {"en": "Slug is free again"}}),
    );

    // Every change is an event.
    let log = kernel.admin_json("GET", "/admin/events?topic=cms.", None);
    assert_eq!(log.status, 200, "{}", log.body);
    let events = log.json()["events"].as_array().unwrap().clone();
    let published_event = events
        .iter()
        .find(|event| {
            event["topic"] == "cms.entry.published" && event["payload"]["id"] == hello.as_str()
        })
        .unwrap_or_else(|| panic!("no cms.entry.published for {hello}: {}", log.body));
    assert_eq!(
        published_event["payload"],
        json!({"site": "default", "type": "article", "id": hello, "locale": "en", "version": 2})
    );
    for topic in [
        "cms.entry.created",
        "cms.entry.updated",
        "cms.entry.unpublished",
        "cms.entry.deleted",
    ] {
        assert!(
            events.iter().any(|event| event["topic"] == topic),
            "{topic}: {}",
            log.body
        );
    }
}

#[test]
fn concurrent_creates_claim_a_slug_once() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    let defined = kernel.admin_json("PUT", "/api/cms/types/article", Some(article_type()));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let token = format!("Bearer {}", kernel.admin_token());
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (kernel, token) = (&kernel, &token);
                scope.spawn(move || {
                    let body = json!({"slug": "race", "data": {"title": {"en": format!("Racer {i}")}, "code": format!("C{}", i % 2)}});
                    kernel
                        .call(
                            "POST",
                            "/api/cms/types/article/entries",
                            &[("authorization", token)],
                            Some(&body.to_string()),
                        )
                        .status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|status| **status == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|status| [201, 409].contains(status)),
        "{statuses:?}"
    );
}

/// The ids of a search reply, best first.
fn found(kernel: &Kernel, query: &str) -> Vec<String> {
    let reply = kernel.get(&format!("/api/cms/search?{query}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn search_ranks_published_entries_per_locale() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    let defined = kernel.admin_json("PUT", "/api/cms/types/article", Some(article_type()));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let create = |slug: &str, data: Value| {
        let reply = kernel.admin_json(
            "POST",
            "/api/cms/types/article/entries",
            Some(json!({ "slug": slug, "data": data })),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.json()["id"].as_str().unwrap().to_owned()
    };
    let act = |id: &str, action: &str| {
        let reply = kernel.admin_json(
            "POST",
            &format!("/api/cms/entries/{id}/{action}"),
            Some(json!({})),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    };
    let guide = create(
        "rust-guide",
        json!({"title": {"en": "Rust guide", "fr": "Manuel de Rust"}, "body": "The zephyr compiler, explained.", "code": "A1"}),
    );
    let cooking = create(
        "cooking",
        json!({"title": {"en": "Cooking"}, "body": "A pan can **rust**; zephyr winds dry it.", "code": "A2"}),
    );
    let secret = create(
        "secret",
        json!({"title": {"en": "Zephyr secret"}, "code": "A3"}),
    );
    act(&guide, "publish");
    act(&cooking, "publish");

    // The title and slug hit ranks first; scores go down; drafts stay out.
    let reply = kernel.get("/api/cms/search?q=Rust");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let items = reply.json()["items"].clone();
    assert_eq!(items[0]["id"], guide.as_str(), "{}", reply.body);
    assert_eq!(items[0]["title"], "Rust guide");
    assert_eq!(items[0]["slug"], "rust-guide");
    assert_eq!(items[0]["type"], "article");
    assert_eq!(items[1]["id"], cooking.as_str());
    assert!(items[0]["score"].as_f64().unwrap() > items[1]["score"].as_f64().unwrap());
    assert_eq!(found(&kernel, "q=zephyr").len(), 2);
    assert!(
        found(&kernel, "q=secret").is_empty(),
        "drafts are not indexed"
    );
    assert!(!found(&kernel, "q=zephyr").contains(&secret));
    assert_eq!(
        found(&kernel, "q=rust+pan"),
        [cooking.as_str()],
        "every word"
    );
    assert_eq!(found(&kernel, "q=rust&limit=1"), [guide.as_str()]);
    assert_eq!(found(&kernel, "q=rust&type=article").len(), 2);

    // Per locale, with the default locale's text standing in.
    assert!(found(&kernel, "q=manuel").is_empty());
    let french = kernel.get("/api/cms/search?q=manuel&locale=fr");
    assert_eq!(french.status, 200, "{}", french.body);
    assert_eq!(french.json()["items"][0]["id"], guide.as_str());
    assert_eq!(french.json()["items"][0]["title"], "Manuel de Rust");
    assert_eq!(found(&kernel, "q=cooking&locale=fr"), [cooking.as_str()]);

    // Refusals say why.
    for (query, status, says) in [
        ("", 400, "`q`"),
        ("q=+", 400, "`q`"),
        ("q=a+b+c+d+e+f+g+h+i", 400, "at most 8"),
        ("q=rust&locale=de", 400, "`locale`"),
        ("q=rust&limit=0", 400, "`limit`"),
        ("q=rust&type=nope", 404, "nope"),
    ] {
        let reply = kernel.get(&format!("/api/cms/search?{query}"));
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
        assert!(reply.body.contains(says), "{query}: {}", reply.body);
    }
    let long = kernel.get(&format!("/api/cms/search?q={}", "a".repeat(300)));
    assert_eq!(long.status, 400, "{}", long.body);
    assert!(long.body.contains("256 characters"), "{}", long.body);

    // Re-publishing re-indexes; unpublishing and deleting remove.
    let revised = kernel.admin_json(
        "PUT",
        &format!("/api/cms/entries/{cooking}"),
        Some(json!({"data": {"title": {"en": "Baking"}, "code": "A2"}})),
    );
    assert_eq!(revised.status, 200, "{}", revised.body);
    assert_eq!(found(&kernel, "q=cooking"), [cooking.as_str()], "the slug");
    assert_eq!(
        found(&kernel, "q=pan"),
        [cooking.as_str()],
        "until re-published"
    );
    act(&cooking, "publish");
    assert!(found(&kernel, "q=pan").is_empty());
    assert_eq!(found(&kernel, "q=baking"), [cooking.as_str()]);
    act(&guide, "unpublish");
    assert!(found(&kernel, "q=manuel&locale=fr").is_empty());
    assert_eq!(found(&kernel, "q=rust"), Vec::<String>::new());
    let deleted = kernel.admin_json("DELETE", &format!("/api/cms/entries/{cooking}"), None);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert!(found(&kernel, "q=baking").is_empty());
}

/// Milliseconds since the epoch, as the kernel's clock reads it.
fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
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

/// The names of the kernel's jobs for the CMS.
fn cms_jobs(kernel: &Kernel) -> Vec<String> {
    let reply = kernel.admin_json("GET", "/admin/jobs", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["plugin"] == "tessera.cms")
        .map(|job| job["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn scheduled_publish_and_unpublish_run_on_time_through_jobs() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    role(&kernel, "writer", &["cms.entry.read", "cms.entry.write"]);
    role(&kernel, "editor", &["cms.entry.read", "cms.entry.publish"]);
    let wendy = user(&kernel, "wendy", "writer");
    let ed = user(&kernel, "ed", "editor");
    let defined = kernel.admin_json("PUT", "/api/cms/types/article", Some(article_type()));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let launch = created(
        &kernel,
        &wendy,
        "launch",
        json!({"title": {"en": "Launch"}}),
    );
    let schedule_path = format!("/api/cms/entries/{launch}/schedule");

    // Refusals: writers cannot schedule; times must be future and ordered;
    // an unpublish alone needs a published entry.
    let at = now_ms();
    let denied = wendy.send(
        &kernel,
        "PUT",
        &schedule_path,
        Some(json!({"publish_at": at + 60_000})),
    );
    assert_eq!(denied.status, 403, "{}", denied.body);
    for (body, words) in [
        (json!({"publish_at": at - 1_000}), "in the past"),
        (
            json!({"publish_at": at + 9_000, "unpublish_at": at + 8_000}),
            "after `publish_at`",
        ),
        (json!({"publish_at": "next monday"}), "RFC 3339"),
        (json!({}), "give `publish_at`"),
    ] {
        let refused = ed.send(&kernel, "PUT", &schedule_path, Some(body));
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert_eq!(refused.error_code(), "invalid_schedule");
        assert!(refused.body.contains(words), "{words}: {}", refused.body);
    }
    let lonely = ed.send(
        &kernel,
        "PUT",
        &schedule_path,
        Some(json!({"unpublish_at": at + 60_000})),
    );
    assert_eq!(lonely.status, 409, "{}", lonely.body);
    assert_eq!(lonely.error_code(), "not_published");
    assert_eq!(wendy.get(&kernel, &schedule_path).status, 404);

    // Publish in 2 s, unpublish 2 s later: the draft is hidden until then.
    let at = now_ms();
    let scheduled = ed.send(
        &kernel,
        "PUT",
        &schedule_path,
        Some(json!({"publish_at": at + 2_000, "unpublish_at": at + 4_000})),
    );
    assert_eq!(scheduled.status, 200, "{}", scheduled.body);
    assert_eq!(scheduled.json()["publish_at"], at + 2_000);
    assert_eq!(scheduled.json()["scheduled_by"], "ed");
    let mut jobs = cms_jobs(&kernel);
    jobs.sort();
    assert_eq!(
        jobs,
        [
            format!("cms/default/{launch}/publish"),
            format!("cms/default/{launch}/unpublish")
        ]
    );
    let listed = wendy.get(&kernel, "/api/cms/schedules");
    assert_eq!(listed.json()["schedules"][0]["id"], launch.as_str());
    let delivery = format!("/api/cms/delivery/article/{launch}");
    assert_eq!(kernel.get(&delivery).status, 404, "not before its time");

    let live = poll(|| kernel.get(&delivery), |reply| reply.status == 200);
    assert_eq!(live.status, 200, "published on schedule: {}", live.body);
    assert!(now_ms() >= at + 2_000, "not published early");
    assert_eq!(live.json()["fields"]["title"], "Launch");
    let left = poll(
        || wendy.get(&kernel, &schedule_path),
        |schedule| schedule.status == 200 && schedule.json()["publish_at"].is_null(),
    );
    assert_eq!(left.json()["publish_at"], Value::Null, "{}", left.body);
    assert_eq!(left.json()["unpublish_at"], at + 4_000);

    let gone = poll(|| kernel.get(&delivery), |reply| reply.status == 404);
    assert_eq!(gone.status, 404, "unpublished on schedule: {}", gone.body);
    assert!(now_ms() >= at + 4_000, "not unpublished early");
    let done = poll(
        || wendy.get(&kernel, &schedule_path),
        |schedule| schedule.status == 404,
    );
    assert_eq!(
        done.status, 404,
        "a schedule that ran is gone: {}",
        done.body
    );
    let log = kernel.admin_json("GET", "/admin/events?topic=cms.entry.", None);
    let topics: Vec<String> = log.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["payload"]["id"] == launch.as_str())
        .map(|event| event["topic"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        topics,
        [
            "cms.entry.created",
            "cms.entry.published",
            "cms.entry.unpublished"
        ]
    );

    // Cancelling, and deleting an entry, drop its jobs.
    let at = now_ms();
    let again = ed.send(
        &kernel,
        "PUT",
        &schedule_path,
        Some(json!({"publish_at": at + 600_000})),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(ed.send(&kernel, "DELETE", &schedule_path, None).status, 204);
    assert!(cms_jobs(&kernel).is_empty());
    assert_eq!(ed.send(&kernel, "DELETE", &schedule_path, None).status, 404);
    assert_eq!(
        ed.send(
            &kernel,
            "PUT",
            &schedule_path,
            Some(json!({"publish_at": at + 600_000}))
        )
        .status,
        200
    );
    let admin_delete = kernel.admin_json("DELETE", &format!("/api/cms/entries/{launch}"), None);
    assert_eq!(admin_delete.status, 204, "{}", admin_delete.body);
    assert!(
        cms_jobs(&kernel).is_empty(),
        "deleting the entry drops its jobs"
    );
}

/// `ms` as an HTTP date.
fn http_date(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap())
        .unwrap()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// GET `path` with `If-Modified-Since: date`: the status.
fn status_since(kernel: &Kernel, path: &str, date: &str) -> u16 {
    kernel
        .call("GET", path, &[("if-modified-since", date)], None)
        .status
}

#[test]
fn the_openapi_document_follows_the_types_and_delivery_honours_if_modified_since() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());

    // The document grows with the types, at run time.
    let before = kernel.get("/api/cms/openapi.json");
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.json()["openapi"], "3.1.0");
    assert!(before.json()["paths"]["/api/cms/entries/{id}"].is_object());
    assert!(before.json()["paths"]["/api/cms/delivery/product"].is_null());
    let product = json!({"name": "Product", "fields": [
        {"name": "name", "type": "text", "required": true, "localized": true, "max": 60},
        {"name": "price", "type": "number", "min": 0}
    ]});
    let defined = kernel.admin_json("PUT", "/api/cms/types/product", Some(product));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let after = kernel.get("/api/cms/openapi.json").json();
    for path in [
        "/api/cms/delivery/product",
        "/api/cms/delivery/product/{entry}",
        "/api/cms/types/product/entries",
    ] {
        assert!(after["paths"][path].is_object(), "{path} missing");
    }
    let schemas = &after["components"]["schemas"];
    assert_eq!(schemas["ProductData"]["required"], json!(["name"]));
    assert_eq!(
        schemas["ProductData"]["properties"]["name"]["propertyNames"]["enum"],
        json!(["en", "fr"])
    );
    assert_eq!(
        schemas["ProductFields"]["properties"]["price"],
        json!({"type": "number", "minimum": 0})
    );

    // Conditional requests by date: a copy as new as the last change is
    // current; any publish or unpublish after it makes it stale.
    let created = kernel.admin_json(
        "POST",
        "/api/cms/types/product/entries",
        Some(json!({"slug": "lamp", "data": {"name": {"en": "Lamp"}, "price": 30}})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let published = kernel.admin_json("POST", &format!("/api/cms/entries/{id}/publish"), None);
    assert_eq!(published.status, 200, "{}", published.body);
    let published_at = published.json()["published_at"].as_u64().unwrap();
    let one = format!("/api/cms/delivery/product/{id}");
    let list = "/api/cms/delivery/product";
    let current = http_date(published_at + 1_000);
    let older = http_date(published_at - 1_000);
    assert_eq!(status_since(&kernel, &one, &current), 304);
    assert_eq!(status_since(&kernel, list, &current), 304);
    assert_eq!(status_since(&kernel, &one, &older), 200);
    assert_eq!(status_since(&kernel, list, &older), 200);
    assert_eq!(status_since(&kernel, list, "not a date"), 200);
    // If-None-Match takes precedence over the date.
    let stale_tag = kernel.call(
        "GET",
        list,
        &[
            ("if-modified-since", &current),
            ("if-none-match", "\"stale\""),
        ],
        None,
    );
    assert_eq!(stale_tag.status, 200);

    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let withdrawn = kernel.admin_json("POST", &format!("/api/cms/entries/{id}/unpublish"), None);
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
    assert_eq!(
        status_since(&kernel, list, &current),
        200,
        "the list changed after that date"
    );
}

/// Every item of a delivery list, following `next_cursor`: `field` of each.
fn all_pages(kernel: &Kernel, query: &str, field: &str) -> Vec<Value> {
    let mut values = Vec::new();
    let mut path = format!("/api/cms/delivery/product?{query}");
    loop {
        let page = kernel.get(&path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        for item in page.json()["items"].as_array().unwrap() {
            values.push(item["fields"][field].clone());
        }
        match page.json()["next_cursor"].as_str() {
            Some(next) => path = format!("/api/cms/delivery/product?{query}&cursor={next}"),
            None => return values,
        }
    }
}

#[test]
fn filters_and_sorts_read_the_field_indexes_and_expensive_queries_are_refused() {
    let data = tempfile::tempdir().unwrap();
    // A budget of 50 reads per query, over 60 entries.
    let kernel = start_configured(data.path(), "query-budget = \"50\"\n");
    let product = json!({"name": "Product", "fields": [
        {"name": "name", "type": "text", "required": true, "localized": true},
        {"name": "price", "type": "number"},
        {"name": "tag", "type": "enum", "values": ["a", "b", "c"]},
        {"name": "notes", "type": "rich_text"}
    ]});
    let defined = kernel.admin_json("PUT", "/api/cms/types/product", Some(product));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let tags = ["a", "b", "c"];
    let mut ids = Vec::new();
    for n in 0..60_u32 {
        let data = json!({
            "name": {"en": format!("Item {n:02}"), "fr": format!("Article {:02}", 59 - n)},
            "price": n,
            "tag": tags[n as usize % 3],
            "notes": "plain",
        });
        let created = kernel.admin_json(
            "POST",
            "/api/cms/types/product/entries",
            Some(json!({"slug": format!("item-{n}"), "data": data})),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let published = kernel.admin_json("POST", &format!("/api/cms/entries/{id}/publish"), None);
        assert_eq!(published.status, 200, "{}", published.body);
        ids.push(id);
    }
    let prices = |values: Vec<Value>| -> Vec<u64> {
        values.iter().map(|value| value.as_u64().unwrap()).collect()
    };

    // Equality through the index: 20 of 60, in price order, page by page.
    let tagged = prices(all_pages(
        &kernel,
        "filter%5Btag%5D%5Beq%5D=b&sort=price&limit=7",
        "price",
    ));
    assert_eq!(tagged, (0..60).filter(|n| n % 3 == 1).collect::<Vec<u64>>());
    let some = prices(all_pages(
        &kernel,
        "filter%5Bprice%5D%5Bin%5D=3,5,8,99&sort=-price",
        "price",
    ));
    assert_eq!(some, [8, 5, 3]);
    // One sort key: the index walked both ways, whatever the size.
    let descending = prices(all_pages(&kernel, "sort=-price&limit=9", "price"));
    assert_eq!(descending, (0..60).rev().collect::<Vec<u64>>());
    let ascending = prices(all_pages(
        &kernel,
        "sort=price&limit=10&filter%5Btag%5D%5Bne%5D=c",
        "price",
    ));
    assert_eq!(
        ascending,
        (0..60).filter(|n| n % 3 != 2).collect::<Vec<u64>>()
    );
    // A localized field sorts in the asked locale.
    let french = all_pages(&kernel, "sort=name&locale=fr&limit=20", "price");
    assert_eq!(prices(french), (0..60).rev().collect::<Vec<u64>>());
    // Ranges through the index.
    let dear = prices(all_pages(
        &kernel,
        "filter%5Bprice%5D%5Bgte%5D=50&filter%5Bprice%5D%5Blt%5D=55",
        "price",
    ));
    assert_eq!(dear, [50, 51, 52, 53, 54]);
    let cheap = prices(all_pages(&kernel, "filter%5Bprice%5D%5Blte%5D=2", "price"));
    assert_eq!(cheap, [0, 1, 2]);

    // Past the budget: a clear 422 that says what to do.
    for query in [
        "filter%5Btag%5D%5Bne%5D=a",
        "filter%5Bprice%5D%5Bgte%5D=1",
        "filter%5Bnotes%5D%5Beq%5D=plain",
        "sort=price,name",
    ] {
        let refused = kernel.get(&format!("/api/cms/delivery/product?{query}"));
        assert_eq!(refused.status, 422, "{query}: {}", refused.body);
        assert_eq!(refused.error_code(), "query_too_expensive");
        assert!(refused.body.contains("at most 50"), "{}", refused.body);
    }
    let unknown = kernel.get("/api/cms/delivery/product?filter%5Bcolour%5D%5Beq%5D=red");
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(
        unknown.body.contains("`colour` is not a field"),
        "{}",
        unknown.body
    );

    // The indexes follow unpublishing and republishing.
    let ten = &ids[10];
    let withdrawn = kernel.admin_json("POST", &format!("/api/cms/entries/{ten}/unpublish"), None);
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
    assert!(all_pages(&kernel, "filter%5Bprice%5D%5Beq%5D=10", "price").is_empty());
    let eleven = &ids[11];
    let changed = kernel.admin_json(
        "PUT",
        &format!("/api/cms/entries/{eleven}"),
        Some(json!({"data": {"name": {"en": "Item 11"}, "price": 1100, "tag": "c"}})),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(
        !all_pages(&kernel, "filter%5Bprice%5D%5Beq%5D=11", "price").is_empty(),
        "a draft changes nothing"
    );
    let republished =
        kernel.admin_json("POST", &format!("/api/cms/entries/{eleven}/publish"), None);
    assert_eq!(republished.status, 200, "{}", republished.body);
    assert!(all_pages(&kernel, "filter%5Bprice%5D%5Beq%5D=11", "price").is_empty());
    assert_eq!(
        prices(all_pages(
            &kernel,
            "filter%5Bprice%5D%5Bgt%5D=1000",
            "price"
        )),
        [1100]
    );
    let top = kernel.get("/api/cms/delivery/product?sort=-price&limit=1");
    assert_eq!(
        top.json()["items"][0]["fields"]["price"],
        1100,
        "{}",
        top.body
    );
}
