//! One rule for header fields: a singleton field (RFC 9110 §5.3: one value,
//! no list syntax) goes out at most once, on every endpoint family. Before
//! `Reply::header` replaced instead of appending, a transcode 416 carried
//! two `Content-Type` fields and every `/api` reply two `Cache-Control`
//! fields; the tests' `header()` helper, returning the first match, hid it.
//! These tests look at every field.

use std::path::Path;

use crate::common::subsonic_api::{creds, get_at, ok_at};
use crate::common::subsonic_library::{USERS, library};
use crate::common::{Client, Resp, TestServer, post_json, wait_for_library_scan};
use tapedeck::ids::Id;
use tapedeck::library::RelPath;

/// The fields a response may carry once at most.
const SINGLETONS: [&str; 8] = [
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "Cache-Control",
    "ETag",
    "Last-Modified",
    "Location",
    "Retry-After",
];

/// Fails when `r` (the answer to `what`) repeats a singleton field.
fn assert_singletons_once(what: &str, r: &Resp) {
    for name in SINGLETONS {
        let n = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count();
        assert!(
            n <= 1,
            "{what}: {name} appears {n} times in {:?}",
            r.headers
        );
    }
}

fn song(path: &str) -> String {
    Id::Song(RelPath::new(path).unwrap()).encode()
}

