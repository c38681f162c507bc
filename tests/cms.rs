//! The CMS plugin end to end, against the real binary: an administrator
//! defines a content type, a writer creates and revises a draft but cannot
//! publish, an editor publishes, anonymous callers read published content
//! through the delivery API with filters, sorting, cursor pagination,
//! locale fallback and ETags; drafts stay invisible, unpublishing hides an
//! entry, old versions are restored, slug and unique clashes are 409s (also
//! under concurrency), validation errors name the field, and every change
//! lands in the event log as `cms.entry.*`. Assets are uploaded with
//! metadata, deduplicated, served with ranges and cached renditions, and
//! cannot be deleted while an entry uses them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::session::{Session, role};

use serde_json::{Value, json};
use support::{Kernel, RawReply, Reply};

fn start(data: &std::path::Path) -> Kernel {
    start_with_config(data, "")
}

/// A kernel whose CMS configuration has `extra` lines besides the locales.
fn start_with_config(data: &std::path::Path, extra: &str) -> Kernel {
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

/// Registers `username`, grants it `role` and signs it in.
fn user(kernel: &Kernel, username: &str, role: &str) -> Session {
    Session::sign_up(kernel, username, Some(role))
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
    let diff = wendy.get(
        &kernel,
        &format!("/api/cms/entries/{hello}/versions/1/diff/2"),
    );
    assert_eq!(diff.status, 200, "{}", diff.body);
    assert_eq!(
        diff.json()["differences"],
        json!([{"path": "price", "change": "changed", "from": 10, "to": 12}])
    );
    let no_version = wendy.get(
        &kernel,
        &format!("/api/cms/entries/{hello}/versions/1/diff/9"),
    );
    assert_eq!(no_version.status, 404, "{}", no_version.body);

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
        {"name": "price", "type": "number", "min": 0},
        {"name": "specs", "type": "group", "repeatable": true, "max_items": 10, "fields": [
            {"name": "label", "type": "text", "required": true},
            {"name": "value", "type": "number"}
        ]}
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
    assert_eq!(
        schemas["ProductData"]["properties"]["specs"],
        json!({"type": "array", "maxItems": 10, "items": {
            "type": "object", "additionalProperties": false,
            "properties": {"label": {"type": "string"}, "value": {"type": "number"}},
            "required": ["label"]}})
    );

    // Conditional requests by date: a copy as new as the last change is
    // current; any publish or unpublish after it makes it stale.
    // A repeatable group is checked item by item, the error naming the item.
    let unlabelled = kernel.admin_json(
        "POST",
        "/api/cms/types/product/entries",
        Some(
            json!({"data": {"name": {"en": "Lamp"}, "specs": [{"label": "Height"}, {"value": 3}]}}),
        ),
    );
    assert_eq!(unlabelled.status, 400, "{}", unlabelled.body);
    assert!(
        unlabelled.body.contains("`specs[1].label`: is required"),
        "{}",
        unlabelled.body
    );
    let created = kernel.admin_json(
        "POST",
        "/api/cms/types/product/entries",
        Some(
            json!({"slug": "lamp", "data": {"name": {"en": "Lamp"}, "price": 30,
            "specs": [{"label": "Height", "value": 40}, {"label": "Colour"}]}}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let published = kernel.admin_json("POST", &format!("/api/cms/entries/{id}/publish"), None);
    assert_eq!(published.status, 200, "{}", published.body);
    let published_at = published.json()["published_at"].as_u64().unwrap();
    let one = format!("/api/cms/delivery/product/{id}");
    let list = "/api/cms/delivery/product";
    assert_eq!(
        kernel.get(&one).json()["fields"]["specs"],
        json!([{"label": "Height", "value": 40}, {"label": "Colour"}])
    );
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
    let kernel = start_with_config(data.path(), "query-budget = \"50\"\n");
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

impl Session {
    /// Uploads `bytes` as `content_type` with the metadata `query`.
    fn upload(&self, kernel: &Kernel, bytes: &[u8], content_type: &str, query: &str) -> RawReply {
        self.raw(
            kernel,
            "POST",
            &format!("/api/cms/assets{query}"),
            &[("content-type", content_type)],
            Some(bytes),
        )
    }
}

/// The id of an upload that must succeed.
fn uploaded(reply: &RawReply) -> String {
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["id"].as_str().unwrap().to_owned()
}

/// A `width`×`height` PNG with a gradient, so that resizing has work to do.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 90, 255])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image =
        image::RgbImage::from_fn(width, height, |x, _| image::Rgb([(x % 256) as u8, 40, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn text(reply: &RawReply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// Asserts that a binary reply is the JSON error `code` with `status`.
fn assert_refused(reply: &RawReply, status: u16, code: &str) {
    assert_eq!(
        (reply.status, reply.error_code()),
        (status, code.to_owned()),
        "{}",
        text(reply)
    );
}

#[test]
fn assets_are_uploaded_deduplicated_and_served_with_ranges_and_renditions() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start_with_config(data.path(), "max-asset-bytes = \"1MiB\"\n");
    role(&kernel, "writer", &["cms.entry.read", "cms.entry.write"]);
    role(&kernel, "librarian", &["cms.entry.read", "cms.asset.write"]);
    let wendy = user(&kernel, "wendy", "writer");
    let lara = user(&kernel, "lara", "librarian");
    let photo = png(64, 32);

    // Uploading needs cms.asset.write.
    let anonymous = kernel.call_bytes(
        "POST",
        "/api/cms/assets",
        &[("content-type", "image/png")],
        Some(&photo),
    );
    assert_eq!(anonymous.status, 401, "{}", text(&anonymous));
    let denied = wendy.upload(&kernel, &photo, "image/png", "");
    assert_eq!(denied.status, 403, "{}", text(&denied));

    // An image: metadata, dimensions, the SHA-256.
    let first = lara.upload(
        &kernel,
        &photo,
        "image/png",
        "?filename=photo.png&title=A%20photo&alt=Stripes&tags=red,%20blue,red",
    );
    let first_id = uploaded(&first);
    let record = first.json();
    assert_eq!(record["filename"], "photo.png");
    assert_eq!(record["content_type"], "image/png");
    assert_eq!(record["size"], photo.len());
    assert_eq!(record["sha256"], sha256(&photo));
    assert_eq!(
        (record["width"].clone(), record["height"].clone()),
        (json!(64), json!(32))
    );
    assert_eq!(record["title"], "A photo");
    assert_eq!(record["alt"], "Stripes");
    assert_eq!(record["tags"], json!(["red", "blue"]));
    assert_eq!(record["created_by"], "lara");

    // The same bytes again, claimed as something else: a new asset, the
    // same stored bytes, the type read from the bytes.
    let again = lara.upload(&kernel, &photo, "application/octet-stream", "");
    let again_id = uploaded(&again);
    assert_ne!(again_id, first_id);
    assert_eq!(again.json()["sha256"], sha256(&photo));
    assert_eq!(again.json()["content_type"], "image/png");
    let blob = lara.raw(
        &kernel,
        "GET",
        &format!("/api/cms/blobs/{}", sha256(&photo)),
        &[],
        None,
    );
    assert_eq!(blob.status, 200, "{}", text(&blob));
    assert_eq!(blob.json()["assets"], json!([first_id, again_id]));
    assert_eq!(blob.json()["keys"], 1, "one chunk, stored once");

    // A JPEG claimed as PNG is stored as a JPEG.
    let photo_jpeg = jpeg(40, 30);
    let lied = lara.upload(&kernel, &photo_jpeg, "image/png", "");
    uploaded(&lied);
    assert_eq!(lied.json()["content_type"], "image/jpeg");
    assert_eq!(lied.json()["width"], 40);

    // Clear refusals.
    let empty = lara.upload(&kernel, b"", "text/plain", "");
    assert_refused(&empty, 400, "empty_body");
    let untyped = lara.raw(&kernel, "POST", "/api/cms/assets", &[], Some(b"hello"));
    assert_refused(&untyped, 400, "missing_content_type");
    let nonsense = lara.upload(&kernel, b"hello", "nonsense", "");
    assert_eq!(nonsense.error_code(), "invalid_content_type");
    let not_png = lara.upload(&kernel, b"hello", "image/png", "");
    assert_refused(&not_png, 400, "content_type_mismatch");
    let too_large = lara.upload(
        &kernel,
        &vec![7u8; (1 << 20) + 1],
        "application/octet-stream",
        "",
    );
    assert_refused(&too_large, 413, "asset_too_large");
    let bad_meta = lara.upload(&kernel, b"hello", "text/plain", "?filename=a/b");
    assert_eq!(bad_meta.error_code(), "invalid_asset");

    // A text file, served to anyone with its type, ETag and ranges.
    let words = b"hello assets world";
    let note = uploaded(&lara.upload(
        &kernel,
        words,
        "text/plain; charset=utf-8",
        "?filename=note.txt",
    ));
    let url = format!("/api/cms/delivery/assets/{note}");
    let head = kernel.call_bytes("HEAD", &url, &[], None);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("18"));
    assert!(head.body.is_empty());
    let whole = kernel.call_bytes("GET", &url, &[], None);
    assert_eq!(whole.status, 200, "{}", text(&whole));
    assert_eq!(whole.body, words);
    assert_eq!(
        whole.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(whole.header("content-length"), Some("18"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("x-content-type-options"), Some("nosniff"));
    let tag = format!("\"{}\"", sha256(words));
    assert_eq!(whole.header("etag"), Some(tag.as_str()));
    let part = kernel.call_bytes("GET", &url, &[("range", "bytes=6-11")], None);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, b"assets");
    assert_eq!(part.header("content-range"), Some("bytes 6-11/18"));
    let tail = kernel.call_bytes("GET", &url, &[("range", "bytes=-5")], None);
    assert_eq!(
        (tail.status, tail.body.as_slice()),
        (206, b"world".as_slice())
    );
    let beyond = kernel.call_bytes("GET", &url, &[("range", "bytes=18-")], None);
    assert_eq!(beyond.status, 416, "{}", text(&beyond));
    assert_eq!(beyond.header("content-range"), Some("bytes */18"));
    let cached = kernel.call_bytes("GET", &url, &[("if-none-match", &tag)], None);
    assert_eq!((cached.status, cached.body.len()), (304, 0));
    let stale = kernel.call_bytes(
        "GET",
        &url,
        &[("range", "bytes=0-4"), ("if-range", "\"old\"")],
        None,
    );
    assert_eq!(
        (stale.status, stale.body.as_slice()),
        (200, words.as_slice())
    );

    // A file of several chunks: a range across a chunk boundary reads the
    // right bytes.
    let big: Vec<u8> = (0..600_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let big_id = uploaded(&lara.upload(&kernel, &big, "application/octet-stream", ""));
    let big_url = format!("/api/cms/delivery/assets/{big_id}");
    let across = kernel.call_bytes("GET", &big_url, &[("range", "bytes=262100-524400")], None);
    assert_eq!(across.status, 206);
    assert_eq!(across.body, big[262_100..=524_400]);
    assert_eq!(kernel.call_bytes("GET", &big_url, &[], None).body, big);

    // Renditions: resized keeping the aspect ratio, cached after the first.
    let small_url = format!("/api/cms/delivery/assets/{first_id}?w=16");
    let small = kernel.call_bytes("GET", &small_url, &[], None);
    assert_eq!(small.status, 200, "{}", text(&small));
    assert_eq!(small.header("content-type"), Some("image/png"));
    assert_eq!(small.header("x-rendition"), Some("generated"));
    let decoded = image::load_from_memory(&small.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (16, 8));
    let small_again = kernel.call_bytes("GET", &small_url, &[], None);
    assert_eq!(small_again.header("x-rendition"), Some("cached"));
    assert_eq!(small_again.body, small.body);
    // The dedup copy shares the cache: same bytes, same rendition.
    let shared = kernel.call_bytes(
        "GET",
        &format!("/api/cms/delivery/assets/{again_id}?w=16"),
        &[],
        None,
    );
    assert_eq!(shared.header("x-rendition"), Some("cached"));
    let cover = kernel.call_bytes(
        "GET",
        &format!("/api/cms/delivery/assets/{first_id}?w=10&h=10&fit=cover&format=jpeg"),
        &[],
        None,
    );
    assert_eq!(cover.status, 200, "{}", text(&cover));
    assert_eq!(cover.header("content-type"), Some("image/jpeg"));
    let decoded = image::load_from_memory(&cover.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (10, 10));
    let webp = kernel.call_bytes(
        "GET",
        &format!("/api/cms/delivery/assets/{first_id}?h=8&format=webp"),
        &[],
        None,
    );
    assert_eq!(webp.header("content-type"), Some("image/webp"));
    assert!(webp.body.starts_with(b"RIFF"), "{}", webp.body.len());
    let bad_width = kernel.call_bytes(
        "GET",
        &format!("/api/cms/delivery/assets/{first_id}?w=0"),
        &[],
        None,
    );
    assert_refused(&bad_width, 400, "invalid_query");
    let of_text = kernel.call_bytes("GET", &format!("{url}?w=10"), &[], None);
    assert_refused(&of_text, 415, "not_an_image");

    // A broken image uploads (its header is fine) but has no rendition;
    // the plugin keeps serving.
    let mut broken = png(300, 200);
    broken.truncate(broken.len() / 2);
    let broken_id = uploaded(&lara.upload(&kernel, &broken, "image/png", ""));
    let refused = kernel.call_bytes(
        "GET",
        &format!("/api/cms/delivery/assets/{broken_id}?w=10"),
        &[],
        None,
    );
    assert_refused(&refused, 422, "malformed_image");
    assert_eq!(kernel.call_bytes("GET", &small_url, &[], None).status, 200);

    // Metadata: read with cms.entry.read, changed with cms.asset.write.
    let meta_url = format!("/api/cms/assets/{first_id}");
    assert_eq!(
        wendy.raw(&kernel, "GET", &meta_url, &[], None).json()["alt"],
        "Stripes"
    );
    let change = br#"{"alt": "Red and blue stripes", "tags": ["stripes"]}"#;
    let json_type = [("content-type", "application/json")];
    let forbidden = wendy.raw(&kernel, "PUT", &meta_url, &json_type, Some(change));
    assert_eq!(forbidden.status, 403);
    let changed = lara.raw(&kernel, "PUT", &meta_url, &json_type, Some(change));
    assert_eq!(changed.status, 200, "{}", text(&changed));
    assert_eq!(changed.json()["alt"], "Red and blue stripes");
    assert_eq!(changed.json()["tags"], json!(["stripes"]));
    assert_eq!(changed.json()["title"], "A photo", "absent keys are kept");

    // Search over metadata: every word must match, the title weighs most.
    let search = |q: &str| -> Vec<String> {
        let found = wendy.raw(
            &kernel,
            "GET",
            &format!("/api/cms/assets/search?q={q}"),
            &[],
            None,
        );
        assert_eq!(found.status, 200, "{}", text(&found));
        found.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(search("red+stripes"), std::slice::from_ref(&first_id));
    assert_eq!(
        search("NOTE"),
        std::slice::from_ref(&note),
        "the filename is indexed"
    );
    assert!(search("photo+note").is_empty());
    let no_query = wendy.raw(&kernel, "GET", "/api/cms/assets/search", &[], None);
    assert_eq!(no_query.error_code(), "invalid_query");

    // Listing pages through every asset.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = wendy.raw(
            &kernel,
            "GET",
            &format!("/api/cms/assets?limit=2{cursor}"),
            &[],
            None,
        );
        assert_eq!(page.status, 200, "{}", text(&page));
        let page = page.json();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    seen.sort();
    let mut expected = vec![
        first_id,
        again_id,
        lied.json()["id"].as_str().unwrap().to_owned(),
        note,
        big_id,
        broken_id,
    ];
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn assets_used_by_entries_are_not_deleted() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    role(&kernel, "editor", &["cms.entry.*", "cms.asset.write"]);
    let ed = user(&kernel, "ed", "editor");
    let gallery = json!({"fields": [
        {"name": "title", "type": "text", "required": true},
        {"name": "hero", "type": "asset", "accept": ["image/*"]}
    ]});
    let defined = kernel.admin_json("PUT", "/api/cms/types/gallery", Some(gallery));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let reserved = kernel.admin_json(
        "PUT",
        "/api/cms/types/assets",
        Some(json!({"fields": [{"name": "a", "type": "text"}]})),
    );
    assert_eq!(reserved.status, 400, "{}", reserved.body);

    let photo = png(20, 20);
    let first = uploaded(&ed.upload(&kernel, &photo, "image/png", ""));
    let second = uploaded(&ed.upload(&kernel, &photo, "image/png", ""));
    let note = uploaded(&ed.upload(&kernel, b"words", "text/plain", ""));
    // A rendition, so that there is one to delete with the bytes.
    let rendition = kernel.call_bytes(
        "GET",
        &format!("/api/cms/delivery/assets/{first}?w=5"),
        &[],
        None,
    );
    assert_eq!(rendition.status, 200);

    // The asset field: an image of this site.
    let wrong_type = ed.post(
        &kernel,
        "/api/cms/types/gallery/entries",
        json!({"data": {"title": "G", "hero": note}}),
    );
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.body);
    assert!(wrong_type.body.contains("`hero`"), "{}", wrong_type.body);
    let missing = ed.post(
        &kernel,
        "/api/cms/types/gallery/entries",
        json!({"data": {"title": "G", "hero": "a_999"}}),
    );
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(
        missing.body.contains("no asset `a_999`"),
        "{}",
        missing.body
    );
    let entry = ed.post(
        &kernel,
        "/api/cms/types/gallery/entries",
        json!({"data": {"title": "G", "hero": first}}),
    );
    assert_eq!(entry.status, 201, "{}", entry.body);
    let entry = entry.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(publish(&kernel, &ed, &entry).status, 200);

    // In use by the draft and the published copy: refused, naming the entry.
    let refused = ed.send(&kernel, "DELETE", &format!("/api/cms/assets/{first}"), None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.error_code(), "asset_in_use");
    assert!(
        refused.body.contains(&format!("`{entry}`")),
        "{}",
        refused.body
    );
    let usage = ed.get(&kernel, &format!("/api/cms/assets/{first}/usage"));
    assert_eq!(usage.json()["entries"], json!([entry]));

    // The draft moves to the second asset; the published copy still uses
    // the first.
    let moved = ed.send(
        &kernel,
        "PUT",
        &format!("/api/cms/entries/{entry}"),
        Some(json!({"data": {"title": "G", "hero": second}})),
    );
    assert_eq!(moved.status, 200, "{}", moved.body);
    let still = ed.send(&kernel, "DELETE", &format!("/api/cms/assets/{first}"), None);
    assert_eq!(
        still.status, 409,
        "the published copy uses it: {}",
        still.body
    );
    // Published again: the first asset is free.
    assert_eq!(publish(&kernel, &ed, &entry).status, 200);
    let gone = ed.send(&kernel, "DELETE", &format!("/api/cms/assets/{first}"), None);
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert_eq!(
        kernel
            .call_bytes(
                "GET",
                &format!("/api/cms/delivery/assets/{first}"),
                &[],
                None
            )
            .status,
        404
    );
    // The bytes stay for the second asset.
    let blob_url = format!("/api/cms/blobs/{}", sha256(&photo));
    let blob = ed.get(&kernel, &blob_url);
    assert_eq!(blob.status, 200, "{}", blob.body);
    assert_eq!(blob.json()["assets"], json!([second]));
    assert_eq!(
        blob.json()["keys"],
        3,
        "one chunk and a cached rendition (record and chunk)"
    );

    // Deleting the entry frees the second asset; deleting it removes the
    // bytes and their renditions.
    assert_eq!(
        ed.send(
            &kernel,
            "DELETE",
            &format!("/api/cms/assets/{second}"),
            None
        )
        .status,
        409
    );
    assert_eq!(
        ed.send(
            &kernel,
            "DELETE",
            &format!("/api/cms/entries/{entry}"),
            None
        )
        .status,
        204
    );
    let last = ed.send(
        &kernel,
        "DELETE",
        &format!("/api/cms/assets/{second}"),
        None,
    );
    assert_eq!(last.status, 204, "{}", last.body);
    let blob = ed.get(&kernel, &blob_url);
    assert_eq!(
        (blob.status, blob.error_code()),
        (404, "unknown_blob".into()),
        "{}",
        blob.body
    );

    // Each upload and deletion is an event (a CDN purge can follow them).
    let log = kernel.admin_json("GET", "/admin/events?topic=cms.asset.", None);
    assert_eq!(log.status, 200, "{}", log.body);
    let topics: Vec<(String, String)> = log.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["topic"].as_str().unwrap().to_owned(),
                event["payload"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("cms.asset.created".to_owned(), first.clone()),
        ("cms.asset.deleted".to_owned(), first.clone()),
        ("cms.asset.deleted".to_owned(), second.clone()),
    ] {
        assert!(topics.contains(&expected), "{expected:?} in {topics:?}");
    }
}

#[test]
fn renditions_stay_within_the_plugins_limits_and_uploads_race_safely() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    let token = format!("Bearer {}", kernel.admin_token());
    let admin = [("authorization", token.as_str())];
    let upload = |bytes: &[u8], content_type: &str| -> RawReply {
        let headers = [admin[0], ("content-type", content_type)];
        kernel.call_bytes("POST", "/api/cms/assets", &headers, Some(bytes))
    };

    // A 4-megapixel photo-sized image is resized within the memory and
    // time limits.
    let large = png(2400, 1600);
    let large_id = uploaded(&upload(&large, "image/png"));
    let url = format!("/api/cms/delivery/assets/{large_id}?w=300");
    let small = kernel.call_bytes("GET", &url, &[], None);
    assert_eq!(small.status, 200, "{}", text(&small));
    let decoded = image::load_from_memory(&small.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (300, 200));

    // A decompression bomb: a valid PNG header claiming 16384×16384 pixels
    // (1 GiB decoded). The upload is accepted (the header is sound); a
    // rendition is a clear 422, not an out-of-memory trap.
    let mut bomb = png(1, 1);
    bomb.splice(16..24, [0, 0, 0x40, 0, 0, 0, 0x40, 0]);
    let crc = crc32fast::hash(&bomb[12..29]).to_be_bytes();
    bomb.splice(29..33, crc);
    let bomb_reply = upload(&bomb, "image/png");
    let bomb_id = uploaded(&bomb_reply);
    assert_eq!(bomb_reply.json()["width"], 16384);
    let refused = kernel.call_bytes(
        "GET",
        &format!("/api/cms/delivery/assets/{bomb_id}?w=100"),
        &[],
        None,
    );
    assert_refused(&refused, 422, "image_too_large");
    let again = kernel.call_bytes("GET", &url, &[], None);
    assert_eq!(again.status, 200, "the plugin keeps serving");
    assert_eq!(again.header("x-rendition"), Some("cached"));

    // Eight uploads of the same new bytes at once: eight assets, one copy
    // of the bytes (two chunks), no chunks of a losing upload left behind.
    let shared: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| uploaded(&upload(&shared, "application/octet-stream"))))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let blob = kernel.call_bytes(
        "GET",
        &format!("/api/cms/blobs/{}", sha256(&shared)),
        &admin,
        None,
    );
    assert_eq!(blob.status, 200, "{}", text(&blob));
    let mut holders: Vec<String> = blob.json()["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    holders.sort();
    let mut ids = ids;
    ids.sort();
    assert_eq!(holders, ids);
    assert_eq!(blob.json()["keys"], 2, "{}", text(&blob));
    for id in &ids {
        let served = kernel.call_bytes("GET", &format!("/api/cms/delivery/assets/{id}"), &[], None);
        assert_eq!(served.body, shared);
    }
}

#[test]
fn a_submitted_draft_is_published_when_a_reviewer_approves_it_in_the_workflow() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("tessera.cms.toml"),
        "review-workflow = \"cms-review\"\n",
    )
    .unwrap();
    let kernel = support::start_with_plugins(
        data.path(),
        &[("TESSERA_ADMIN_PASSWORD", support::ADMIN_PASSWORD)],
        &[
            support::repo_root().join("plugins/cms"),
            support::repo_root().join("plugins/workflow"),
        ],
    );
    let review = json!({
        "name": "CMS review",
        "initial": "in_review",
        "states": [{"name": "in_review"}, {"name": "approved", "terminal": true},
                   {"name": "rejected", "terminal": true}],
        "transitions": [
            {"name": "approve", "from": "in_review", "to": "approved", "roles": ["reviewer"]},
            {"name": "reject", "from": "in_review", "to": "rejected", "roles": ["reviewer"]}
        ],
        "actions": [{"on_enter": "approved", "publish": "workflow.cms.approved"},
                    {"on_enter": "rejected", "publish": "workflow.cms.rejected"}]
    });
    let defined = kernel.admin_json("PUT", "/api/workflow/definitions/cms-review", Some(review));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let defined = kernel.admin_json("PUT", "/api/cms/types/article", Some(article_type()));
    assert_eq!(defined.status, 201, "{}", defined.body);
    role(
        &kernel,
        "writer",
        &[
            "cms.entry.read",
            "cms.entry.write",
            "workflow.instance.read",
        ],
    );
    role(
        &kernel,
        "reviewer",
        &["cms.entry.read", "workflow.instance.read"],
    );
    let wendy = user(&kernel, "wendy", "writer");
    let rex = user(&kernel, "rex", "reviewer");

    // Submit: the review is pending and cannot be submitted twice.
    let id = created(
        &kernel,
        &wendy,
        "launch",
        json!({"title": {"en": "Launch"}}),
    );
    let submit_path = format!("/api/cms/entries/{id}/submit");
    let submitted = wendy.post(&kernel, &submit_path, json!({"comment": "ready"}));
    assert_eq!(submitted.status, 202, "{}", submitted.body);
    assert_eq!(submitted.json()["status"], "pending");
    assert_eq!(submitted.json()["version"], 1);
    let twice = wendy.post(&kernel, &submit_path, json!({}));
    assert_eq!(twice.status, 409, "{}", twice.body);
    assert_eq!(twice.error_code(), "already_in_review");

    // The workflow plugin starts an instance from the event: a task for rex.
    let task = |subject: &str| {
        poll(
            || rex.get(&kernel, "/api/workflow/tasks"),
            |reply| reply.body.contains(&format!("\"{subject}\"")),
        )
        .json()["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|task| task["subject"]["id"] == subject)
            .unwrap_or_else(|| panic!("no task for {subject}"))["instance"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let instance = task(&id);
    let approve = format!("/api/workflow/instances/{instance}/transitions/approve");
    let not_reviewer = wendy.post(&kernel, &approve, json!({}));
    assert_eq!(not_reviewer.status, 403, "{}", not_reviewer.body);
    let delivery = format!("/api/cms/delivery/article/{id}");
    assert_eq!(kernel.get(&delivery).status, 404, "not before approval");
    let approved = rex.post(&kernel, &approve, json!({"comment": "ship it"}));
    assert_eq!(approved.status, 200, "{}", approved.body);

    // The approval publishes the submitted version.
    let live = poll(|| kernel.get(&delivery), |reply| reply.status == 200);
    assert_eq!(live.status, 200, "published on approval: {}", live.body);
    // The review record is updated right after the publish it caused.
    let record = poll(
        || wendy.get(&kernel, &format!("/api/cms/entries/{id}/review")),
        |reply| reply.json()["status"] == "approved",
    );
    assert_eq!(record.json()["status"], "approved", "{}", record.body);
    assert_eq!(record.json()["decided_by"], "rex");
    assert_eq!(record.json()["decision_comment"], "ship it");

    // A rejection publishes nothing.
    let other = created(&kernel, &wendy, "other", json!({"title": {"en": "Other"}}));
    let sent = wendy.post(
        &kernel,
        &format!("/api/cms/entries/{other}/submit"),
        json!({}),
    );
    assert_eq!(sent.status, 202, "{}", sent.body);
    let instance = task(&other);
    let rejected = rex.post(
        &kernel,
        &format!("/api/workflow/instances/{instance}/transitions/reject"),
        json!({"comment": "not yet"}),
    );
    assert_eq!(rejected.status, 200, "{}", rejected.body);
    let record = poll(
        || wendy.get(&kernel, &format!("/api/cms/entries/{other}/review")),
        |reply| reply.json()["status"] != "pending",
    );
    assert_eq!(record.json()["status"], "rejected", "{}", record.body);
    assert_eq!(
        kernel
            .get(&format!("/api/cms/delivery/article/{other}"))
            .status,
        404
    );
}

#[test]
fn delivery_expands_references_and_assets_to_a_bounded_depth() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    role(&kernel, "chief", &["cms.*"]);
    let ed = user(&kernel, "ed", "chief");
    for (key, fields) in [
        ("company", json!([{"name": "name", "type": "text"}])),
        (
            "author",
            json!([{"name": "name", "type": "text"},
                   {"name": "company", "type": "reference", "to": "company"}]),
        ),
        (
            "post",
            json!([{"name": "title", "type": "text", "localized": true},
                   {"name": "author", "type": "reference", "to": "author"},
                   {"name": "sources", "type": "reference", "to": "author", "repeatable": true},
                   {"name": "file", "type": "asset"}]),
        ),
    ] {
        let defined = kernel.admin_json(
            "PUT",
            &format!("/api/cms/types/{key}"),
            Some(json!({ "fields": fields })),
        );
        assert_eq!(defined.status, 201, "{}", defined.body);
    }
    let make = |key: &str, data: Value, publish: bool| {
        let reply = ed.post(
            &kernel,
            &format!("/api/cms/types/{key}/entries"),
            json!({ "data": data }),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.json()["id"].as_str().unwrap().to_owned();
        if publish {
            let published = ed.post(
                &kernel,
                &format!("/api/cms/entries/{id}/publish"),
                json!({}),
            );
            assert_eq!(published.status, 200, "{}", published.body);
        }
        id
    };
    let acme = make("company", json!({"name": "Acme"}), true);
    let ada = make("author", json!({"name": "Ada", "company": acme}), true);
    let draft_author = make("author", json!({"name": "Hidden"}), false);
    let file = uploaded(&ed.upload(&kernel, b"plain words", "text/plain", "?title=Notes"));
    let post = make(
        "post",
        json!({"title": {"en": "Hello", "fr": "Salut"}, "author": ada,
               "sources": [ada, draft_author], "file": file}),
        true,
    );

    let one = format!("/api/cms/delivery/post/{post}");
    let plain = kernel.get(&one);
    assert_eq!(
        plain.json()["fields"]["author"],
        ada.as_str(),
        "ids unless asked"
    );
    let expanded = kernel.get(&format!(
        "{one}?expand=author.company,sources,file&locale=fr"
    ));
    assert_eq!(expanded.status, 200, "{}", expanded.body);
    let fields = &expanded.json()["fields"];
    assert_eq!(fields["title"], "Salut");
    assert_eq!(fields["author"]["fields"]["name"], "Ada");
    assert_eq!(
        fields["author"]["fields"]["company"]["fields"]["name"],
        "Acme"
    );
    assert_eq!(fields["sources"][0]["id"], ada.as_str());
    assert_eq!(fields["sources"][1], Value::Null, "drafts stay hidden");
    assert_eq!(fields["file"]["title"], "Notes");
    assert_eq!(
        fields["file"]["url"],
        format!("/api/cms/delivery/assets/{file}")
    );
    let list = kernel.get("/api/cms/delivery/post?expand=author&sort=-published_at");
    assert_eq!(
        list.json()["items"][0]["fields"]["author"]["fields"]["company"],
        acme.as_str(),
        "one level asked, one level given: {}",
        list.body
    );

    for (query, words) in [
        ("expand=title", "not a reference or asset field"),
        ("expand=file.title", "not a reference field"),
        ("expand=author.company.name", "deeper than 2"),
        ("expand=nothing", "`nothing` is not a field of `post`"),
    ] {
        let refused = kernel.get(&format!("{one}?{query}"));
        assert_eq!(refused.status, 400, "{query}: {}", refused.body);
        assert!(refused.body.contains(words), "{query}: {}", refused.body);
    }
}

#[test]
fn boolean_filters_and_reference_paths_select_published_entries() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    role(&kernel, "chief", &["cms.*"]);
    let ed = user(&kernel, "ed", "chief");
    for (key, fields) in [
        ("company", json!([{"name": "name", "type": "text"}])),
        (
            "author",
            json!([{"name": "name", "type": "text"},
                   {"name": "company", "type": "reference", "to": "company"}]),
        ),
        (
            "post",
            json!([{"name": "title", "type": "text"},
                   {"name": "tag", "type": "enum", "values": ["news", "howto", "story"]},
                   {"name": "rating", "type": "number"},
                   {"name": "author", "type": "reference", "to": "author"}]),
        ),
    ] {
        let defined = kernel.admin_json(
            "PUT",
            &format!("/api/cms/types/{key}"),
            Some(json!({ "fields": fields })),
        );
        assert_eq!(defined.status, 201, "{}", defined.body);
    }
    let make = |key: &str, data: Value, live: bool| {
        let reply = ed.post(
            &kernel,
            &format!("/api/cms/types/{key}/entries"),
            json!({ "data": data }),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.json()["id"].as_str().unwrap().to_owned();
        if live {
            assert_eq!(publish(&kernel, &ed, &id).status, 200);
        }
        id
    };
    let acme = make("company", json!({"name": "Acme"}), true);
    let globex = make("company", json!({"name": "Globex"}), true);
    let ada = make("author", json!({"name": "Ada", "company": acme}), true);
    let bob = make("author", json!({"name": "Bob", "company": globex}), true);
    let hidden = make("author", json!({"name": "Ann", "company": acme}), false);
    let posts: Vec<(String, &str)> = [
        ("p1", "news", 5, &ada),
        ("p2", "howto", 2, &ada),
        ("p3", "news", 1, &bob),
        ("p4", "story", 4, &bob),
        ("p5", "story", 3, &hidden),
    ]
    .into_iter()
    .map(|(title, tag, rating, author)| {
        let id = make(
            "post",
            json!({"title": title, "tag": tag, "rating": rating, "author": author}),
            true,
        );
        (id, title)
    })
    .collect();
    let titles = |query: &str| -> Vec<String> {
        let reply = kernel.get(&format!("/api/cms/delivery/post?sort=title&{query}"));
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["fields"]["title"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(posts.len(), 5);
    assert_eq!(
        titles("filter[$or][0][tag][eq]=howto&filter[$or][1][rating][gte]=4"),
        ["p1", "p2", "p4"]
    );
    assert_eq!(titles("filter[$not][tag][eq]=news"), ["p2", "p4", "p5"]);
    assert_eq!(
        titles("filter[$or][0][tag][eq]=howto&filter[$or][1][tag][eq]=story"),
        ["p2", "p4", "p5"],
        "an $or of indexed equalities reads the union of their indexes"
    );
    assert_eq!(
        titles(
            "filter[$and][0][$or][0][rating][lt]=2&filter[$and][0][$or][1][rating][gt]=4&filter[tag][eq]=news"
        ),
        ["p1", "p3"]
    );
    assert_eq!(titles("filter[author.name][eq]=Ada"), ["p1", "p2"]);
    assert_eq!(
        titles("filter[author.company.name][eq]=Acme"),
        ["p1", "p2"],
        "an unpublished author is not followed"
    );
    assert_eq!(
        titles("filter[author.company.name][ne]=Acme&filter[$not][rating][lt]=2"),
        ["p4", "p5"],
        "`ne` passes when the path reaches nothing"
    );

    for (query, words) in [
        ("filter[title.name][eq]=x", "not a reference field"),
        (
            "filter[author.age][eq]=1",
            "`age` is not a field of `author`",
        ),
        ("filter[$or][one][tag][eq]=x", "branch number"),
        ("filter[$nor][0][tag][eq]=x", "$nor"),
        ("sort=author.name", "`sort`: `author.name` is not a field"),
    ] {
        let refused = kernel.get(&format!("/api/cms/delivery/post?{query}"));
        assert_eq!(refused.status, 400, "{query}: {}", refused.body);
        assert!(refused.body.contains(words), "{query}: {}", refused.body);
    }
}

#[test]
fn a_release_publishes_all_its_entries_or_none() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    role(&kernel, "chief", &["cms.*"]);
    role(&kernel, "writer", &["cms.entry.read", "cms.entry.write"]);
    let ed = user(&kernel, "ed", "chief");
    let wes = user(&kernel, "wes", "writer");
    let defined = kernel.admin_json("PUT", "/api/cms/types/article", Some(article_type()));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let live = |slug: &str| kernel.get(&format!("/api/cms/delivery/article/{slug}"));

    // `old` is live at version 1 with a newer draft; `fresh` was never
    // published; `gone` is live and leaves with the release.
    let old = created(&kernel, &ed, "old", json!({"title": {"en": "Old"}}));
    assert_eq!(publish(&kernel, &ed, &old).status, 200);
    let saved = ed.send(
        &kernel,
        "PUT",
        &format!("/api/cms/entries/{old}"),
        Some(json!({"data": {"title": {"en": "New"}}})),
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    let fresh = created(&kernel, &ed, "fresh", json!({"title": {"en": "Fresh v1"}}));
    let saved = ed.send(
        &kernel,
        "PUT",
        &format!("/api/cms/entries/{fresh}"),
        Some(json!({"data": {"title": {"en": "Fresh v2, not ready"}}})),
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    let gone = created(&kernel, &ed, "gone", json!({"title": {"en": "Gone"}}));
    assert_eq!(publish(&kernel, &ed, &gone).status, 200);

    let items = json!([
        {"entry": old},
        {"entry": fresh, "version": 1},
        {"entry": gone, "action": "unpublish"}
    ]);
    let refused = wes.post(
        &kernel,
        "/api/cms/releases",
        json!({"title": "Spring", "items": items}),
    );
    assert_eq!(
        refused.status, 403,
        "writers cannot release: {}",
        refused.body
    );
    let made = ed.post(
        &kernel,
        "/api/cms/releases",
        json!({"title": "Spring", "items": items}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let release = made.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(made.json()["state"], "open");

    // A release with one bad item publishes nothing at all.
    let broken = ed.post(
        &kernel,
        "/api/cms/releases",
        json!({"title": "Broken", "items": [{"entry": fresh}, {"entry": "e_999"}, {"entry": old, "version": 7}]}),
    );
    assert_eq!(broken.status, 201, "{}", broken.body);
    let broken = broken.json()["id"].as_str().unwrap().to_owned();
    let blocked = ed.post(
        &kernel,
        &format!("/api/cms/releases/{broken}/publish"),
        json!({}),
    );
    assert_eq!(blocked.status, 409, "{}", blocked.body);
    assert_eq!(blocked.json()["error"]["code"], "release_blocked");
    let message = blocked.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("e_999") && message.contains("no version 7"),
        "{message}"
    );
    assert_eq!(
        live("fresh").status,
        404,
        "nothing of the blocked release is live"
    );
    assert_eq!(live("old").json()["fields"]["title"], "Old");

    let published = ed.post(
        &kernel,
        &format!("/api/cms/releases/{release}/publish"),
        json!({}),
    );
    assert_eq!(published.status, 200, "{}", published.body);
    assert_eq!(published.json()["state"], "published");
    assert_eq!(published.json()["published_versions"], json!([2, 1, null]));
    assert_eq!(live("old").json()["fields"]["title"], "New");
    assert_eq!(live("fresh").json()["fields"]["title"], "Fresh v1");
    assert_eq!(live("gone").status, 404);
    let list = kernel.get(
        "/api/cms/delivery/article?filter[title][eq]=Fresh v1"
            .replace(' ', "%20")
            .as_str(),
    );
    assert_eq!(
        ids(&list),
        ["fresh"],
        "the field indexes follow: {}",
        list.body
    );
    let entry = ed.get(&kernel, &format!("/api/cms/entries/{fresh}"));
    assert_eq!(entry.json()["published_version"], 1);
    assert_eq!(entry.json()["version"], 2, "the newer draft stays a draft");
    let entry = ed.get(&kernel, &format!("/api/cms/entries/{gone}"));
    assert_eq!(entry.json()["published_version"], Value::Null);

    let again = ed.post(
        &kernel,
        &format!("/api/cms/releases/{release}/publish"),
        json!({}),
    );
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["error"]["code"], "release_published");
    let changed = ed.send(
        &kernel,
        "PUT",
        &format!("/api/cms/releases/{release}"),
        Some(json!({"title": "Later", "items": []})),
    );
    assert_eq!(changed.status, 409, "{}", changed.body);
    let listed = ed.get(&kernel, "/api/cms/releases");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 2);
    let twice = ed.post(
        &kernel,
        "/api/cms/releases",
        json!({"title": "Twice", "items": [{"entry": old}, {"entry": old}]}),
    );
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert_eq!(twice.json()["error"]["code"], "invalid_release");
}

#[test]
fn site_locales_fall_back_along_their_chains_and_publish_one_by_one() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    role(&kernel, "chief", &["cms.*"]);
    role(&kernel, "writer", &["cms.entry.read", "cms.entry.write"]);
    let ed = user(&kernel, "ed", "chief");
    let wes = user(&kernel, "wes", "writer");
    let defined = kernel.admin_json("PUT", "/api/cms/types/article", Some(article_type()));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let read = |slug: &str, locale: &str| -> Value {
        let reply = kernel.get(&format!("/api/cms/delivery/article/{slug}?locale={locale}"));
        assert_eq!(reply.status, 200, "{slug} in {locale}: {}", reply.body);
        reply.json()["fields"]["title"].clone()
    };
    // Published before the site's locales change: re-indexed by a job.
    let early = created(
        &kernel,
        &ed,
        "early",
        json!({"title": {"en": "Early", "fr": "Tôt"}}),
    );
    assert_eq!(publish(&kernel, &ed, &early).status, 200);

    let settings = json!({"default": "en", "locales": [
        {"code": "en"}, {"code": "fr"}, {"code": "fr-CA", "fallback": ["fr"]}, {"code": "de"}]});
    let refused = wes.send(&kernel, "PUT", "/api/cms/locales", Some(settings.clone()));
    assert_eq!(refused.status, 403, "{}", refused.body);
    for (bad, words) in [
        (
            json!({"default": "it", "locales": [{"code": "en"}]}),
            "default",
        ),
        (
            json!({"default": "en", "locales": [{"code": "en", "fallback": ["es"]}]}),
            "`es`",
        ),
    ] {
        let reply = ed.send(&kernel, "PUT", "/api/cms/locales", Some(bad));
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.body.contains(words), "{}", reply.body);
    }
    let set = ed.send(&kernel, "PUT", "/api/cms/locales", Some(settings));
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.json()["chains"]["fr-CA"], json!(["fr-CA", "fr", "en"]));
    let public = kernel.get("/api/cms/delivery/locales");
    assert_eq!(public.status, 200, "{}", public.body);
    assert_eq!(public.json()["default"], "en");
    let done = poll(
        || ed.get(&kernel, "/api/cms/locales"),
        |reply| reply.json()["reindex"]["state"] == "done",
    );
    assert_eq!(done.json()["reindex"]["state"], "done", "{}", done.body);
    assert_eq!(done.json()["reindex"]["indexed"], 1);

    assert_eq!(read("early", "fr-CA"), "Tôt", "fr-CA falls back to fr");
    assert_eq!(read("early", "de"), "Early", "de falls back to the default");
    let found = kernel.get("/api/cms/delivery/article?locale=fr-CA&filter[title][eq]=T%C3%B4t");
    assert_eq!(
        ids(&found),
        ["early"],
        "re-indexed for fr-CA: {}",
        found.body
    );

    // Per-locale drafts: each locale's editor saves only their values.
    let id = created(
        &kernel,
        &ed,
        "hello",
        json!({"title": {"en": "Hello", "fr": "Bonjour"}, "price": 5}),
    );
    assert_eq!(publish(&kernel, &ed, &id).status, 200);
    let save = |locale: &str, data: Value| {
        ed.send(
            &kernel,
            "PUT",
            &format!("/api/cms/entries/{id}?locale={locale}"),
            Some(json!({ "data": data })),
        )
    };
    let fr = save("fr", json!({"title": "Salut"}));
    assert_eq!(fr.status, 200, "{}", fr.body);
    assert_eq!(
        fr.json()["data"]["title"],
        json!({"en": "Hello", "fr": "Salut"})
    );
    assert_eq!(save("en", json!({"title": "Hello v2"})).status, 200);
    let shared = save("fr", json!({"price": 7}));
    assert_eq!(shared.status, 400, "{}", shared.body);
    assert!(shared.body.contains("not localized"), "{}", shared.body);
    assert_eq!(read("hello", "fr"), "Bonjour", "drafts are not live");

    // Publishing French leaves the English copy as it was.
    let published = ed.post(
        &kernel,
        &format!("/api/cms/entries/{id}/publish"),
        json!({"locales": ["fr"]}),
    );
    assert_eq!(published.status, 200, "{}", published.body);
    assert_eq!(read("hello", "fr"), "Salut");
    assert_eq!(read("hello", "fr-CA"), "Salut");
    assert_eq!(
        read("hello", "en"),
        "Hello",
        "the English draft stays a draft"
    );
    let unknown = ed.post(
        &kernel,
        &format!("/api/cms/entries/{id}/publish"),
        json!({"locales": ["xx"]}),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(unknown.json()["error"]["code"], "invalid_locale");

    // Withdrawing French: French readers fall back to English.
    let withdrawn = ed.post(
        &kernel,
        &format!("/api/cms/entries/{id}/unpublish"),
        json!({"locales": ["fr"]}),
    );
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
    assert_eq!(
        withdrawn.json()["published_locales"],
        json!(["en", "fr-CA", "de"])
    );
    assert_eq!(read("hello", "fr"), "Hello");
    assert_eq!(read("hello", "fr-CA"), "Hello");
    // Withdrawing the default locale withdraws the entry.
    let gone = ed.post(
        &kernel,
        &format!("/api/cms/entries/{id}/unpublish"),
        json!({"locales": ["en"]}),
    );
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.json()["published_version"], Value::Null);
    assert_eq!(kernel.get("/api/cms/delivery/article/hello").status, 404);
}

#[test]
fn variants_are_validated_versioned_and_default_without_personalisation() {
    let data = tempfile::tempdir().unwrap();
    let kernel = start(data.path());
    role(&kernel, "chief", &["cms.*"]);
    let ed = user(&kernel, "ed", "chief");
    let defined = kernel.admin_json("PUT", "/api/cms/types/article", Some(article_type()));
    assert_eq!(defined.status, 201, "{}", defined.body);
    let created = ed.post(
        &kernel,
        "/api/cms/types/article/entries",
        json!({"slug": "offer", "data": {"title": {"en": "Our offer"}, "price": 10},
               "variants": [{"segment": "tech-buyer", "data": {"title": {"en": "Specifications"}}},
                            {"segment": "biz-buyer", "data": {"price": 8}}]}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json()["variants"][1]["data"], json!({"price": 8}));

    // A variant must make a valid entry; mistakes name the variant.
    for (variants, words) in [
        (
            json!([{"segment": "tech", "data": {"price": -1}}]),
            "variants[0]",
        ),
        (
            json!([{"segment": "a b", "data": {"price": 1}}]),
            "variants[0].segment",
        ),
        (
            json!([{"segment": "t", "data": {"price": 1}}, {"segment": "t", "data": {"price": 2}}]),
            "two variants",
        ),
        (json!([{"segment": "t"}]), "variants"),
    ] {
        let refused = ed.send(
            &kernel,
            "PUT",
            &format!("/api/cms/entries/{id}"),
            Some(json!({"data": {"title": {"en": "Our offer"}}, "variants": variants})),
        );
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains(words), "{words}: {}", refused.body);
    }
    // An update without `variants` keeps them; the versions diff them.
    let kept = ed.send(
        &kernel,
        "PUT",
        &format!("/api/cms/entries/{id}"),
        Some(json!({"data": {"title": {"en": "Our offer"}, "price": 12}})),
    );
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(kept.json()["variants"].as_array().unwrap().len(), 2);
    let changed = ed.send(
        &kernel,
        "PUT",
        &format!("/api/cms/entries/{id}"),
        Some(json!({"data": {"title": {"en": "Our offer"}, "price": 12},
                    "variants": [{"segment": "tech-buyer", "data": {"title": {"en": "Specs"}}}]})),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    let diff = ed.get(&kernel, &format!("/api/cms/entries/{id}/versions/2/diff/3"));
    assert_eq!(diff.status, 200, "{}", diff.body);
    let paths: Vec<String> = diff.json()["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        paths,
        ["variants.biz-buyer", "variants.tech-buyer"],
        "{}",
        diff.body
    );

    // Without the personalisation plugin everyone gets the default content,
    // marked private because it could depend on who asks.
    assert_eq!(publish(&kernel, &ed, &id).status, 200);
    let one = kernel.call_bytes("GET", "/api/cms/delivery/article/offer", &[], None);
    assert_eq!(one.status, 200);
    let body: Value = serde_json::from_slice(&one.body).unwrap();
    assert_eq!(body["fields"]["title"], "Our offer");
    assert_eq!(body["variant"], Value::Null);
    assert!(body.get("_variants").is_none(), "{body}");
    assert_eq!(one.header("cache-control"), Some("private"));
    let list = kernel.get("/api/cms/delivery/article?sort=-published_at");
    assert_eq!(list.json()["items"][0]["fields"]["price"], 12);
    assert!(!list.body.contains("_variants"), "{}", list.body);
}
