//! The Subsonic API against its contract and against real client code,
//! both in Python (tests/subsonic/): every answer validated against the
//! Subsonic 1.16.1 XSD and the OpenSubsonic JSON schemas of its endpoint
//! (the specification's copy in ../shared/subsonic beside the repository,
//! or SUBSONIC_SPEC), a first connect by py-sonic and py-opensonic from
//! PyPI, and listening state saved through py-sonic surviving a kill -9.
//!
//! They need Python with tests/subsonic/requirements.txt, so they are
//! `#[ignore]`d under plain `cargo test`; `tests/run.sh` installs the
//! packages into target/pylib and runs them (or says why it skipped them).

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::subsonic_library::{USERS, library};
use common::{ChildServer, TestServer};

fn scanned_server() -> TestServer {
    let s = TestServer::start(USERS, library);
    common::wait_for("the library scan", || {
        let r = s.get("/rest/getScanStatus?u=anna&p=open%20sesame&f=json", &[]);
        let v = &r.json()["subsonic-response"]["scanStatus"];
        v["scanning"] == false && v["count"].as_u64() >= Some(8)
    });
    s
}

/// Runs `tests/subsonic/<script>` with `args`; its output on failure.
fn python(script: &str, args: &[&str]) {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/subsonic");
    let interpreter = std::env::var("TAPEDECK_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&interpreter)
        .arg(here.join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {interpreter}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "{script} failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs Python packages; tests/run.sh installs them and runs it"]
fn every_answer_validates_against_the_xsd_and_the_opensubsonic_schemas() {
    let s = scanned_server();
    python(
        "schemas.py",
        &[&format!("http://{}", s.addr), "anna", "open sesame"],
    );
}

#[test]
#[ignore = "needs Python packages; tests/run.sh installs them and runs it"]
fn py_sonic_and_py_opensonic_connect_browse_search_and_play() {
    let s = scanned_server();
    python(
        "clients.py",
        &[
            &format!("http://{}", s.addr),
            "anna",
            "open sesame",
            "anna-key-0123456789abcdef",
        ],
    );
}

#[test]
#[ignore = "needs Python packages; tests/run.sh installs them and runs it"]
fn listening_state_saved_by_py_sonic_survives_kill_9_and_shows_in_the_web_player() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("music")).unwrap();
    library(&dir.path().join("music"));
    std::fs::write(dir.path().join("config.toml"), USERS).unwrap();
    let base = |s: &ChildServer| format!("http://{}", s.addr);
    let s = ChildServer::start(dir.path());
    python("restart.py", &["before", &base(&s), "anna", "open sesame"]);
    s.kill();
    let s = ChildServer::start(dir.path());
    python("restart.py", &["after", &base(&s), "anna", "open sesame"]);
    // The web player records as the first user, anna: the same plays.
    let r = common::raw(
        s.addr,
        b"GET /api/listening HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let v = r.json();
    assert_eq!(v["user"], "anna");
    let recent: Vec<&str> = v["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    assert_eq!(recent.len(), 3, "{recent:?}");
    assert!(
        recent.iter().all(|p| p.starts_with("Zoë/First Light/")),
        "{recent:?}"
    );
}
