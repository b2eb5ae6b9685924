//! The Subsonic API over a real socket: logins and their error codes, the
//! envelope in XML, JSON and JSONP, browsing in both views, lists, search
//! (with an empty query paged like Symfonium's sync), streaming with
//! Range, downloads, scaled covers, playlists, hostile IDs. The schema
//! checks and the real client libraries are in tests/subsonic_clients.rs.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::subsonic_api::{call_at, code, creds, get_at, ok_at, pairs, query};
use common::subsonic_library::{USERS, library};
use common::{Resp, TestServer, raw};
use serde_json::Value;
use tapedeck::ids::Id;
use tapedeck::library::RelPath;
use tapedeck::subsonic::token;

fn server() -> TestServer {
    let s = TestServer::start(USERS, library);
    // The album index comes from the start-up scan.
    common::wait_for("the library scan", || {
        let v = call(&s, "getScanStatus", &[]);
        v["scanStatus"]["scanning"] == false && v["scanStatus"]["count"].as_u64() >= Some(8)
    });
    s
}

/// Token login as anna, JSON.
fn auth() -> Vec<(String, String)> {
    creds("anna", "open sesame")
}

/// GET `/rest/<method>` with `extra` parameters and `creds`; the raw answer.
fn get_with(
    s: &TestServer,
    method: &str,
    creds: &[(String, String)],
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Resp {
    get_at(s, method, creds, extra, headers)
}

/// A JSON call as anna; the `subsonic-response` object.
fn call(s: &TestServer, method: &str, extra: &[(&str, &str)]) -> Value {
    call_at(s, &auth(), method, extra)
}

/// A call as anna that must succeed.
fn ok(s: &TestServer, method: &str, extra: &[(&str, &str)]) -> Value {
    ok_at(s, &auth(), method, extra)
}

#[test]
fn every_login_mechanism_and_error_code() {
    let s = server();
    let ping = |creds: &[(&str, &str)]| {
        let r = get_with(&s, "ping", &pairs(creds), &[("f", "json")], &[]);
        assert_eq!(r.status, 200, "errors are HTTP 200");
        r.json()["subsonic-response"].clone()
    };
    let t = token("open sesame", "abcdef");
    assert_eq!(ping(&[("u", "anna"), ("p", "open sesame")])["status"], "ok");
    let hex: String = "open sesame".bytes().map(|b| format!("{b:02X}")).collect();
    assert_eq!(
        ping(&[("u", "anna"), ("p", &format!("enc:{hex}"))])["status"],
        "ok"
    );
    assert_eq!(
        ping(&[("u", "anna"), ("t", &t), ("s", "abcdef")])["status"],
        "ok"
    );
    assert_eq!(
        ping(&[("apiKey", "anna-key-0123456789abcdef")])["status"],
        "ok"
    );
    assert_eq!(code(&ping(&[("u", "anna"), ("p", "wrong")])), 40);
    assert_eq!(code(&ping(&[("apiKey", "nope-nope-nope-nope")])), 44);
    assert_eq!(
        code(&ping(&[
            ("apiKey", "anna-key-0123456789abcdef"),
            ("u", "anna")
        ])),
        43
    );
    assert_eq!(code(&ping(&[])), 10);
    assert_eq!(
        code(&ping(&[
            ("u", "anna"),
            ("p", "open sesame"),
            ("v", "1.17.0")
        ])),
        30
    );
    // The extensions answer without credentials.
    let r = s.get("/rest/getOpenSubsonicExtensions?f=json", &[]);
    let v = &r.json()["subsonic-response"];
    assert_eq!(v["status"], "ok");
    let names: Vec<&str> = v["openSubsonicExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        ["formPost", "apiKeyAuthentication", "transcodeOffset"]
            .iter()
            .all(|n| names.contains(n)),
        "{names:?}"
    );
}

#[test]
fn no_user_configured_says_how_to_add_one() {
    let s = TestServer::start("", |_| {});
    let r = s.get("/rest/ping.view?u=a&p=b&f=json", &[]);
    let v = &r.json()["subsonic-response"];
    assert_eq!(code(v), 40);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[[users]]"),
        "{v}"
    );
}