/// Checks `r`'s status and its singleton fields; returns it.
fn check(what: &str, r: Resp, status: u16) -> Resp {
    assert_eq!(
        r.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_singletons_once(what, &r);
    r
}

const TRACK: &str = "/play/Zo%C3%AB/First%20Light/01%20Dawn.wav";

fn server() -> TestServer {
    let config = format!("{USERS}\n[server]\nweb_user = \"anna\"\n");
    let s = TestServer::start(&config, library);
    wait_for_library_scan(&s);
    s
}

#[test]
fn the_player_api_and_page_send_each_singleton_field_once() {
    let s = server();
    for path in [
        "/",
        "/app.js",
        "/api/version",
        "/api/browse",
        "/api/browse/Zo%C3%AB/First%20Light",
        "/api/search?q=dawn",
        "/api/playlists",
        "/api/playlists/Lists/mix.m3u",
        "/api/listening",
        "/api/cover/Zo%C3%AB/Second%20Wind",
        "/api/browse/nowhere",
    ] {
        let r = s.get(path, &[]);
        assert!(r.status == 200 || r.status == 404, "{path}: {}", r.status);
        assert_singletons_once(path, &r);
        if let Some(etag) = r.header("etag").map(str::to_owned) {
            let again = s.get(path, &[("If-None-Match", &etag)]);
            check(&format!("{path} revalidated"), again, 304);
        }
    }
    let star = post_json(
        &s,
        "/api/star",
        r#"{"path": "Zoë/First Light/01 Dawn.wav", "starred": true}"#,
    );
    assert_singletons_once("POST /api/star", &star);
    check(
        "DELETE /api/version",
        s.send("DELETE", "/api/version", &[]),
        405,
    );
}

#[test]
fn play_sends_each_singleton_field_once_for_every_status() {
    let s = server();
    for quality in ["original", "low"] {
        let url = format!("{TRACK}?quality={quality}");
        let whole = check(&format!("{quality} 200"), s.get(&url, &[]), 200);
        let len = whole.body.len();
        check(
            &format!("{quality} 206"),
            s.get(&url, &[("Range", "bytes=100-199")]),
            206,
        );
        let past = format!("bytes={}-", len + 10);
        let r = check(
            &format!("{quality} 416"),
            s.get(&url, &[("Range", &past)]),
            416,
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        // A first play streams the transcode as it runs (no validators);
        // once the entry is in the cache it is served as a file.
        let mut etag = whole.header("etag").map(str::to_owned);
        crate::common::wait_for("the entry served with an ETag", || {
            etag = etag
                .take()
                .or_else(|| s.get(&url, &[]).header("etag").map(str::to_owned));
            etag.is_some()
        });
        let etag = etag.unwrap_or_default();
        check(
            &format!("{quality} 304"),
            s.get(&url, &[("If-None-Match", &etag)]),
            304,
        );
        check(&format!("{quality} HEAD"), s.send("HEAD", &url, &[]), 200);
    }
    check(
        "unknown quality",
        s.get(&format!("{TRACK}?quality=ultra"), &[]),
        400,
    );
}

#[test]
fn subsonic_answers_media_and_covers_send_each_singleton_field_once() {
    let s = server();
    let anna = creds("anna", "open sesame");
    let dawn = song("Zoë/First Light/01 Dawn.wav");
    let xml: Vec<(String, String)> = anna.iter().filter(|(k, _)| k != "f").cloned().collect();
    check("ping XML", get_at(&s, "ping", &xml, &[], &[]), 200);
    check(
        "getAlbumList2 JSON",
        get_at(&s, "getAlbumList2", &anna, &[("type", "newest")], &[]),
        200,
    );
    check(
        "a failed call",
        get_at(&s, "getSong", &anna, &[("id", "nope")], &[]),
        200,
    );
    let stream = check(
        "stream",
        get_at(
            &s,
            "stream",
            &anna,
            &[("id", &dawn), ("format", "mp3")],
            &[],
        ),
        200,
    );
    if let Some(etag) = stream.header("etag").map(str::to_owned) {
        check(
            "stream 304",
            get_at(
                &s,
                "stream",
                &anna,
                &[("id", &dawn), ("format", "mp3")],
                &[("If-None-Match", &etag)],
            ),
            304,
        );
    }
    check(
        "stream 206",
        get_at(
            &s,
            "stream",
            &anna,
            &[("id", &dawn)],
            &[("Range", "bytes=0-99")],
        ),
        206,
    );
    check(
        "download",
        get_at(&s, "download", &anna, &[("id", &dawn)], &[]),
        200,
    );
    let album = ok_at(
        &s,
        &anna,
        "getAlbumList2",
        &[("type", "alphabeticalByName")],
    );
    let cover = album["albumList2"]["album"]
        .as_array()
        .and_then(|a| a.iter().find_map(|x| x["coverArt"].as_str()))
        .expect("an album with a cover")
        .to_owned();
    for size in [None, Some("32")] {
        let mut extra = vec![("id", cover.as_str())];
        extra.extend(size.map(|v| ("size", v)));
        let r = check(
            &format!("getCoverArt {size:?}"),
            get_at(&s, "getCoverArt", &anna, &extra, &[]),
            200,
        );
        let etag = r.header("etag").expect("a cover ETag").to_owned();
        check(
            &format!("getCoverArt {size:?} 304"),
            get_at(
                &s,
                "getCoverArt",
                &anna,
                &extra,
                &[("If-None-Match", &etag)],
            ),
            304,
        );
    }
    check(
        "PUT /rest/ping",
        s.request("PUT", "/rest/ping", &[], &[]),
        405,
    );
}

#[test]
fn admin_and_event_streams_send_each_singleton_field_once() {
    let s = TestServer::start("", |root: &Path| {
        std::fs::create_dir(root.join("Album")).unwrap();
        crate::common::write_wav(&root.join("Album/01 a.wav"), 44_100, 2, 4410, 1);
    });
    check("stats", s.get("/admin/cache/stats", &[]), 200);
    check("GET warm", s.get("/admin/cache/warm", &[]), 405);
    let r = check(
        "warm",
        post_json(
            &s,
            "/admin/cache/warm",
            r#"{"paths": ["Album"], "qualities": ["low"]}"#,
        ),
        202,
    );
    let job = r.header("location").expect("Location").to_owned();
    // The stream ends when the job does: in-process, the whole of it.
    let events = check(
        "events",
        s.get(&format!("{job}/events"), &[("Accept", "text/event-stream")]),
        200,
    );
    assert_eq!(
        events.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(
        String::from_utf8_lossy(&events.body).contains("event: done"),
        "the stream ran to the end"
    );
    check("job", s.get(&job, &[]), 200);
    check("jobs", s.get("/admin/jobs", &[]), 200);
    check("no such job", s.get("/admin/jobs/999", &[]), 404);
    // Over TCP too: the transport adds its own fields (Date, framing).
    let r = s.get_tcp("/admin/cache/stats", &[]);
    check("stats over TCP", r, 200);
    let token = TestServer::start("[admin]\ntoken = \"sesame-0123456789\"\n", |_| {});
    check("no bearer token", token.get("/admin/cache/stats", &[]), 401);
}
