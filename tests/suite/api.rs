//! The JSON API behind the phone player (`/api/browse`, `/api/cover`,
//! `/api/search`), the metadata cache behind it, and the embedded page.

use crate::common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{TestServer, write_tagged_wav, write_wav};
use id3::TagLike;
use serde_json::Value;

const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0 a tiny stand-in for a JPEG";

fn tag(title: &str, artist: &str, album: &str, track: u32, disc: u32) -> id3::Tag {
    let mut t = id3::Tag::new();
    t.set_title(title);
    t.set_artist(artist);
    t.set_album(album);
    t.set_track(track);
    t.set_disc(disc);
    t.set_year(1999);
    t
}

/// Artist/Album holds tagged tracks in an order the file names do not
/// give, an untagged one, an unreadable one, folder art, a playlist and
/// things that must not be listed; Other/ has a FLAC with its own cover.
fn library(root: &Path) {
    let album = root.join("Artist/Album");
    std::fs::create_dir_all(&album).unwrap();
    for sub in ["Album 10", "Album 9", "album 2"] {
        std::fs::create_dir_all(root.join("Artist").join(sub)).unwrap();
    }
    let frames = 22_050;
    write_tagged_wav(
        &album.join("a.wav"),
        frames,
        1,
        &tag("Café Ölüm", "Zoë", "The Album", 2, 1),
    );
    write_tagged_wav(
        &album.join("b.wav"),
        frames,
        2,
        &tag("Second Disc Opener", "Zoë", "The Album", 1, 2),
    );
    write_tagged_wav(
        &album.join("c.wav"),
        frames,
        3,
        &tag("Ten", "Zoë", "The Album", 10, 1),
    );
    write_wav(&album.join("z untagged 3.wav"), 44_100, 1, frames, 4);
    std::fs::write(album.join("garbage.flac"), b"this is not audio at all").unwrap();
    std::fs::write(album.join("cover.jpg"), JPEG).unwrap();
    std::fs::write(album.join("notes.txt"), b"liner notes").unwrap();
    std::fs::write(album.join(".hidden.flac"), b"x").unwrap();
    std::fs::write(album.join("Mix.m3u"), b"a.wav\n").unwrap();
    std::fs::create_dir_all(root.join("Other")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tagged.flac"),
        root.join("Other/tagged.flac"),
    )
    .unwrap();
}

fn server() -> TestServer {
    TestServer::start("", library)
}

fn get_json(s: &TestServer, path: &str) -> Value {
    let r = s.get(path, &[]);
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    r.json()
}

fn metadata_stats(s: &TestServer) -> (u64, u64) {
    let m = &common::admin_stats(s)["metadata"];
    (common::n(m, "hits"), common::n(m, "misses"))
}