#[test]
fn failed_logins_are_limited_per_address() {
    let s = server();
    for _ in 0..10 {
        let v = get_with(
            &s,
            "ping",
            &pairs(&[("u", "anna"), ("p", "bad"), ("f", "json")]),
            &[],
            &[],
        )
        .json();
        assert_eq!(code(&v["subsonic-response"]), 40);
    }
    // Now even the right password is refused from this address for a while.
    let v = get_with(
        &s,
        "ping",
        &pairs(&[("u", "anna"), ("p", "open sesame"), ("f", "json")]),
        &[],
        &[],
    )
    .json();
    assert_eq!(code(&v["subsonic-response"]), 40);
    assert!(
        v["subsonic-response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many")
    );
}

#[test]
fn envelope_in_xml_json_and_jsonp_and_unknown_methods() {
    let s = server();
    let mut creds = auth();
    creds.retain(|(k, _)| k != "f");
    let r = get_with(&s, "ping.view", &creds, &[], &[]);
    assert!(r.header("content-type").unwrap().starts_with("text/xml"));
    let xml = String::from_utf8(r.body).unwrap();
    assert!(xml.contains("<subsonic-response xmlns=\"http://subsonic.org/restapi\" status=\"ok\" version=\"1.16.1\" type=\"tapedeck\""), "{xml}");
    assert!(xml.contains("openSubsonic=\"true\""), "{xml}");
    let r = get_with(
        &s,
        "ping",
        &creds,
        &[("f", "jsonp"), ("callback", "cb")],
        &[],
    );
    assert!(r.body.starts_with(b"cb({\"subsonic-response\":") && r.body.ends_with(b"});"));
    let v = ok(&s, "ping", &[]);
    assert_eq!(
        (v["version"].as_str(), v["type"].as_str()),
        (Some("1.16.1"), Some("tapedeck"))
    );
    assert_eq!(v["openSubsonic"], true);
    assert!(v["serverVersion"].is_string());
    // An unknown method is a Subsonic error 0 over HTTP 200, never a 404 page.
    let v = call(&s, "getVideos", &[]);
    assert_eq!(code(&v), 0);
    // POST with everything in a form body (formPost), as py-sonic sends it.
    let body = query(&auth());
    let r = raw(
        s.addr,
        format!(
            "POST /rest/getMusicFolders.view HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let v = &r.json()["subsonic-response"];
    assert_eq!(v["musicFolders"]["musicFolder"][0]["id"], 1, "{v}");
    // A method that is not GET, HEAD or POST is an HTTP 405.
    assert_eq!(s.send("DELETE", "/rest/ping", &[]).status, 405);
}

#[test]
fn the_folder_view_from_indexes_down_to_songs() {
    let s = server();
    let v = ok(&s, "getIndexes", &[]);
    let idx = &v["indexes"];
    assert!(idx["lastModified"].as_u64().unwrap() > 0);
    assert_eq!(idx["ignoredArticles"], "The El La Los Las Le Les");
    let letters: Vec<&str> = idx["index"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    // "The Band" sorts under B, Zoë under Z.
    assert_eq!(letters, ["B", "L", "O", "Z"]);
    assert_eq!(idx["child"][0]["title"], "loose");
    let zoe = &idx["index"][3]["artist"][0];
    assert_eq!(zoe["name"], "Zoë");
    // Unchanged since lastModified: no entries.
    let since = idx["lastModified"].as_u64().unwrap().to_string();
    let v = ok(&s, "getIndexes", &[("ifModifiedSince", &since)]);
    assert!(v["indexes"]["index"].is_null() || v["indexes"]["index"] == serde_json::json!([]));

    let dir = ok(
        &s,
        "getMusicDirectory",
        &[("id", zoe["id"].as_str().unwrap())],
    );
    let albums = dir["directory"]["child"].as_array().unwrap();
    assert_eq!(albums.len(), 2);
    assert_eq!(albums[0]["isDir"], true);
    assert_eq!(albums[0]["title"], "First Light");
    let album = ok(
        &s,
        "getMusicDirectory",
        &[("id", albums[0]["id"].as_str().unwrap())],
    );
    let songs = album["directory"]["child"].as_array().unwrap();
    let titles: Vec<&str> = songs.iter().map(|c| c["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Dawn", "Morning", "Noon"]);
    let song = &songs[0];
    assert_eq!(song["isDir"], false);
    assert_eq!(song["path"], "Zoë/First Light/01 Dawn.wav");
    assert_eq!(song["suffix"], "wav");
    assert_eq!(song["contentType"], "audio/wav");
    assert_eq!(
        song["transcodedSuffix"],
        Value::Null,
        "anna plays originals"
    );
    assert_eq!(song["samplingRate"], 44_100);
    assert_eq!(song["channelCount"], 2);
    assert_eq!(song["bitDepth"], 16);
    assert_eq!(song["mediaType"], "song");
    assert_eq!(song["genre"], "Ambient");
    assert_eq!(song["parent"], albums[0]["id"]);
}

#[test]
fn the_id3_view_artists_albums_songs_genres() {
    let s = server();
    let v = ok(&s, "getArtists", &[]);
    let all: Vec<&Value> = v["artists"]["index"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["artist"].as_array().unwrap())
        .collect();
    let names: Vec<&str> = all.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"Zoë") && names.contains(&"The Band"),
        "{names:?}"
    );
    let zoe = all.iter().find(|a| a["name"] == "Zoë").unwrap();
    assert_eq!(zoe["albumCount"], 2);
    let artist = ok(&s, "getArtist", &[("id", zoe["id"].as_str().unwrap())]);
    let albums = artist["artist"]["album"].as_array().unwrap();
    assert_eq!(albums.len(), 2);
    let second = albums.iter().find(|a| a["name"] == "Second Wind").unwrap();
    assert_eq!(second["songCount"], 2);
    assert!(second["coverArt"].is_string(), "folder art");
    assert!(second["created"].as_str().unwrap().ends_with('Z'));
    let album = ok(&s, "getAlbum", &[("id", second["id"].as_str().unwrap())]);
    let songs = album["album"]["song"].as_array().unwrap();
    assert_eq!(songs.len(), 2);
    let song = ok(&s, "getSong", &[("id", songs[1]["id"].as_str().unwrap())]);
    assert_eq!(song["song"]["title"], "Breeze");
    assert_eq!(song["song"]["albumId"], second["id"]);
    let untagged = all.iter().find(|a| a["name"] == "The Band").unwrap();
    let band = ok(&s, "getArtist", &[("id", untagged["id"].as_str().unwrap())]);
    assert_eq!(
        band["artist"]["album"][0]["name"], "Untagged",
        "named after its folder"
    );

    let genres = ok(&s, "getGenres", &[]);
    let list = genres["genres"]["genre"].as_array().unwrap();
    let ambient = list.iter().find(|g| g["value"] == "Ambient").unwrap();
    assert_eq!(
        (
            ambient["songCount"].as_u64(),
            ambient["albumCount"].as_u64()
        ),
        (Some(4), Some(2))
    );
    let rock = ok(
        &s,
        "getSongsByGenre",
        &[("genre", "rock"), ("count", "1"), ("offset", "1")],
    );
    assert_eq!(rock["songsByGenre"]["song"][0]["title"], "Breeze");

    for (method, wrong) in [
        ("getArtist", "ar-bm9ib2R5"),
        ("getAlbum", "al-bm9wZQ"),
        ("getSong", "tr-bm9wZS53YXY"),
    ] {
        assert_eq!(code(&call(&s, method, &[("id", wrong)])), 70, "{method}");
    }
    assert_eq!(code(&call(&s, "getAlbum", &[])), 10);
}

#[test]
fn album_lists_random_songs_and_search_paging() {
    let s = server();
    let list = |kind: &str, extra: &[(&str, &str)]| -> Vec<String> {
        let mut params = vec![("type", kind), ("size", "50")];
        params.extend_from_slice(extra);
        ok(&s, "getAlbumList2", &params)["albumList2"]["album"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let by_name = list("alphabeticalByName", &[]);
    assert_eq!(by_name.len(), 5, "{by_name:?}");
    assert_eq!(by_name[0], "First Light");
    assert_eq!(list("byGenre", &[("genre", "Rock")]), ["Second Wind"]);
    assert_eq!(
        list("byYear", &[("fromYear", "2000"), ("toYear", "2002")]).len(),
        2
    );
    assert!(list("frequent", &[]).is_empty());
    assert_eq!(list("random", &[]).len(), 5);
    assert_eq!(list("newest", &[("offset", "4")]).len(), 1);
    let v = ok(&s, "getAlbumList", &[("type", "alphabeticalByArtist")]);
    assert_eq!(v["albumList"]["album"][0]["isDir"], true);
    assert_eq!(code(&call(&s, "getAlbumList2", &[("type", "bogus")])), 0);
    assert_eq!(code(&call(&s, "getAlbumList2", &[])), 10);

    let random = ok(&s, "getRandomSongs", &[("size", "4")]);
    assert_eq!(random["randomSongs"]["song"].as_array().unwrap().len(), 4);
    let ambient = ok(
        &s,
        "getRandomSongs",
        &[("size", "10"), ("genre", "Ambient")],
    );
    assert_eq!(ambient["randomSongs"]["song"].as_array().unwrap().len(), 4);

    let v = ok(&s, "search3", &[("query", "breeze")]);
    assert_eq!(v["searchResult3"]["song"][0]["title"], "Breeze");
    let v = ok(&s, "search3", &[("query", "zoe")]);
    assert_eq!(
        v["searchResult3"]["artist"][0]["name"], "Zoë",
        "accents folded"
    );
    assert_eq!(v["searchResult3"]["album"].as_array().unwrap().len(), 2);
    // The empty query returns everything, paged: 8 songs, 3 at a time.
    let mut seen = Vec::new();
    for offset in ["0", "3", "6", "9"] {
        let v = ok(
            &s,
            "search3",
            &[
                ("query", ""),
                ("songCount", "3"),
                ("songOffset", offset),
                ("albumCount", "0"),
                ("artistCount", "0"),
            ],
        );
        let page = v["searchResult3"]["song"].as_array().unwrap();
        seen.extend(page.iter().map(|x| x["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8, "no song twice");
    let v = ok(&s, "search3", &[("query", "\"\""), ("artistCount", "100")]);
    assert_eq!(v["searchResult3"]["artist"].as_array().unwrap().len(), 4);
    let v = ok(&s, "search2", &[("query", "second")]);
    assert_eq!(v["searchResult2"]["album"][0]["isDir"], true);
}

#[test]
fn stream_download_with_range_and_levels() {
    let s = server();
    let id = Id::Song(RelPath::new("Zoë/First Light/01 Dawn.wav").unwrap()).encode();
    let original = std::fs::read(s.root().join("Zoë/First Light/01 Dawn.wav")).unwrap();
    // anna's default level is the original (transcode.default_quality).
    let r = get_with(&s, "stream", &auth(), &[("id", &id)], &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, original);
    let r = get_with(
        &s,
        "stream",
        &auth(),
        &[("id", &id)],
        &[("Range", "bytes=10-19")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &original[10..20]);
    // A bit rate limit transcodes: 150 kbit/s is low.
    let r = get_with(
        &s,
        "stream",
        &auth(),
        &[("id", &id), ("maxBitRate", "150")],
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    let (rate, channels, _) = common::decode_bytes(&r.body);
    assert_eq!((rate, channels), (44_100, 2));
    // format=mp3 transcodes an original default to high; raw never does.
    let r = get_with(
        &s,
        "stream",
        &auth(),
        &[("id", &id), ("format", "mp3")],
        &[],
    );
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    let r = get_with(
        &s,
        "stream",
        &auth(),
        &[("id", &id), ("format", "raw"), ("maxBitRate", "64")],
        &[],
    );
    assert_eq!(r.body, original);
    // HEAD: headers only.
    let q = query(&[auth(), pairs(&[("id", &id)])].concat());
    let r = s.send("HEAD", &format!("/rest/stream?{q}"), &[]);
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(
        r.header("content-length"),
        Some(original.len().to_string().as_str())
    );
    // Download: the original, as an attachment.
    let r = get_with(&s, "download", &auth(), &[("id", &id)], &[]);
    assert_eq!(r.body, original);
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    // Errors from a media call come in the format asked for.
    let r = get_with(&s, "stream", &auth(), &[("id", "tr-bm9wZQ")], &[]);
    assert_eq!(code(&r.json()["subsonic-response"]), 70);
}

#[test]
fn calls_without_data_answer_empty() {
    let s = server();
    let v = ok(&s, "getLyrics", &[("artist", "Zoë"), ("title", "Dawn")]);
    assert_eq!(v["lyrics"]["value"], "");
    let v = ok(&s, "getPodcasts", &[]);
    assert_eq!(v["podcasts"], serde_json::json!({}));
    assert_eq!(code(&call(&s, "getTopSongs", &[])), 10);
}

fn song_id(path: &str) -> String {
    Id::Song(RelPath::new(path).unwrap()).encode()
}

#[test]
fn plays_stars_ratings_and_the_album_lists_they_make() {
    let s = server();
    let dawn = song_id("Zoë/First Light/01 Dawn.wav");
    let gust = song_id("Zoë/Second Wind/01 Gust.wav");
    let first = Id::Album(RelPath::new("Zoë/First Light").unwrap()).encode();
    let second_dir = Id::Dir(RelPath::new("Zoë/Second Wind").unwrap()).encode();
    let second = Id::Album(RelPath::new("Zoë/Second Wind").unwrap()).encode();
    // Nothing yet.
    let v = ok(&s, "getAlbumList2", &[("type", "frequent")]);
    assert_eq!(v["albumList2"]["album"], serde_json::json!([]));
    // Three plays: Dawn twice (the last at a given time), Gust once, now.
    ok(&s, "scrobble", &[("id", &dawn), ("time", "1700000000000")]);
    ok(&s, "scrobble", &[("id", &dawn), ("time", "1700000060000")]);
    ok(&s, "scrobble", &[("id", &gust)]);
    let v = ok(&s, "getSong", &[("id", &dawn)]);
    assert_eq!(v["song"]["playCount"], 2);
    assert_eq!(v["song"]["played"], "2023-11-14T22:14:20Z");
    let v = ok(&s, "getAlbumList2", &[("type", "frequent")]);
    let ids: Vec<&str> = v["albumList2"]["album"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert_eq!(v["albumList2"]["album"][0]["playCount"], 2);
    let v = ok(&s, "getAlbumList", &[("type", "recent")]);
    assert_eq!(v["albumList"]["album"][0]["title"], "Second Wind");
    // A submission=false scrobble is "now playing", not a play.
    ok(&s, "scrobble", &[("id", &gust), ("submission", "false")]);
    let v = ok(&s, "getNowPlaying", &[]);
    assert_eq!(v["nowPlaying"]["entry"][0]["id"], gust);
    assert_eq!(v["nowPlaying"]["entry"][0]["username"], "anna");
    assert_eq!(ok(&s, "getSong", &[("id", &gust)])["song"]["playCount"], 1);

    // Stars: a song, a folder (kept as its album) and an artist.
    let zoe = Id::Artist("Zoë".to_owned()).encode();
    ok(
        &s,
        "star",
        &[("id", &dawn), ("id", &second_dir), ("artistId", &zoe)],
    );
    let v = ok(&s, "getStarred2", &[]);
    let st = &v["starred2"];
    assert_eq!(st["song"][0]["id"], dawn);
    assert!(st["song"][0]["starred"].is_string());
    assert_eq!(st["album"][0]["id"], second);
    assert_eq!(st["artist"][0]["name"], "Zoë");
    let v = ok(&s, "getStarred", &[]);
    assert_eq!(v["starred"]["album"][0]["id"], second_dir);
    let v = ok(&s, "getAlbumList2", &[("type", "starred")]);
    assert_eq!(v["albumList2"]["album"][0]["id"], second);
    assert!(v["albumList2"]["album"][0]["starred"].is_string());
    ok(&s, "unstar", &[("albumId", &second)]);
    let v = ok(&s, "getStarred2", &[]);
    assert_eq!(v["starred2"]["album"], serde_json::json!([]));
    // Another user's state is their own.
    let root = creds("root", "rootpw");
    let v = ok_at(&s, &root, "getStarred2", &[]);
    assert_eq!(v["starred2"]["song"], serde_json::json!([]));
    assert!(ok_at(&s, &root, "getSong", &[("id", &dawn)])["song"]["playCount"].is_null());

    // Ratings.
    ok(&s, "setRating", &[("id", &first), ("rating", "4")]);
    ok(&s, "setRating", &[("id", &dawn), ("rating", "5")]);
    assert_eq!(ok(&s, "getSong", &[("id", &dawn)])["song"]["userRating"], 5);
    let v = ok(&s, "getAlbumList2", &[("type", "highest")]);
    assert_eq!(v["albumList2"]["album"][0]["userRating"], 4);
    ok(&s, "setRating", &[("id", &dawn), ("rating", "0")]);
    assert!(ok(&s, "getSong", &[("id", &dawn)])["song"]["userRating"].is_null());
    assert_eq!(
        code(&call(&s, "setRating", &[("id", &dawn), ("rating", "6")])),
        0
    );
    // Unknown items are refused, nothing is kept for them.
    let nope = song_id("no/such.flac");
    assert_eq!(code(&call(&s, "star", &[("id", &nope)])), 70);
    assert_eq!(code(&call(&s, "scrobble", &[("id", &nope)])), 70);
    assert_eq!(code(&call(&s, "star", &[])), 10);
}

#[test]
fn the_play_queue_and_bookmarks_are_saved_per_user() {
    let s = server();
    let dawn = song_id("Zoë/First Light/01 Dawn.wav");
    let noon = song_id("Zoë/First Light/03 Noon.wav");
    // None saved: an empty queue from 1970, which no app takes as newer.
    let q = &ok(&s, "getPlayQueue", &[])["playQueue"];
    assert_eq!(q["entry"], serde_json::json!([]));
    assert_eq!(q["changed"], "1970-01-01T00:00:00Z");
    ok(
        &s,
        "savePlayQueue",
        &[
            ("id", &dawn),
            ("id", &noon),
            ("current", &noon),
            ("position", "1234"),
        ],
    );
    let q = &ok(&s, "getPlayQueue", &[])["playQueue"];
    assert_eq!(q["current"], noon);
    assert_eq!(q["position"], 1234);
    assert_eq!(q["changedBy"], "tests");
    assert_eq!(q["username"], "anna");
    assert_eq!(q["entry"].as_array().unwrap().len(), 2);
    assert_eq!(q["entry"][1]["id"], noon);
    assert_eq!(
        code(&call(
            &s,
            "savePlayQueue",
            &[("id", &dawn), ("current", &noon)]
        )),
        0,
        "current must be in the queue"
    );
    // By index (OpenSubsonic indexBasedQueue): a song queued twice.
    ok(
        &s,
        "savePlayQueueByIndex",
        &[
            ("id", &dawn),
            ("id", &noon),
            ("id", &dawn),
            ("currentIndex", "2"),
            ("position", "7"),
        ],
    );
    let q = &ok(&s, "getPlayQueueByIndex", &[])["playQueueByIndex"];
    assert_eq!(
        (q["currentIndex"].as_u64(), q["position"].as_u64()),
        (Some(2), Some(7))
    );
    assert_eq!(q["entry"].as_array().unwrap().len(), 3);
    assert_eq!(ok(&s, "getPlayQueue", &[])["playQueue"]["current"], dawn);
    assert_eq!(
        code(&call(&s, "savePlayQueueByIndex", &[("id", &dawn)])),
        10
    );
    assert_eq!(
        code(&call(
            &s,
            "savePlayQueueByIndex",
            &[("id", &dawn), ("currentIndex", "1")]
        )),
        0
    );
    // No id clears it.
    ok(&s, "savePlayQueue", &[]);
    assert!(
        ok(&s, "getPlayQueue", &[])["playQueue"]["entry"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    ok(
        &s,
        "createBookmark",
        &[
            ("id", &dawn),
            ("position", "5000"),
            ("comment", "the good bit"),
        ],
    );
    let b = &ok(&s, "getBookmarks", &[])["bookmarks"]["bookmark"][0];
    assert_eq!(
        (b["position"].as_u64(), b["comment"].as_str()),
        (Some(5000), Some("the good bit"))
    );
    assert_eq!(b["entry"]["id"], dawn);
    ok(&s, "deleteBookmark", &[("id", &dawn)]);
    assert_eq!(code(&call(&s, "deleteBookmark", &[("id", &dawn)])), 70);
    assert_eq!(
        ok(&s, "getBookmarks", &[])["bookmarks"]["bookmark"],
        serde_json::json!([])
    );
}

#[test]
fn playlists_made_in_an_app_are_m3u8_files_their_owner_edits() {
    let s = server();
    let dawn = song_id("Zoë/First Light/01 Dawn.wav");
    let noon = song_id("Zoë/First Light/03 Noon.wav");
    let gust = song_id("Zoë/Second Wind/01 Gust.wav");
    let v = ok(
        &s,
        "createPlaylist",
        &[("name", "Road trip"), ("songId", &dawn), ("songId", &noon)],
    );
    let p = &v["playlist"];
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (p["owner"].as_str(), p["songCount"].as_u64()),
        (Some("anna"), Some(2))
    );
    assert_eq!(p["readonly"], false);
    // On disk: a plain M3U8 of absolute paths in the state directory.
    let dir = s.outer.path().join("state/playlists/anna");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(text.starts_with("#EXTM3U\n#PLAYLIST:Road trip\n"), "{text}");
    assert!(
        text.contains(
            &s.root()
                .join("Zoë/First Light/03 Noon.wav")
                .display()
                .to_string()
        )
    );
    // Edits: add, remove by index, rename, comment, public.
    ok(
        &s,
        "updatePlaylist",
        &[
            ("playlistId", &id),
            ("songIdToAdd", &gust),
            ("songIndexToRemove", "0"),
            ("name", "Car"),
            ("comment", "for the car"),
            ("public", "true"),
        ],
    );
    let p = ok(&s, "getPlaylist", &[("id", &id)])["playlist"].clone();
    let entries: Vec<&str> = p["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(entries, [noon.as_str(), gust.as_str()]);
    assert_eq!(
        (p["name"].as_str(), p["comment"].as_str()),
        (Some("Car"), Some("for the car"))
    );
    assert_eq!(p["public"], true);
    // Listed beside the library's own.
    let v = ok(&s, "getPlaylists", &[]);
    let lists = v["playlists"]["playlist"].as_array().unwrap();
    assert!(lists.iter().any(|l| l["id"] == id));
    assert!(lists.iter().any(|l| l["readonly"] == true));
    // Another user sees it (it is public); the library's playlists cannot
    // be changed at all.
    let root = creds("root", "rootpw");
    assert!(
        ok_at(&s, &root, "getPlaylists", &[])["playlists"]["playlist"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == id)
    );
    let library_list = lists.iter().find(|l| l["readonly"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        code(&call(
            &s,
            "updatePlaylist",
            &[("playlistId", &library_list), ("name", "x")]
        )),
        50
    );
    assert_eq!(
        code(&call(
            &s,
            "updatePlaylist",
            &[("playlistId", &id), ("songIndexToRemove", "9")]
        )),
        0
    );
    // createPlaylist with an ID replaces the songs.
    ok(
        &s,
        "createPlaylist",
        &[("playlistId", &id), ("songId", &dawn)],
    );
    assert_eq!(
        ok(&s, "getPlaylist", &[("id", &id)])["playlist"]["songCount"],
        1
    );
    ok(&s, "deletePlaylist", &[("id", &id)]);
    assert_eq!(code(&call(&s, "getPlaylist", &[("id", &id)])), 70);
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
}

#[test]
fn stream_from_a_time_offset_is_the_songs_transcode_from_that_frame_and_cached() {
    let s = server();
    // Two seconds; found by its path (the ID needs no scan).
    common::write_wav(&s.root().join("long.wav"), 44_100, 2, 88_200, 7);
    let id = Id::Song(RelPath::new("long.wav").unwrap()).encode();
    let from = |offset: &str, headers: &[(&str, &str)]| {
        get_with(
            &s,
            "stream",
            &auth(),
            &[("id", &id), ("maxBitRate", "150"), ("timeOffset", offset)],
            headers,
        )
    };
    let r = from("0.5", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str()),
        "the exact length, announced up front"
    );
    let offset_body = r.body;
    // It is the whole song's transcode from the frame that holds 0.5 s
    // (every frame decodes alone), so the song is cached in turn.
    let cache = s.outer.path().join("cache");
    common::wait_for("the song's entry", || {
        !common::files_ending(&cache, ".mp3").is_empty()
    });
    let whole = get_with(
        &s,
        "stream",
        &auth(),
        &[("id", &id), ("maxBitRate", "150")],
        &[],
    )
    .body;
    assert_eq!(common::decode_bytes(&whole).2, 88_200, "gapless whole song");
    let layout = tapedeck::transcode::Layout::of_file(&whole, whole.len() as u64).unwrap();
    let start = layout.frame_offset(layout.frame_at_time(0.5)) as usize;
    assert_eq!(&whole[start..], &offset_body[..]);
    let (rate, channels, frames) = common::decode_bytes(&offset_body);
    assert_eq!((rate, channels), (44_100, 2));
    let n = layout.frames - layout.frame_at_time(0.5);
    assert!(frames >= (n - 1) * 1152 && frames <= n * 1152, "{frames}");
    // From the cache now, and Range into it, as a player seeking in that
    // stream does.
    assert_eq!(from("0.5", &[]).body, offset_body);
    let r = from("0.5", &[("Range", "bytes=1000-1099")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &offset_body[1000..1100]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 1000-1099/{}", offset_body.len()).as_str())
    );
    // The original ignores it (format=raw is the file as it is).
    let r = get_with(
        &s,
        "stream",
        &auth(),
        &[("id", &id), ("format", "raw"), ("timeOffset", "1")],
        &[],
    );
    assert_eq!(r.body, std::fs::read(s.root().join("long.wav")).unwrap());
    // Past the end, or not a number: error 0 with a sentence.
    for bad in ["2", "9999", "-1", "soon"] {
        let v = from(bad, &[]).json();
        let v = &v["subsonic-response"];
        assert_eq!(code(v), 0, "{bad}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("timeOffset"),
            "{v}"
        );
    }
}

#[test]
fn covers_for_every_kind_of_id_and_scaled_into_the_cache() {
    let s = server();
    let album = Id::Album(RelPath::new("Zoë/Second Wind").unwrap()).encode();
    let r = get_with(&s, "getCoverArt", &auth(), &[("id", &album)], &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    let png = std::fs::read(s.root().join("Zoë/Second Wind/cover.png")).unwrap();
    assert_eq!(r.body, png);
    let r = get_with(
        &s,
        "getCoverArt",
        &auth(),
        &[("id", &album), ("size", "8")],
        &[],
    );
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    let img = image::load_from_memory(&r.body).unwrap();
    assert_eq!((img.width(), img.height()), (8, 8));
    let jpgs = common::files_ending(&s.outer.path().join("cache"), ".jpg");
    assert_eq!(jpgs.len(), 1, "the scaled cover is kept in the cache");
    let again = get_with(
        &s,
        "getCoverArt",
        &auth(),
        &[("id", &album), ("size", "8")],
        &[],
    );
    assert_eq!(again.body, r.body);
    let etag = again.header("etag").unwrap().to_owned();
    let r = get_with(
        &s,
        "getCoverArt",
        &auth(),
        &[("id", &album), ("size", "8")],
        &[("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 304);
    // A song's own picture, an artist's (its first album with art), a
    // playlist's (its first song with art).
    let flac = Id::Song(RelPath::new("Other/tagged.flac").unwrap()).encode();
    assert_eq!(
        get_with(&s, "getCoverArt", &auth(), &[("id", &flac)], &[]).status,
        200
    );
    let zoe = Id::Artist("Zoë".into()).encode();
    assert_eq!(
        get_with(&s, "getCoverArt", &auth(), &[("id", &zoe)], &[]).body,
        png
    );
    let untagged = Id::Album(RelPath::new("The Band/Untagged").unwrap()).encode();
    let r = get_with(&s, "getCoverArt", &auth(), &[("id", &untagged)], &[]);
    assert_eq!(code(&r.json()["subsonic-response"]), 70);
}

#[test]
fn playlists_of_the_library() {
    let s = server();
    let v = ok(&s, "getPlaylists", &[]);
    let list = v["playlists"]["playlist"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "mix");
    assert_eq!(list[0]["songCount"], 2, "the missing entry is left out");
    let v = ok(
        &s,
        "getPlaylist",
        &[("id", list[0]["id"].as_str().unwrap())],
    );
    let entries = v["playlist"]["entry"].as_array().unwrap();
    assert_eq!(entries[0]["title"], "Breeze");
    assert_eq!(code(&call(&s, "getPlaylists", &[("username", "root")])), 50);
    let mut root = auth();
    root.retain(|(k, _)| !matches!(k.as_str(), "u" | "t" | "s"));
    root.extend(pairs(&[("u", "root"), ("p", "rootpw")]));
    let r = get_with(&s, "getUser", &root, &[("username", "anna")], &[]);
    let v = &r.json()["subsonic-response"];
    assert_eq!(v["user"]["username"], "anna");
    assert_eq!(v["user"]["streamRole"], true);
    assert_eq!(v["user"]["adminRole"], false);
    assert_eq!(code(&call(&s, "getUser", &[("username", "root")])), 50);
}

#[test]
fn hostile_ids_never_leave_the_library() {
    let s = server();
    let b64 = |p: &str| URL_SAFE_NO_PAD.encode(p);
    for id in [
        format!("tr-{}", b64("../secret.txt")),
        format!("dr-{}", b64("..")),
        format!("tr-{}", b64("/etc/passwd")),
        format!("al-{}", b64("Zoë/../../")),
        format!("tr-{}", b64("Zoë/.hidden")),
        "tr-;;".to_owned(),
        format!("tr-{}", "A".repeat(5000)),
        "tr-%FF%FE".to_owned(),
    ] {
        for method in [
            "stream",
            "download",
            "getSong",
            "getMusicDirectory",
            "getCoverArt",
            "getAlbum",
        ] {
            let r = get_with(&s, method, &auth(), &[("id", &id)], &[]);
            assert!(
                !String::from_utf8_lossy(&r.body).contains("TOPSECRET"),
                "{method} {id:.40}"
            );
            assert_eq!(
                code(&r.json()["subsonic-response"]),
                70,
                "{method} {id:.40}"
            );
        }
    }
}
