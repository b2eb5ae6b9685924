//! The Subsonic API over a real socket: logins and their error codes, the
//! envelope in XML, JSON and JSONP, browsing in both views, lists, search
//! (with an empty query paged like Symfonium's sync), streaming with
//! Range, downloads, scaled covers, playlists, hostile IDs. The schema
//! checks and the real client libraries are in tests/subsonic_clients.rs.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::subsonic_library::{USERS, library};
use common::{Resp, TestServer, raw};
use serde_json::Value;
use tapedeck::http::subsonic::{Id, token};
use tapedeck::library::RelPath;

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
    let salt = "c0ffee42";
    [
        ("u", "anna".to_owned()),
        ("t", token("open sesame", salt)),
        ("s", salt.to_owned()),
        ("v", "1.16.1".to_owned()),
        ("c", "tests".to_owned()),
        ("f", "json".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// GET `/rest/<method>` with `extra` parameters and `creds`; the raw answer.
fn get_with(
    s: &TestServer,
    method: &str,
    creds: &[(String, String)],
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Resp {
    let mut pairs = creds.to_vec();
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    s.get(&format!("/rest/{method}?{}", query(&pairs)), headers)
}

/// A JSON call as anna; the `subsonic-response` object.
fn call(s: &TestServer, method: &str, extra: &[(&str, &str)]) -> Value {
    let r = get_with(s, method, &auth(), extra, &[]);
    assert_eq!(
        r.status,
        200,
        "{method}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()["subsonic-response"].clone()
}

/// A call that must succeed.
fn ok(s: &TestServer, method: &str, extra: &[(&str, &str)]) -> Value {
    let v = call(s, method, extra);
    assert_eq!(v["status"], "ok", "{method}: {v}");
    v
}

/// The error code of a call that must fail.
fn code(v: &Value) -> u64 {
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v["error"]["code"].as_u64().unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
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
fn calls_without_data_yet_answer_empty_and_changes_are_refused() {
    let s = server();
    let v = ok(&s, "getStarred2", &[]);
    assert_eq!(v["starred2"], serde_json::json!({}));
    let v = ok(&s, "getNowPlaying", &[]);
    assert_eq!(v["nowPlaying"]["entry"], serde_json::json!([]));
    let v = ok(&s, "getLyrics", &[("artist", "Zoë"), ("title", "Dawn")]);
    assert_eq!(v["lyrics"]["value"], "");
    assert_eq!(code(&call(&s, "getTopSongs", &[])), 10);
    // A star or a play count tapedeck cannot keep is refused, not lost
    // in silence.
    let song = Id::Song(RelPath::new("Zoë/First Light/01 Dawn.wav").unwrap()).encode();
    for method in ["star", "scrobble", "setRating"] {
        assert_eq!(code(&call(&s, method, &[("id", &song)])), 0, "{method}");
    }
}

#[test]
fn stream_from_a_time_offset_is_the_rest_of_the_song_uncached() {
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
    // A streamed transcode starts with LAME's placeholder frame (the Info
    // tag is written over it in the cached copy only), so a decoder sees
    // the raw frames: the placeholder, encoder and decoder delay (1105
    // samples) and under a frame of padding beyond the audio.
    let raw_len = |frames: u64| frames + 1152 + 1105..frames + 2 * 1152 + 1105;
    let (rate, channels, frames) = common::decode_bytes(&r.body);
    assert_eq!((rate, channels), (44_100, 2));
    assert!(raw_len(88_200 - 22_050).contains(&frames), "{frames}");
    let whole_offset = r.body;
    // Range into it, as a player seeking in that stream does.
    let r = from("0.5", &[("Range", "bytes=1000-1099")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &whole_offset[1000..1100]);
    // Never cached: the cache holds no MP3, and the whole song still
    // plays from its start.
    let cache = s.outer.path().join("cache");
    assert!(common::files_ending(&cache, ".mp3").is_empty());
    let r = get_with(
        &s,
        "stream",
        &auth(),
        &[("id", &id), ("maxBitRate", "150")],
        &[],
    );
    let frames = common::decode_bytes(&r.body).2;
    assert!(raw_len(88_200).contains(&frames), "{frames}");
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