#[test]
fn browse_lists_an_album_in_disc_and_track_order() {
    let s = server();
    let v = get_json(&s, "/api/browse/Artist/Album");
    assert_eq!(v["path"], "Artist/Album");
    assert_eq!(v["parent"], "Artist");
    let titles: Vec<&str> = v["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    // Disc 1 by track number, then disc 2, then what has no number, by
    // name; an unreadable file is still listed, by its file name.
    assert_eq!(
        titles,
        [
            "Café Ölüm",
            "Ten",
            "Second Disc Opener",
            "garbage",
            "z untagged 3"
        ]
    );
    let t = &v["tracks"][0];
    assert_eq!(t["path"], "Artist/Album/a.wav");
    assert_eq!(t["file"], "a.wav");
    assert_eq!(t["artist"], "Zoë");
    assert_eq!(t["album"], "The Album");
    assert_eq!(
        (t["track"].as_u64(), t["disc"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(t["year"], 1999);
    assert_eq!(t["duration_s"], 0.5);
    assert_eq!(t["format"], "pcm");
    assert_eq!(t["sample_rate_hz"], 44_100);
    assert_eq!(t["bits"], 16);
    assert_eq!(t["channels"], 2);
    assert_eq!(
        t["cached"],
        serde_json::json!({"low": false, "medium": false, "high": false})
    );
    // No picture of its own: the folder's art stands in.
    let cover = t["cover"].as_str().unwrap();
    assert!(cover.starts_with("/api/cover/Artist/Album?v="), "{cover}");
    assert_eq!(v["tracks"][4]["channels"], 1);
    assert_eq!(v["tracks"][3]["format"], "unknown");
    assert_eq!(
        v["playlists"],
        serde_json::json!([{"name": "Mix.m3u", "path": "Artist/Album/Mix.m3u"}])
    );
    let body = serde_json::to_string(&v).unwrap();
    assert!(!body.contains("notes.txt") && !body.contains("hidden"));
    assert!(!body.contains(s.root().to_str().unwrap()), "no disk paths");
}

#[test]
fn browse_root_and_folders_in_natural_order() {
    let s = server();
    for path in ["/api/browse", "/api/browse/"] {
        let v = get_json(&s, path);
        assert_eq!(v["path"], "");
        assert_eq!(v["parent"], Value::Null);
        assert_eq!(v["dirs"][0]["name"], "Artist");
        assert_eq!(v["dirs"][1]["name"], "Other");
    }
    let v = get_json(&s, "/api/browse/Artist");
    let names: Vec<&str> = v["dirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Album", "album 2", "Album 9", "Album 10"]);
    assert_eq!(v["parent"], "");
    // A folder with art has a cover; an empty one has none.
    assert!(
        v["dirs"][0]["cover"]
            .as_str()
            .unwrap()
            .starts_with("/api/cover/Artist/Album?v=")
    );
    assert_eq!(v["dirs"][1]["cover"], Value::Null);
    // Other/ has no folder art, but its first track has a picture.
    let root = get_json(&s, "/api/browse/");
    assert!(
        root["dirs"][1]["cover"]
            .as_str()
            .unwrap()
            .starts_with("/api/cover/Other?v=")
    );
}

#[test]
fn browse_refuses_paths_outside_the_root_without_leaking() {
    let s = server();
    std::fs::write(s.outer.path().join("secret.flac"), b"secret").unwrap();
    std::os::unix::fs::symlink(s.outer.path(), s.root().join("escape")).unwrap();
    for path in [
        "/api/browse/..",
        "/api/browse/../",
        "/api/browse/%2e%2e",
        "/api/browse/Artist/../..",
        "/api/browse/Artist/%2e%2e/%2e%2e",
        "/api/browse/..%2f..%2fetc",
        "/api/browse/escape",
        "/api/browse/%2fetc",
        "/api/browse/Artist/Album/a.wav",
        "/api/browse/nope",
        "/api/cover/..%2fsecret.flac",
        "/api/cover/escape/secret.flac",
        "/api/cover/Artist/Album/notes.txt",
    ] {
        let r = s.get(path, &[]);
        assert_eq!(r.status, 404, "{path}");
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains(s.outer.path().to_str().unwrap()),
            "{path}: {body}"
        );
    }
    // The link out of the root is not even listed.
    let v = get_json(&s, "/api/browse/");
    assert!(!serde_json::to_string(&v).unwrap().contains("escape"));
    assert!(
        get_json(&s, "/api/search?q=secret")["tracks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn metadata_is_read_once_and_again_after_the_file_changes() {
    let s = server();
    // Five in Artist/Album, one in Other/.
    let library_tracks = 6;
    let tracks = 5;
    // The scan reads every track once; a listing then reads none.
    common::wait_for_library_scan(&s);
    let (_, scanned) = metadata_stats(&s);
    assert_eq!(scanned, library_tracks, "each track read once");
    get_json(&s, "/api/browse/Artist/Album");
    let (hits0, misses0) = metadata_stats(&s);
    assert_eq!(misses0, scanned, "a listing after the scan reads no file");
    get_json(&s, "/api/browse/Artist/Album");
    let (hits1, misses1) = metadata_stats(&s);
    assert_eq!(misses1, misses0, "a second listing reads no file");
    assert_eq!(hits1, hits0 + tracks);

    // Touch one file: only it is read again.
    let f = std::fs::File::options()
        .write(true)
        .open(s.root().join("Artist/Album/c.wav"))
        .unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    let v = get_json(&s, "/api/browse/Artist/Album");
    assert_eq!(metadata_stats(&s).1, misses0 + 1);
    assert_eq!(v["tracks"][1]["title"], "Ten");

    // Retag it: the listing shows the new title.
    write_tagged_wav(
        &s.root().join("Artist/Album/c.wav"),
        22_050,
        3,
        &tag("Renamed", "Zoë", "The Album", 10, 1),
    );
    let v = get_json(&s, "/api/browse/Artist/Album");
    assert_eq!(v["tracks"][1]["title"], "Renamed");
}

#[test]
fn covers_come_from_the_track_or_the_folder_with_validators() {
    let s = server();
    let png = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cover.png"))
        .unwrap();

    // Embedded picture of a track.
    let r = s.get("/api/cover/Other/tagged.flac", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("image/png"));
    assert_eq!(r.body, png);
    // A folder without art: its first track's picture.
    assert_eq!(s.get("/api/cover/Other", &[]).body, png);

    // Folder art, for the folder and for a track without a picture.
    for path in ["/api/cover/Artist/Album", "/api/cover/Artist/Album/a.wav"] {
        let r = s.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("Content-Type"), Some("image/jpeg"));
        assert_eq!(r.body, JPEG);
        assert_eq!(r.header("Cache-Control"), Some("public, max-age=86400"));
        let etag = r.header("ETag").unwrap().to_owned();
        let again = s.get(path, &[("If-None-Match", &etag)]);
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
    }
    // The listing's URL carries a version, so it can be kept for a year.
    let v = get_json(&s, "/api/browse/Artist/Album");
    let url = v["cover"].as_str().unwrap();
    let r = s.get(url, &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("Cache-Control").unwrap().contains("immutable"));

    // Nothing to show.
    assert_eq!(s.get("/api/cover/Artist/Album%209", &[]).status, 404);
    assert_eq!(s.get("/api/cover/Artist", &[]).status, 404);
    assert_eq!(s.send("POST", "/api/cover/Other", &[]).status, 405);
}

#[test]
fn search_matches_every_word_without_case_or_accents() {
    let s = server();
    let titles = |v: &Value| -> Vec<String> {
        v["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let v = get_json(&s, "/api/search?q=cafe%20OLUM");
    assert_eq!(titles(&v), ["Café Ölüm"]);
    assert_eq!(v["tracks"][0]["path"], "Artist/Album/a.wav");
    // Words may come from different fields: artist and title.
    assert_eq!(titles(&get_json(&s, "/api/search?q=zoe%20ten")), ["Ten"]);
    // By album, all three tagged tracks; by file name, the untagged one.
    assert_eq!(titles(&get_json(&s, "/api/search?q=the+album")).len(), 3);
    assert_eq!(
        titles(&get_json(&s, "/api/search?q=untagged")),
        ["z untagged 3"]
    );
    // Folders by name.
    let v = get_json(&s, "/api/search?q=album%209");
    assert_eq!(v["dirs"][0]["path"], "Artist/Album 9");
    assert_eq!(
        get_json(&s, "/api/search?q=nothing%20like%20this")["tracks"],
        serde_json::json!([])
    );
    assert_eq!(
        get_json(&s, "/api/search?q=")["tracks"],
        serde_json::json!([])
    );
    // Capped, and says so.
    let v = get_json(&s, "/api/search?q=wav&limit=2");
    assert_eq!(v["tracks"].as_array().unwrap().len(), 2);
    assert_eq!(v["truncated"], true);
    assert_eq!(s.get("/api/search?q=x&limit=0", &[]).status, 400);
    assert_eq!(s.get("/api/search?q=x&limit=lots", &[]).status, 400);
}

#[test]
fn cached_flags_follow_the_transcode_cache() {
    // Without prefetch, which would cache the next track too.
    let s = TestServer::start("[warm]\nprefetch_next = false\n", library);
    let r = s.get("/play/Artist/Album/a.wav?quality=low", &[]);
    assert_eq!(r.status, 200);
    common::wait_for("the low entry", || {
        get_json(&s, "/api/browse/Artist/Album")["tracks"][0]["cached"]["low"] == true
    });
    let v = get_json(&s, "/api/browse/Artist/Album");
    assert_eq!(
        v["tracks"][0]["cached"],
        serde_json::json!({"low": true, "medium": false, "high": false})
    );
    assert_eq!(v["tracks"][1]["cached"]["low"], false);
}

#[test]
fn the_player_page_is_embedded_compressed_and_plain() {
    let s = server();
    let plain = s.get("/", &[]);
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(plain.header("Content-Encoding"), None);
    let html = String::from_utf8(plain.body.clone()).unwrap();
    assert!(html.contains("<audio") && html.contains("/app.js") && html.contains("manifest"));
    assert!(
        plain
            .header("Content-Security-Policy")
            .unwrap()
            .contains("default-src 'self'")
    );

    let gz = s.get("/", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(gz.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gz.header("Vary"), Some("Accept-Encoding"));
    assert!(gz.body.len() < plain.body.len());
    assert_eq!(&gz.body[..2], b"\x1f\x8b");

    let etag = plain.header("ETag").unwrap().to_owned();
    assert_eq!(s.get("/", &[("If-None-Match", &etag)]).status, 304);

    let manifest = s.get("/manifest.webmanifest", &[]);
    assert_eq!(
        manifest.header("Content-Type"),
        Some("application/manifest+json")
    );
    let m: Value = serde_json::from_slice(&manifest.body).unwrap();
    assert_eq!(m["start_url"], "/");
    assert_eq!(m["display"], "standalone");
    for asset in ["/app.js", "/app.css", "/icon.svg"] {
        assert_eq!(s.get(asset, &[]).status, 200, "{asset}");
    }
    assert_eq!(s.send("POST", "/", &[]).status, 405);
}

#[test]
fn playlists_resolve_inside_the_root_and_list_the_rest_as_missing() {
    let s = server();
    let root = std::fs::canonicalize(s.root()).unwrap();
    std::fs::write(s.outer.path().join("secret.flac"), b"secret").unwrap();
    std::fs::create_dir(s.root().join("Lists")).unwrap();
    let abs = root.join("Artist/Album/c.wav");
    let m3u8 = [
        "\u{feff}#EXTM3U",
        "#PLAYLIST:Road Trip",
        "#EXTINF:1,Zoë - Café Ölüm",
        "../Artist/Album/a.wav",
        &abs.display().to_string(),
        &format!(
            "file://{}",
            root.join("Artist/Album/z untagged 3.wav")
                .display()
                .to_string()
                .replace(' ', "%20")
        ),
        "..\\Artist\\Album\\b.wav",
        "../../secret.flac",
        "/etc/passwd",
        "http://example.com/stream.mp3",
        "C:\\Music\\x.flac",
        "nope.flac",
        "../Artist/Album/notes.txt",
        "../Artist/Album/.hidden.flac",
        "",
    ]
    .join("\r\n");
    std::fs::write(s.root().join("Lists/Trip.m3u8"), m3u8).unwrap();
    write_wav(&s.root().join("Lists/Café.wav"), 44_100, 1, 4410, 9);
    std::fs::write(s.root().join("Lists/latin.m3u"), b"Caf\xe9.wav\n").unwrap();

    let v = get_json(&s, "/api/playlists/Lists/Trip.m3u8");
    assert_eq!(v["name"], "Road Trip");
    let paths: Vec<&str> = v["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "Artist/Album/a.wav",
            "Artist/Album/c.wav",
            "Artist/Album/z untagged 3.wav",
            "Artist/Album/b.wav"
        ]
    );
    assert_eq!(v["entries"][0]["title"], "Zoë - Café Ölüm");
    assert_eq!(v["entries"][0]["duration_s"], 1.0);
    let missing: Vec<(&str, &str)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["missing"].is_null())
        .map(|e| {
            (
                e["location"].as_str().unwrap(),
                e["missing"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(v["missing"], 7);
    assert_eq!(missing.len(), 7);
    assert_eq!(missing[0], ("../../secret.flac", "outside the music root"));
    assert_eq!(missing[1], ("/etc/passwd", "outside the music root"));
    assert_eq!(missing[2].1, "a remote stream, not a library file");
    assert_eq!(missing[3].1, "a Windows drive path");
    assert_eq!(missing[4], ("nope.flac", "no such file"));
    assert_eq!(missing[5].1, "not an audio file");
    assert_eq!(missing[6].0, "../Artist/Album/.hidden.flac");
    let body = serde_json::to_string(&v).unwrap();
    assert!(
        !body.contains("secret\""),
        "nothing of the outside file is read"
    );

    // A Latin-1 .m3u.
    let v = get_json(&s, "/api/playlists/Lists/latin.m3u");
    assert_eq!(v["name"], "latin");
    assert_eq!(v["tracks"][0]["path"], "Lists/Café.wav");

    // The index lists all three playlists; the folder listing shows them.
    let all = get_json(&s, "/api/playlists");
    let mut names: Vec<&str> = all["playlists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Artist/Album/Mix.m3u", "Lists/Trip.m3u8", "Lists/latin.m3u"]
    );
    assert_eq!(s.get("/api/playlists/Artist/Album/a.wav", &[]).status, 404);
    assert_eq!(s.get("/api/playlists/..%2fsecret.m3u", &[]).status, 404);
    assert_eq!(s.get("/api/playlists/Lists/none.m3u", &[]).status, 404);
}

fn stat(s: &TestServer, name: &str) -> u64 {
    common::n(&common::admin_stats(s), name)
}

#[test]
fn playing_a_track_prefetches_the_next_in_the_folder_or_playlist() {
    let s = server();
    // Album order: a.wav (1/2), c.wav (1/10), b.wav (2/1), ...
    assert_eq!(
        s.get("/play/Artist/Album/a.wav?quality=low", &[]).status,
        200
    );
    common::wait_for("the next track prefetched", || {
        get_json(&s, "/api/browse/Artist/Album")["tracks"][1]["cached"]["low"] == true
    });
    assert_eq!(stat(&s, "prefetched"), 1);
    let v = get_json(&s, "/api/browse/Artist/Album");
    assert_eq!(v["tracks"][1]["path"], "Artist/Album/c.wav");
    assert_eq!(v["tracks"][2]["cached"]["low"], false, "only the next one");

    // Playing it is a hit made by prefetch, and prefetches the one after.
    let hits = stat(&s, "hits");
    assert_eq!(
        s.get("/play/Artist/Album/c.wav?quality=low", &[]).status,
        200
    );
    assert_eq!(stat(&s, "hits"), hits + 1);
    assert_eq!(stat(&s, "prefetch_hits"), 1);
    common::wait_for("b.wav prefetched", || {
        get_json(&s, "/api/browse/Artist/Album")["tracks"][2]["cached"]["low"] == true
    });

    // From a playlist, its order wins: after b.wav comes a.wav at medium.
    std::fs::write(
        s.root().join("mix.m3u"),
        "Artist/Album/b.wav\nArtist/Album/a.wav\n",
    )
    .unwrap();
    let r = s.get(
        "/play/Artist/Album/b.wav?quality=medium&playlist=mix.m3u",
        &[],
    );
    assert_eq!(r.status, 200);
    common::wait_for("a.wav prefetched at medium", || {
        get_json(&s, "/api/browse/Artist/Album")["tracks"][0]["cached"]["medium"] == true
    });
    // A seek (a Range not from the start) prefetches nothing more. Plays
    // are looked up in order on one thread, so once a later play of the
    // last track (which has no next) has been looked up, a lookup for the
    // seek would have been too.
    let (before, considered) = (stat(&s, "prefetched"), stat(&s, "prefetch_considered"));
    let r = s.get(
        "/play/Artist/Album/a.wav?quality=high",
        &[("Range", "bytes=1000-")],
    );
    assert_eq!(r.status, 206);
    let last = get_json(&s, "/api/browse/Artist/Album")["tracks"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .replace(' ', "%20");
    assert_eq!(s.get(&format!("/play/{last}?quality=low"), &[]).status, 200);
    common::wait_for("the last play looked up", || {
        stat(&s, "prefetch_considered") == considered + 1
    });
    assert_eq!(stat(&s, "prefetched"), before);
}

/// A file that makes symphonia's prober panic (tests/fixtures/make.sh).
fn probe_panic_fixture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/probe_panic.mp3"
    ))
    .unwrap()
}

#[test]
fn a_next_track_that_makes_the_prober_panic_does_not_break_the_current_play() {
    // Regression (issue 13): prefetch probed the next track outside the
    // decoder's panic guard, before the reply went out, so the current
    // play became a 500.
    let s = TestServer::start("", |root| {
        std::fs::create_dir(root.join("Album")).unwrap();
        common::write_wav(&root.join("Album/01 fine.wav"), 44_100, 2, 44_100, 1);
        std::fs::write(root.join("Album/02 broken.mp3"), probe_panic_fixture()).unwrap();
    });
    let r = s.get("/play/Album/01%20fine.wav?quality=low", &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    // Playing the broken file itself serves it as it is.
    let r = s.get("/play/Album/02%20broken.mp3?quality=low", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, probe_panic_fixture());
    assert_eq!(s.get("/api/version", &[]).status, 200);
}

#[test]
fn prefetch_can_be_switched_off() {
    let s = TestServer::start("[warm]\nprefetch_next = false\n", library);
    assert_eq!(
        s.get("/play/Artist/Album/a.wav?quality=low", &[]).status,
        200
    );
    // With prefetch off a play queues no lookup at all (it is decided
    // before the reply goes out), so there is nothing to wait for.
    assert_eq!(stat(&s, "prefetch_considered"), 0);
    assert_eq!(stat(&s, "prefetched"), 0);
    let v = get_json(&s, "/api/browse/Artist/Album");
    assert_eq!(v["tracks"][1]["cached"]["low"], false);
}

#[test]
fn the_web_player_stars_and_counts_plays_as_the_web_user() {
    // No user configured: nothing is recorded, and the page knows.
    let s = server();
    assert!(get_json(&s, "/api/listening")["user"].is_null());
    let r = common::post_json(&s, "/api/star", r#"{"path": "Artist/Album/a.wav"}"#);
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));

    let s = TestServer::start(
        "[[users]]\nname = \"anna\"\npassword = \"pw\"\n[[users]]\nname = \"ben\"\npassword = \"pw\"\n[server]\nweb_user = \"ben\"\n",
        library,
    );
    let a = r#"{"path": "Artist/Album/a.wav"}"#;
    assert_eq!(common::post_json(&s, "/api/star", a).status, 204);
    assert_eq!(common::post_json(&s, "/api/scrobble", a).status, 204);
    assert_eq!(common::post_json(&s, "/api/scrobble", a).status, 204);
    let v = get_json(&s, "/api/listening");
    assert_eq!(v["user"], "ben");
    assert_eq!(v["recent"][0]["path"], "Artist/Album/a.wav");
    assert_eq!(v["starred"][0]["title"], "Café Ölüm");
    assert_eq!(v["starred"][0]["starred"], true);
    // Listings carry the star too.
    let v = get_json(&s, "/api/browse/Artist/Album");
    let a_track = v["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["path"] == "Artist/Album/a.wav")
        .unwrap();
    assert_eq!(a_track["starred"], true);
    // Ben's plays are Ben's: two, in his Subsonic view.
    let ben = common::subsonic_api::creds("ben", "pw");
    let id =
        tapedeck::ids::Id::Song(tapedeck::library::RelPath::new("Artist/Album/a.wav").unwrap());
    let v = common::subsonic_api::ok_at(&s, &ben, "getSong", &[("id", &id.encode())]);
    assert_eq!(v["song"]["playCount"], 2);
    assert_eq!(
        common::post_json(
            &s,
            "/api/star",
            r#"{"path": "Artist/Album/a.wav", "starred": false}"#
        )
        .status,
        204
    );
    assert_eq!(
        get_json(&s, "/api/listening")["starred"],
        serde_json::json!([])
    );
    // Refused: not JSON (as a form of another site would send), a path
    // outside the library, a missing track, a GET.
    let form = "POST /api/star HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\n\r\na=bc";
    assert_eq!(common::raw(s.addr, form.as_bytes()).status, 400);
    for (body, status) in [
        (r#"{"path": "../secret.flac"}"#, 400),
        (r#"{"path": "Artist/Album/nope.wav"}"#, 404),
        (r#"{"pth": "x"}"#, 400),
    ] {
        assert_eq!(
            common::post_json(&s, "/api/scrobble", body).status,
            status,
            "{body}"
        );
    }
    assert_eq!(s.get("/api/star", &[]).status, 405);
}
