//! Listening state kept safe: what a client was told is saved survives a
//! `kill -9` (20 times over), a truncated or garbage store is moved aside
//! and the server starts fresh, concurrent scrobbles lose no count, and
//! two clients editing one playlist both land. The calls themselves are
//! tested in tests/subsonic.rs.

use crate::common;

use std::path::Path;

use common::subsonic_api::{call_at, creds, ok_at};
use common::subsonic_library::{USERS, library};
use common::{ChildServer, TestServer};
use tapedeck::ids::Id;
use tapedeck::library::RelPath;

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("music")).unwrap();
    library(&dir.path().join("music"));
    std::fs::write(dir.path().join("config.toml"), USERS).unwrap();
    dir
}

fn song(path: &str) -> String {
    Id::Song(RelPath::new(path).unwrap()).encode()
}

const DAWN: &str = "Zoë/First Light/01 Dawn.wav";
const NOON: &str = "Zoë/First Light/03 Noon.wav";

#[test]
fn what_was_acknowledged_survives_kill_9() {
    let dir = setup();
    let anna = creds("anna", "open sesame");
    let (dawn, noon) = (song(DAWN), song(NOON));
    let album = Id::Album(RelPath::new("Zoë/First Light").unwrap()).encode();
    for round in 0..20u32 {
        let p = ChildServer::start(dir.path());
        ok_at(p.addr, &anna, "scrobble", &[("id", &dawn)]);
        let (star, unstar) = if round % 2 == 0 {
            ("star", "unstar")
        } else {
            ("unstar", "star")
        };
        ok_at(p.addr, &anna, star, &[("id", &noon)]);
        ok_at(p.addr, &anna, unstar, &[("albumId", &album)]);
        let position = (round * 1000).to_string();
        ok_at(
            p.addr,
            &anna,
            "savePlayQueue",
            &[
                ("id", &dawn),
                ("id", &noon),
                ("current", &noon),
                ("position", &position),
            ],
        );
        // Killed right after the last answer.
        p.kill();
    }
    let p = ChildServer::start(dir.path());
    let v = ok_at(p.addr, &anna, "getSong", &[("id", &dawn)]);
    assert_eq!(v["song"]["playCount"], 20, "every scrobble of 20 runs");
    // Albums are known once the first library scan is done, as a client
    // sees from getScanStatus.
    common::wait_for("the first scan", || {
        let s = &ok_at(p.addr, &anna, "getScanStatus", &[])["scanStatus"];
        s["scanning"] == false && s["count"].as_u64() > Some(0)
    });
    // Round 19 (odd) unstarred Noon and starred the album.
    let v = ok_at(p.addr, &anna, "getStarred2", &[]);
    assert_eq!(v["starred2"]["song"], serde_json::json!([]));
    assert_eq!(v["starred2"]["album"][0]["id"], album);
    let q = &ok_at(p.addr, &anna, "getPlayQueue", &[])["playQueue"];
    assert_eq!(
        (q["current"].as_str(), q["position"].as_u64()),
        (Some(noon.as_str()), Some(19_000))
    );
}

#[test]
fn a_broken_store_is_moved_aside_and_the_server_starts_fresh() {
    let dir = setup();
    let anna = creds("anna", "open sesame");
    let dawn = song(DAWN);
    let p = ChildServer::start(dir.path());
    ok_at(p.addr, &anna, "scrobble", &[("id", &dawn)]);
    p.kill();
    let data = dir.path().join("state/listening/data.mdb");
    let broken = |dir: &Path| {
        std::fs::read_dir(dir.join("state"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("listening.broken-")
            })
            .count()
    };
    // Truncated (as a full disk or a bad copy leaves it), then garbage.
    for (n, damage) in ["truncate", "garbage"].iter().enumerate() {
        let len = std::fs::metadata(&data).unwrap().len();
        match *damage {
            "truncate" => std::fs::File::options()
                .write(true)
                .open(&data)
                .unwrap()
                .set_len(len / 3)
                .unwrap(),
            _ => std::fs::write(&data, vec![0xa5u8; 40_000]).unwrap(),
        }
        let p = ChildServer::start(dir.path());
        let v = ok_at(p.addr, &anna, "getSong", &[("id", &dawn)]);
        assert!(v["song"]["playCount"].is_null(), "{damage}: a fresh store");
        // And it works.
        ok_at(p.addr, &anna, "scrobble", &[("id", &dawn)]);
        assert_eq!(
            ok_at(p.addr, &anna, "getSong", &[("id", &dawn)])["song"]["playCount"],
            1
        );
        p.kill();
        assert_eq!(
            broken(dir.path()),
            n + 1,
            "{damage}: the old store is kept aside"
        );
    }
}

#[test]
fn concurrent_scrobbles_lose_no_count() {
    let s = TestServer::start(USERS, library);
    let anna = creds("anna", "open sesame");
    let dawn = song(DAWN);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..25 {
                    ok_at(&s, &anna, "scrobble", &[("id", &dawn)]);
                }
            });
        }
    });
    let v = ok_at(&s, &anna, "getSong", &[("id", &dawn)]);
    assert_eq!(v["song"]["playCount"], 200);
}

#[test]
fn two_clients_editing_one_playlist_both_land() {
    let s = TestServer::start(USERS, library);
    let anna = creds("anna", "open sesame");
    let v = ok_at(&s, &anna, "createPlaylist", &[("name", "Shared")]);
    let id = v["playlist"]["id"].as_str().unwrap().to_owned();
    let songs = [song(DAWN), song(NOON)];
    std::thread::scope(|scope| {
        for which in &songs {
            let (id, anna, s) = (&id, &anna, &s);
            scope.spawn(move || {
                for _ in 0..20 {
                    ok_at(
                        s.addr,
                        anna,
                        "updatePlaylist",
                        &[("playlistId", id), ("songIdToAdd", which)],
                    );
                }
            });
        }
    });
    let v = ok_at(&s, &anna, "getPlaylist", &[("id", &id)]);
    let entries = v["playlist"]["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 40, "no edit lost");
    for which in &songs {
        assert_eq!(entries.iter().filter(|e| e["id"] == *which).count(), 20);
    }
    // Another user does not see a private playlist in their list.
    let root = creds("root", "rootpw");
    let v = call_at(&s, &root, "getPlaylists", &[]);
    assert!(
        v["playlists"]["playlist"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != id.as_str())
    );
}
