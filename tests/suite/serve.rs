//! Serving originals over a real socket: Range, HEAD, conditional requests,
//! qualities, routes and non-ASCII names.

use crate::common;

use common::{TestServer, pattern};

const LEN: usize = 10_000;
const TRACK: &str = "/play/Artist/Album/01%20Track.flac";

fn library() -> TestServer {
    TestServer::start("", |root| {
        std::fs::create_dir_all(root.join("Artist/Album")).unwrap();
        std::fs::write(root.join("Artist/Album/01 Track.flac"), pattern(LEN)).unwrap();
    })
}

#[test]
fn whole_file_has_type_length_validators_and_accept_ranges() {
    let s = library();
    let r = s.get(TRACK, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pattern(LEN));
    assert_eq!(r.header("content-type"), Some("audio/flac"));
    assert_eq!(r.header("content-length"), Some("10000"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.header("transfer-encoding").is_none(), "never chunked");
    let etag = r.header("etag").unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    assert!(httpdate::parse_http_date(r.header("last-modified").unwrap()).is_ok());
}

#[test]
fn quality_original_and_known_levels_serve_the_file() {
    let s = library();
    for q in ["original", "high", "medium", "low"] {
        let r = s.get(&format!("{TRACK}?quality={q}"), &[]);
        assert_eq!(r.status, 200, "quality={q}");
        assert_eq!(r.body.len(), LEN);
    }
}

#[test]
fn range_table() {
    let s = library();
    let all = pattern(LEN);
    // (Range header, status, Content-Range, body as a slice of the file)
    type Case<'a> = (&'a str, u16, Option<&'a str>, Option<(usize, usize)>);
    let cases: &[Case] = &[
        ("bytes=0-0", 206, Some("bytes 0-0/10000"), Some((0, 1))),
        (
            "bytes=9999-9999",
            206,
            Some("bytes 9999-9999/10000"),
            Some((9999, 10000)),
        ),
        (
            "bytes=0-499",
            206,
            Some("bytes 0-499/10000"),
            Some((0, 500)),
        ),
        (
            "bytes=5000-",
            206,
            Some("bytes 5000-9999/10000"),
            Some((5000, 10000)),
        ),
        (
            "bytes=-1",
            206,
            Some("bytes 9999-9999/10000"),
            Some((9999, 10000)),
        ),
        (
            "bytes=-500",
            206,
            Some("bytes 9500-9999/10000"),
            Some((9500, 10000)),
        ),
        (
            "bytes=-20000",
            206,
            Some("bytes 0-9999/10000"),
            Some((0, 10000)),
        ),
        (
            "bytes=9000-20000",
            206,
            Some("bytes 9000-9999/10000"),
            Some((9000, 10000)),
        ),
        (
            "bytes=0-99,100-199",
            206,
            Some("bytes 0-199/10000"),
            Some((0, 200)),
        ),
        ("bytes=10000-", 416, Some("bytes */10000"), None),
        ("bytes=12000-13000", 416, Some("bytes */10000"), None),
        ("bytes=-0", 416, Some("bytes */10000"), None),
        ("bytes=500-100", 200, None, Some((0, 10000))),
        ("bytes=abc", 200, None, Some((0, 10000))),
        ("bytes=", 200, None, Some((0, 10000))),
        ("lines=1-2", 200, None, Some((0, 10000))),
        ("bytes=0-1,5-6", 200, None, Some((0, 10000))),
    ];
    for &(range, status, content_range, body) in cases {
        let r = s.get(TRACK, &[("Range", range)]);
        assert_eq!(r.status, status, "Range: {range}");
        assert_eq!(r.header("content-range"), content_range, "Range: {range}");
        match body {
            Some((a, b)) => {
                assert_eq!(r.body, &all[a..b], "Range: {range}");
                assert_eq!(
                    r.header("content-length"),
                    Some((b - a).to_string().as_str())
                );
                assert_eq!(r.header("content-type"), Some("audio/flac"));
            }
            None => {
                assert_eq!(r.json()["status"], 416, "Range: {range}");
            }
        }
    }
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let s = library();
    for range in [None, Some("bytes=100-199")] {
        let headers: Vec<(&str, &str)> = range.iter().map(|r| ("Range", *r)).collect();
        let get = s.get(TRACK, &headers);
        let head = s.send("HEAD", TRACK, &headers);
        assert_eq!(head.status, get.status);
        assert!(head.body.is_empty(), "HEAD has no body");
        assert_eq!(head.stable_headers(), get.stable_headers());
    }
}

#[test]
fn matching_etag_is_304_without_body() {
    let s = library();
    let etag = s.get(TRACK, &[]).header("etag").unwrap().to_owned();
    let r = s.get(TRACK, &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let other = s.get(TRACK, &[("If-None-Match", "\"something-else\"")]);
    assert_eq!(other.status, 200);
    assert_eq!(other.body.len(), LEN);
}

#[test]
fn if_modified_since_last_modified_is_304() {
    let s = library();
    let lm = s
        .get(TRACK, &[])
        .header("last-modified")
        .unwrap()
        .to_owned();
    assert_eq!(s.get(TRACK, &[("If-Modified-Since", &lm)]).status, 304);
    let long_ago = "Thu, 01 Jan 1998 00:00:00 GMT";
    assert_eq!(s.get(TRACK, &[("If-Modified-Since", long_ago)]).status, 200);
}

#[test]
fn if_range_with_stale_validator_gets_the_whole_file() {
    let s = library();
    let etag = s.get(TRACK, &[]).header("etag").unwrap().to_owned();
    let fresh = s.get(TRACK, &[("Range", "bytes=10-19"), ("If-Range", &etag)]);
    assert_eq!(fresh.status, 206);
    assert_eq!(fresh.body.len(), 10);
    let stale = s.get(
        TRACK,
        &[("Range", "bytes=10-19"), ("If-Range", "\"stale\"")],
    );
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, pattern(LEN));
    let old_date = s.get(
        TRACK,
        &[
            ("Range", "bytes=10-19"),
            ("If-Range", "Thu, 01 Jan 1998 00:00:00 GMT"),
        ],
    );
    assert_eq!(old_date.status, 200);
}

#[test]
fn failed_if_match_is_412() {
    let s = library();
    let r = s.get(TRACK, &[("If-Match", "\"not-it\"")]);
    assert_eq!(r.status, 412);
    assert_eq!(r.json()["status"], 412);
}

#[test]
fn changed_file_gets_a_new_etag() {
    let s = library();
    let before = s.get(TRACK, &[]).header("etag").unwrap().to_owned();
    std::fs::write(
        s.root().join("Artist/Album/01 Track.flac"),
        pattern(LEN + 1),
    )
    .unwrap();
    let r = s.get(TRACK, &[("If-None-Match", &before)]);
    assert_eq!(r.status, 200, "a rewritten file must not be 304");
    assert_ne!(r.header("etag"), Some(before.as_str()));
}

#[test]
fn unknown_quality_is_400_naming_valid_values() {
    let s = library();
    let r = s.get(&format!("{TRACK}?quality=ultra"), &[]);
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["status"], 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("original, high, medium, low")
    );
    assert_eq!(
        v["valid"],
        serde_json::json!(["original", "high", "medium", "low"])
    );
}

