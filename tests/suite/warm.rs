//! Warm jobs (`POST /admin/cache/warm`, `/admin/jobs`, the SSE event
//! stream), the budget rule that stops warming instead of thrashing, and
//! the `tapedeck warm` / `tapedeck cache` commands.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    TestServer, admin_stats, decode_file, n, post_json, wait_for, without_prefetch, write_wav,
};

const RATE: u32 = 44_100;

fn job(s: &TestServer, id: u64) -> serde_json::Value {
    let r = s.get(&format!("/admin/jobs/{id}"), &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Starts a warm job and returns its id.
fn warm(s: &TestServer, body: &str) -> u64 {
    let r = post_json(s, "/admin/cache/warm", body);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = n(&r.json(), "job_id");
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/jobs/{id}").as_str())
    );
    id
}

/// Polls the job every 100 ms (not faster: under qemu each request costs
/// the transcoder CPU) until it finishes, for at most 5 minutes.
fn wait_finished(s: &TestServer, id: u64) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    common::wait_until(
        &format!("job {id} to finish"),
        Duration::from_secs(300),
        Duration::from_millis(100),
        || {
            last = job(s, id);
            matches!(
                last["state"].as_str(),
                Some("done" | "failed" | "cancelled")
            )
        },
    );
    last
}

/// Cache files with `suffix` (".mp3" entries, ".part" in flight).
fn cache_files(s: &TestServer, suffix: &str) -> Vec<std::path::PathBuf> {
    common::files_ending(&s.outer.path().join("cache"), suffix)
}

fn album(root: &Path, tracks: u32, seconds: u32) {
    std::fs::create_dir_all(root.join("Album")).unwrap();
    for i in 1..=tracks {
        write_wav(
            &root.join(format!("Album/{i:02} track.wav")),
            RATE,
            2,
            RATE * seconds,
            i,
        );
    }
}

#[test]
fn a_file_that_makes_the_prober_panic_fails_alone_and_the_warm_thread_goes_on() {
    // Regression (issue 13): the MP3 bitrate probe ran outside the decoder's
    // panic guard, so this file killed the only warm thread and left its job
    // running for ever.
    let bad = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/probe_panic.mp3"
    ))
    .unwrap();
    let s = TestServer::start(&without_prefetch(""), |root| {
        album(root, 1, 1);
        std::fs::write(root.join("Album/02 broken.mp3"), &bad).unwrap();
    });
    let id = warm(&s, r#"{"paths": ["Album"], "qualities": ["low"]}"#);
    let done = wait_finished(&s, id);
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!((n(&done, "done"), n(&done, "failed")), (1, 1), "{done}");
    assert_eq!(done["errors"][0]["path"], "Album/02 broken.mp3", "{done}");
    // The warm thread is still there for the next job.
    let again = warm(
        &s,
        r#"{"paths": ["Album/01 track.wav"], "qualities": ["medium"]}"#,
    );
    assert_eq!(wait_finished(&s, again)["state"], "done");
}

