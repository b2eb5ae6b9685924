//! The phone player in a real browser: `tapedeck serve` over a small album,
//! and `tests/browser/player.mjs` driving Debian's headless chromium with
//! playwright-core at a phone's viewport (browse, tap, play, seek, switch
//! quality, next track, star it, a play counted after half the track, the
//! home page's Recently played and Starred, unstar, screenshot). Then the
//! server's own log must show the seek as a Range request answered 206, and
//! the play must show in the web user's Subsonic view.
//!
//! Needs node, `/usr/bin/chromium` and `npm ci --prefix tests/browser`, so
//! it is `#[ignore]`d by a plain `cargo test` (reported as ignored, not as
//! passed): `tests/run.sh`, the project's test command, installs all three
//! and runs it with `--ignored`, or says why it skipped it.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
#[ignore = "drives chromium through node; tests/run.sh sets them up and runs it"]
fn phone_browses_plays_seeks_and_switches_quality() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        here.join("node_modules/playwright-core").is_dir(),
        "run `npm ci --prefix tests/browser` and install Debian's chromium (tests/run.sh does both)"
    );

    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("music/Test Artist/Test Album");
    std::fs::create_dir_all(&album).unwrap();
    // The first track is 4 minutes (5.8 MB at medium), so its middle lies
    // well beyond what chromium reads ahead: a seek there becomes a new
    // Range request instead of waiting for the first response.
    common::write_wav(&album.join("01 Opening.wav"), 44_100, 1, 44_100 * 240, 1);
    common::write_wav(&album.join("02 Second.wav"), 44_100, 2, 44_100 * 12, 2);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cover.png"),
        album.join("cover.png"),
    )
    .unwrap();
    let log_path = dir.path().join("server.log");
    // A user, so the web player records plays and stars (as anna).
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[[users]]\nname = \"anna\"\npassword = \"pw\"\n").unwrap();
    let mut child = common::binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--music")
        .arg(dir.path().join("music"))
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join(".config"))
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start tapedeck");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("server printed its URL").unwrap();
        if let Some(rest) = line.trim().strip_prefix("open http://") {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("player-phone.png");
    let out = Command::new("node")
        .arg(here.join("player.mjs"))
        .env("TAPEDECK_URL", format!("http://{addr}"))
        .env("ALBUM", "Test Artist/Test Album")
        .env("SCREENSHOT", &shot)
        .output()
        .expect("run node (is Node.js installed?)");
    let seek_line = |log: &str| {
        log.lines().any(|l| {
            l.contains("GET /play/Test Artist/Test Album/01 Opening.wav") && l.contains(" 206 ")
        })
    };
    // Request lines are logged when a response ends; the browser has
    // closed its streams, so the handlers notice within moments.
    common::eventually(
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(100),
        || seek_line(&std::fs::read_to_string(&log_path).unwrap_or_default()),
    );
    // The web player's play counts for anna's Subsonic view too.
    let second = tapedeck::ids::Id::Song(
        tapedeck::library::RelPath::new("Test Artist/Test Album/02 Second.wav").unwrap(),
    )
    .encode();
    let v = common::subsonic_api::call_at(
        addr,
        &common::subsonic_api::creds("anna", "pw"),
        "getSong",
        &[("id", &second)],
    );
    // SIGTERM, not SIGKILL: the server buffers its info lines for up to a
    // second and writes them out as it stops.
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "player.mjs failed\nstdout: {stdout}\nstderr: {}\nserver log:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("browser saw: {stdout}");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "screenshot is a PNG");

    // The seek reached the server as a Range request: a 206 for the track.
    assert!(
        seek_line(&log),
        "no 206 for the seek in the server log:\n{log}"
    );
    // Both levels were transcoded, and the second track followed.
    assert!(
        log.contains("cache miss Test Artist/Test Album/01 Opening.wav medium"),
        "{log}"
    );
    assert!(
        log.contains("cache miss Test Artist/Test Album/01 Opening.wav low"),
        "{log}"
    );
    assert!(log.contains("Test Album/02 Second.wav low"), "{log}");
    assert_eq!(v["song"]["playCount"], 1, "{v}");
    assert!(v["song"]["starred"].is_null(), "unstarred again: {v}");
}