#[test]
fn unknown_route_is_404_json_and_wrong_method_is_405() {
    let s = library();
    let r = s.get("/nope", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        serde_json::json!({"error": "not found", "status": 404})
    );
    assert_eq!(s.get("/play/", &[]).status, 404);
    let r = s.send("POST", TRACK, &[("Content-Length", "0")]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(r.json()["status"], 405);
    assert_eq!(s.send("DELETE", "/", &[]).status, 405);
}

#[test]
fn index_and_version_answer() {
    let s = library();
    let r = s.get("/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let v = s.get("/api/version", &[]).json();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn non_ascii_names_are_served() {
    let names = [
        "Café Tacvba/é.flac",
        "日本語/曲.flac",
        "🎵 Mix/🎶.mp3",
        "100% Pure/a+b #1.flac",
    ];
    let s = TestServer::start("", |root| {
        for (i, n) in names.iter().enumerate() {
            let p = root.join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, pattern(100 + i)).unwrap();
        }
    });
    for (i, n) in names.iter().enumerate() {
        let encoded: String = n
            .split('/')
            .map(|seg| {
                percent_encoding::utf8_percent_encode(seg, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("/");
        let r = s.get(&format!("/play/{encoded}"), &[]);
        assert_eq!(r.status, 200, "{n}");
        assert_eq!(r.body, pattern(100 + i), "{n}");
    }
}

#[test]
fn mp4_audio_and_cover_art_have_their_media_types() {
    let s = TestServer::start("", |root| {
        for n in [
            "a.m4a",
            "b.mp3",
            "c.ogg",
            "d.wav",
            "e.aiff",
            "cover.jpg",
            "folder.png",
        ] {
            std::fs::write(root.join(n), b"x").unwrap();
        }
    });
    for (path, want) in [
        ("a.m4a", "audio/mp4"),
        ("b.mp3", "audio/mpeg"),
        ("c.ogg", "audio/ogg"),
        ("d.wav", "audio/wav"),
        ("e.aiff", "audio/aiff"),
        ("cover.jpg", "image/jpeg"),
        ("folder.png", "image/png"),
    ] {
        assert_eq!(
            s.get(&format!("/play/{path}"), &[]).header("content-type"),
            Some(want)
        );
    }
}

#[test]
fn empty_file_is_200_and_any_range_on_it_is_416() {
    let s = TestServer::start("", |root| {
        std::fs::write(root.join("empty.flac"), b"").unwrap()
    });
    let r = s.get("/play/empty.flac", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("0"));
    let r = s.get("/play/empty.flac", &[("Range", "bytes=0-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */0"));
}

#[test]
fn keep_alive_connection_serves_several_range_requests() {
    use std::io::{Read, Write};
    let s = library();
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let all = pattern(LEN);
    for (a, b) in [(0, 99), (5000, 5999), (9990, 9999)] {
        write!(
            c,
            "GET {TRACK} HTTP/1.1\r\nHost: t\r\nRange: bytes={a}-{b}\r\n\r\n"
        )
        .unwrap();
        // Read exactly one response: head, then Content-Length bytes.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut byte).unwrap();
            buf.push(byte[0]);
        }
        let (head, _) = common::parse(&buf);
        assert_eq!(head.status, 206);
        let n: usize = head.header("content-length").unwrap().parse().unwrap();
        let mut body = vec![0u8; n];
        c.read_exact(&mut body).unwrap();
        assert_eq!(body, &all[a..=b]);
    }
}
