//! The README's first command on a fresh machine: `tapedeck` with no music
//! directory at all serves the demo library and says so, in the log and to
//! the web player; a music directory that was given but is missing stays
//! an error.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Stdio;

use serde::Deserialize;

const ALBUM: &str = "tapedeck%20-%20Demo%20Chords";

use common::binary_at_home as tapedeck;

fn get(addr: SocketAddr, path: &str) -> common::Resp {
    common::raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

#[derive(Deserialize)]
struct Version {
    demo: bool,
}

#[derive(Deserialize)]
struct Listing {
    dirs: Vec<Dir>,
    tracks: Vec<Track>,
}

#[derive(Deserialize)]
struct Dir {
    name: String,
    cover: Option<String>,
}

#[derive(Deserialize)]
struct Track {
    path: String,
    title: Option<String>,
    artist: Option<String>,
    album: Option<String>,
    track: Option<u32>,
}

#[test]
fn with_no_music_directory_the_demo_library_is_served_and_announced() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("stderr.log");
    let mut child = tapedeck(home.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr: SocketAddr = loop {
        let Some(line) = lines.next() else {
            let _ = child.wait();
            panic!(
                "tapedeck stopped: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        if let Some(rest) = line.unwrap().trim().strip_prefix("open http://") {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };

    let version: Version = serde_json::from_slice(&get(addr, "/api/version").body).unwrap();
    assert!(version.demo, "the player is told to show its notice");
    let root: Listing = serde_json::from_slice(&get(addr, "/api/browse/").body).unwrap();
    assert_eq!(root.dirs.len(), 1);
    assert_eq!(root.dirs[0].name, "tapedeck - Demo Chords");
    assert!(root.dirs[0].cover.is_some(), "the album has a cover");
    let album: Listing =
        serde_json::from_slice(&get(addr, &format!("/api/browse/{ALBUM}")).body).unwrap();
    let titles: Vec<_> = album.tracks.iter().map(|t| t.title.as_deref()).collect();
    assert_eq!(
        titles,
        [
            Some("C major (FLAC)"),
            Some("A minor (WAV)"),
            Some("F major (MP3)"),
            Some("G major (FLAC)")
        ]
    );
    for (n, t) in album.tracks.iter().enumerate() {
        assert_eq!(t.artist.as_deref(), Some("tapedeck"));
        assert_eq!(t.album.as_deref(), Some("Demo Chords"));
        assert_eq!(t.track, Some(n as u32 + 1));
    }
    // It plays, transcoded like any library.
    let wav = &album.tracks[1].path;
    assert!(wav.ends_with(".wav"), "{wav}");
    let play = get(
        addr,
        &format!("/play/{ALBUM}/02%20A%20minor.wav?quality=low"),
    );
    assert_eq!(play.status, 200);
    assert_eq!(play.header("content-type"), Some("audio/mpeg"));
    assert!(play.body.len() > 40_000, "{} bytes", play.body.len());

    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("demo library at ") && stderr.contains(": point --music at your music"),
        "{stderr}"
    );
    assert!(
        home.path()
            .join(".cache/tapedeck/demo-library/tapedeck - Demo Chords/cover.jpg")
            .is_file()
    );
}

#[test]
fn a_missing_music_directory_that_was_given_is_still_an_error() {
    let home = tempfile::tempdir().unwrap();
    let out = tapedeck(home.path())
        .args(["--listen", "127.0.0.1:0", "--music"])
        .arg(home.path().join("Music"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--music: music directory ~/Music does not exist"),
        "{err}"
    );

    let config = home.path().join("tapedeck.toml");
    std::fs::write(&config, "[library]\nroot = \"~/Music\"\n").unwrap();
    let out = tapedeck(home.path())
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tapedeck.toml:2:8: library.root: music directory ~/Music does not exist"),
        "{err}"
    );
    assert!(
        !home.path().join(".cache/tapedeck/demo-library").exists(),
        "no demo library stands in for a directory that was asked for"
    );
}