#[test]
fn a_warm_job_over_a_folder_reaches_done_with_correct_counts() {
    let s = TestServer::start(&without_prefetch(""), |root| {
        album(root, 3, 3);
        std::fs::write(root.join("Album/04 broken.flac"), b"fLaC but not really").unwrap();
        std::fs::write(root.join("Album/cover.txt"), b"not audio").unwrap();
    });
    let id = warm(&s, r#"{"paths": ["Album"], "qualities": ["low"]}"#);
    let done = wait_finished(&s, id);
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        (
            n(&done, "total"),
            n(&done, "done"),
            n(&done, "skipped"),
            n(&done, "failed")
        ),
        (4, 3, 0, 1),
        "{done}"
    );
    assert_eq!(done["errors"][0]["path"], "Album/04 broken.flac");
    assert!(
        done["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("04 broken.flac")
    );
    assert!(done["note"].is_null() && done["current"].is_null());
    // The entries exist, are whole, and are what bytes_cached counts.
    let entries = cache_files(&s, ".mp3");
    assert_eq!(entries.len(), 3);
    let bytes: u64 = entries.iter().map(|p| p.metadata().unwrap().len()).sum();
    assert_eq!(n(&done, "bytes_cached"), bytes);
    for e in &entries {
        let (rate, channels, frames) = decode_file(e);
        assert_eq!((rate, channels), (RATE, 2));
        assert!(frames >= u64::from(RATE * 3), "{frames}");
        assert!(tapedeck::mp3::check_file(e).is_ok());
    }
    // Plays are now hits.
    let hit = s.get("/play/Album/02%20track.wav?quality=low", &[]);
    assert_eq!(hit.status, 200);
    let stats = admin_stats(&s);
    assert_eq!((n(&stats, "hits"), n(&stats, "misses")), (1, 0), "{stats}");

    // Warming again skips what is cached.
    let again = wait_finished(
        &s,
        warm(
            &s,
            r#"{"paths": ["Album/01 track.wav", "Album"], "qualities": ["low"]}"#,
        ),
    );
    assert_eq!(
        (
            n(&again, "total"),
            n(&again, "done"),
            n(&again, "skipped"),
            n(&again, "already_cached")
        ),
        (4, 0, 3, 3),
        "a track named twice is warmed once: {again}"
    );
    // "" is the whole library.
    let all = wait_finished(&s, warm(&s, r#"{"paths": [""], "qualities": ["low"]}"#));
    assert_eq!(
        (n(&all, "total"), n(&all, "already_cached")),
        (4, 3),
        "{all}"
    );
    let list = s.get("/admin/jobs", &[]).json();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 3);
}

#[test]
fn on_start_warms_its_entries_at_its_levels_and_leaves_out_missing_ones() {
    let s = TestServer::start(
        "[warm]\nprefetch_next = false\non_start = [\"Album\", \"Gone\", \"list.m3u\"]\nqualities = [\"low\", \"medium\"]\n",
        |root| {
            album(root, 2, 2);
            write_wav(&root.join("solo.wav"), RATE, 1, RATE, 5);
            std::fs::write(root.join("list.m3u"), "solo.wav\n").unwrap();
        },
    );
    let end = wait_finished(&s, 1);
    assert_eq!(end["state"], "done", "{end}");
    assert_eq!(end["request"]["paths"], serde_json::json!(["Album"]));
    assert_eq!(end["request"]["playlists"], serde_json::json!(["list.m3u"]));
    assert_eq!(
        (n(&end, "total"), n(&end, "done")),
        (6, 6),
        "3 tracks × 2 levels: {end}"
    );
    assert_eq!(cache_files(&s, ".mp3").len(), 6);
}

#[test]
fn bad_warm_requests_are_refused_before_anything_is_queued() {
    let s = TestServer::start(&without_prefetch(""), |root| album(root, 1, 1));
    for (body, status) in [
        (r#"{"paths": ["../etc"]}"#, 404),
        (r#"{"paths": ["Nope"]}"#, 404),
        (r#"{"playlists": ["Album/01 track.wav"]}"#, 404),
        (r#"{"paths": []}"#, 400),
        (r#"{"paths": ["Album"], "qualities": ["original"]}"#, 400),
        (r#"{"paths": ["Album"], "qualities": ["ultra"]}"#, 400),
        (r#"{"paths": ["Album"], "extra": 1}"#, 400),
        ("not json", 400),
    ] {
        let r = post_json(&s, "/admin/cache/warm", body);
        assert_eq!(
            r.status,
            status,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!String::from_utf8_lossy(&r.body).contains(s.outer.path().to_str().unwrap()));
    }
    assert_eq!(
        s.get("/admin/jobs", &[]).json()["jobs"],
        serde_json::json!([])
    );
    assert_eq!(s.get("/admin/jobs/99", &[]).status, 404);
    assert_eq!(s.send("DELETE", "/admin/jobs/99", &[]).status, 404);
    assert_eq!(s.get("/admin/cache/warm", &[]).status, 405);
}

/// Reads an SSE response with a plain socket until the `done` event (or
/// the end of the stream); returns `(event, id, data)` in order.
fn read_sse(addr: SocketAddr, id: u64) -> Vec<(String, u64, serde_json::Value)> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        c,
        "GET /admin/jobs/{id}/events HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = c.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.ends_with(b"\r\n0\r\n\r\n") {
            break; // the last chunk
        }
    }
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    // Every event is one chunk: drop the chunk-size lines.
    let mut events = Vec::new();
    let (mut kind, mut seq) = (String::new(), 0);
    for line in body.split("\r\n").flat_map(|c| c.split('\n')) {
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.to_owned();
        } else if let Some(i) = line.strip_prefix("id: ") {
            seq = i.parse().unwrap();
        } else if let Some(d) = line.strip_prefix("data: ") {
            events.push((kind.clone(), seq, serde_json::from_str(d).unwrap()));
        }
    }
    events
}

#[test]
fn the_event_stream_delivers_ordered_progress_and_a_final_done() {
    let s = TestServer::start(&without_prefetch(""), |root| {
        album(root, 4, 2);
        std::fs::write(root.join("Album/05 broken.wav"), b"RIFF....WAVEjunk").unwrap();
        std::fs::write(
            root.join("mix.m3u8"),
            "#EXTM3U\r\nAlbum/03 track.wav\r\nAlbum/01 track.wav\r\n../outside.wav\r\nAlbum/05 broken.wav\r\nAlbum/02 track.wav\r\n",
        )
        .unwrap();
    });
    let id = warm(&s, r#"{"playlists": ["mix.m3u8"], "qualities": ["low"]}"#);
    // Two listeners follow the same job.
    let addr = s.addr;
    let other = std::thread::spawn(move || read_sse(addr, id));
    let events = read_sse(addr, id);
    let kinds: Vec<&str> = events.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"state"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    let seqs: Vec<u64> = events.iter().skip(1).map(|(_, i, _)| *i).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "ids in order: {seqs:?}"
    );
    // Playlist order; one failure; the entry outside the root is skipped.
    let progress: Vec<(&str, &str)> = events
        .iter()
        .filter(|(k, _, _)| k == "progress" || k == "error")
        .map(|(k, _, d)| (k.as_str(), d["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        progress,
        [
            ("progress", "Album/03 track.wav"),
            ("progress", "Album/01 track.wav"),
            ("error", "Album/05 broken.wav"),
            ("progress", "Album/02 track.wav"),
        ]
    );
    let dones: Vec<u64> = events
        .iter()
        .filter(|(k, _, _)| k == "progress")
        .map(|(_, _, d)| n(d, "done"))
        .collect();
    assert_eq!(dones, [1, 2, 3]);
    let last = &events.last().unwrap().2;
    assert_eq!(last["state"], "done");
    assert_eq!(
        (
            n(last, "total"),
            n(last, "done"),
            n(last, "failed"),
            n(last, "skipped")
        ),
        (5, 3, 1, 1),
        "{last}"
    );
    // The second listener saw the same events.
    let theirs = other.join().unwrap();
    assert_eq!(theirs.last().unwrap().0, "done");
    assert_eq!(theirs.last().unwrap().2, *last);
    // A listener that comes after the end gets the state, then `done`.
    let late = read_sse(addr, id);
    let kinds: Vec<&str> = late.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["state", "done"]);
    assert_eq!(late[0].2["state"], "done");
}

#[test]
fn cancel_stops_the_job_and_leaves_no_part() {
    let s = TestServer::start(&without_prefetch("[transcode]\nworkers = 1\n"), |root| {
        album(root, 4, 60)
    });
    // Held from the start: the cancel reaches the first track before it
    // can be finished, however fast LAME is.
    let hold = common::hold_workers(&s);
    let id = warm(&s, r#"{"paths": ["Album"], "qualities": ["high"]}"#);
    wait_for("a transcode to be writing", || {
        !cache_files(&s, ".part").is_empty() && hold.waiting() == 1
    });
    let r = s.send("DELETE", &format!("/admin/jobs/{id}"), &[]);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    wait_for("the cancel to reach the transcode", || {
        hold.progress("Album/01 track.wav")
            .is_some_and(|p| p.cancelled)
    });
    drop(hold);
    let end = wait_finished(&s, id);
    assert_eq!(end["state"], "cancelled", "{end}");
    assert_eq!(n(&end, "done"), 0, "{end}");
    assert!(cache_files(&s, ".part").is_empty(), "no .part left");
    assert!(cache_files(&s, ".mp3").is_empty());
    // Nothing runs on afterwards.
    let stats = admin_stats(&s);
    assert_eq!(
        (n(&stats, "transcodes_running"), n(&stats, "queue_depth")),
        (0, 0),
        "{stats}"
    );
    // A finished job cannot be cancelled again.
    assert_eq!(
        s.send("DELETE", &format!("/admin/jobs/{id}"), &[]).status,
        409
    );
}

#[test]
fn a_play_during_a_warm_job_is_served_before_the_warm_tracks_queued_after_it() {
    let s = TestServer::start(&without_prefetch("[transcode]\nworkers = 1\n"), |root| {
        album(root, 5, 20);
        // Longer than the album's tracks, so its entry is the larger one.
        write_wav(&root.join("single.wav"), RATE, 2, RATE * 25, 9);
    });
    // Held from the start and let go a segment at a time: through the
    // first warm track, then only until the play's last segment, so what
    // the warm job did meanwhile does not depend on how fast LAME is.
    let hold = common::hold_workers(&s);
    let id = warm(&s, r#"{"paths": ["Album"], "qualities": ["low"]}"#);
    common::step_until(
        "the first warm track to be cached and the second to start",
        &hold,
        || true,
        || {
            cache_files(&s, ".mp3").len() == 1
                && hold.progress("Album/02 track.wav").is_some()
                && hold.waiting() == 1
        },
    );
    let workers = s.router.app().workers.as_ref().unwrap();
    let play = std::thread::scope(|scope| {
        let play = scope.spawn(|| s.get("/play/single.wav?quality=low", &[]));
        wait_for("the play to be queued", || workers.queue_depth() == 1);
        // A permit goes to the warm track's segment in hand; after it, the
        // worker leaves it for the play, and permits go on only until
        // the play's segments are all written.
        let mut planned = false;
        common::step_until(
            "the play",
            &hold,
            || match hold.progress("single.wav") {
                Some(p) => {
                    planned = true;
                    (p.done.len() as u64) < p.segments
                }
                None => !planned,
            },
            || play.is_finished(),
        );
        play.join().unwrap()
    });
    assert_eq!(play.status, 200);
    let status = job(&s, id);
    assert_ne!(
        status["state"], "done",
        "the warm job is still going: {status}"
    );
    // The play's entry is committed just after its last byte is sent;
    // beside the first warm track's, it is the only new one: the warm
    // track it interrupted, and those queued after, wait.
    let is_single = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.len() == play.body.len() as u64)
    };
    wait_for("the play's entry", || {
        cache_files(&s, ".mp3").iter().any(|p| is_single(p))
    });
    let entries = cache_files(&s, ".mp3");
    assert_eq!(entries.len(), 2, "{entries:?}");
    drop(hold);
    let end = wait_finished(&s, id);
    assert_eq!(n(&end, "done"), 5, "{end}");
}

#[test]
fn warming_stops_with_budget_full_instead_of_evicting_recent_entries() {
    // Each 30 s track at low is about 480 KB; the budget holds three.
    let s = TestServer::start(
        &without_prefetch("[cache]\nmax_size = \"1500 KB\"\n"),
        |root| {
            album(root, 5, 30);
            write_wav(&root.join("played.wav"), RATE, 2, RATE * 30, 7);
        },
    );
    // Played just now: warming must not evict it.
    assert_eq!(s.get("/play/played.wav?quality=low", &[]).status, 200);
    let id = warm(&s, r#"{"paths": ["Album"], "qualities": ["low"]}"#);
    let end = wait_finished(&s, id);
    assert_eq!(end["state"], "done", "{end}");
    assert_eq!(end["note"], "budget_full", "{end}");
    assert_eq!(n(&end, "done"), 2, "{end}");
    let needed = n(&end, "needed_bytes");
    assert!(
        (3 * 400_000..3 * 600_000).contains(&needed),
        "about three more tracks: {needed}"
    );
    assert!(
        end["message"]
            .as_str()
            .unwrap()
            .contains("more would let it finish")
    );
    let stats = admin_stats(&s);
    assert_eq!(n(&stats, "evictions"), 0, "nothing evicted: {stats}");
    assert_eq!(n(&stats, "cached_files"), 3);
    assert!(cache_files(&s, ".part").is_empty());
    // The played track is still a hit.
    assert_eq!(s.get("/play/played.wav?quality=low", &[]).status, 200);
    let stats = admin_stats(&s);
    assert_eq!(n(&stats, "hits"), 1, "{stats}");
}

// ---- the commands ---------------------------------------------------------

/// `tapedeck <args> --config <dir>/tapedeck.toml` (behind
/// `TAPEDECK_RUNNER` under emulation), the config putting music, cache and
/// the listen address in `dir`.
fn tapedeck(dir: &Path, port: u16, args: &[&str]) -> Command {
    let config = dir.join("tapedeck.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[library]\nroot = \"music\"\n[cache]\ndir = \"cache\"\n[transcode]\nworkers = 1\n[warm]\nprefetch_next = false\n"
        ),
    )
    .unwrap();
    let mut c = bin(dir);
    c.args(args).arg("--config").arg(&config);
    c
}

/// The binary, run in `dir` with HOME there.
fn bin(dir: &Path) -> Command {
    let mut c = common::binary();
    c.env("HOME", dir)
        .env_remove("JOURNAL_STREAM")
        .current_dir(dir);
    c
}

/// A port nobody listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn warm_and_cache_verify_work_without_a_server_and_remove_a_damaged_entry() {
    let dir = tempfile::tempdir().unwrap();
    album(&dir.path().join("music"), 3, 3);
    let port = free_port();
    let out = tapedeck(
        dir.path(),
        port,
        &["warm", "music/Album", "--quality", "low"],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("no server is running"), "{stderr}");
    assert!(
        stderr.contains("[3/3] cached Album/03 track.wav (low)"),
        "{stderr}"
    );
    assert!(stdout.contains("done in"), "{stdout}");
    assert!(stdout.contains("3 cached"), "{stdout}");
    assert!(stdout.contains("bandwidth saved"), "{stdout}");

    let cache = dir.path().join("cache");
    let mut entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp3"))
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 3);
    // Damage one: cut its last frame short.
    let victim = &entries[1];
    let len = victim.metadata().unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(victim)
        .unwrap()
        .set_len(len - 100)
        .unwrap();

    let out = tapedeck(dir.path(), port, &["cache", "verify"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let key = victim.file_stem().unwrap().to_str().unwrap();
    assert!(
        stdout.contains(&format!("removed {key}: truncated")),
        "{stdout}"
    );
    assert!(stdout.contains("verified 3 entries"), "{stdout}");
    assert!(!victim.exists());
    assert!(entries[0].exists() && entries[2].exists());

    let out = tapedeck(dir.path(), port, &["cache", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "a clean cache verifies");
    let out = tapedeck(dir.path(), port, &["cache", "stats"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("entries: 2"));
    let out = tapedeck(dir.path(), port, &["cache", "clear"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted 2 entries"));
}

#[test]
fn commands_go_through_a_running_server_and_respect_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    album(&dir.path().join("music"), 2, 2);
    let port = free_port();
    let mut server = tapedeck(dir.path(), port, &["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for_port(port);
    let out = tapedeck(dir.path(), port, &["warm", "Album", "-q", "low"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warming through the server"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 cached"));
    let out = tapedeck(dir.path(), port, &["cache", "stats"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("entries: 2"), "{stdout}");
    assert!(stdout.contains("since the server started"), "{stdout}");

    // Same cache, but the server is not where this config says: the lock
    // keeps the command from writing beside it.
    let out = tapedeck(dir.path(), free_port(), &["cache", "clear"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("(tapedeck serve)"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "mp3"))
            .count(),
        2
    );
    // A config that names another cache, for the same server: refused
    // unless --cache says that other directory is meant.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[library]\nroot = \"music\"\n[cache]\ndir = \"elsewhere\"\n"),
    )
    .unwrap();
    let run_other = |extra: &[&str]| {
        let mut c = bin(dir.path());
        c.args(["cache", "stats", "--config"])
            .arg(&other)
            .args(extra);
        c.output().unwrap()
    };
    let out = run_other(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("uses the cache"), "{stderr}");
    let out = run_other(&["--cache", "elsewhere"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("entries: 0"));
    let _ = server.kill();
    let _ = server.wait();
}
