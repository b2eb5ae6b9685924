//! The `tapedeck` binary: config subcommands, errors at start, and a clean
//! stop on SIGTERM/SIGINT.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary (see [`common::binary`]) with HOME and XDG dirs pointed into
/// `home`, so a developer's own config or music never leaks into a test.
use common::binary_at_home as tapedeck;

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run tapedeck")
}

#[test]
fn help_and_version() {
    let home = tempfile::tempdir().unwrap();
    let out = run(tapedeck(home.path()).arg("--version"));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tapedeck {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(tapedeck(home.path()).arg("--help"));
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve", "config", "--music", "--cache", "--listen", "--config",
    ] {
        assert!(help.contains(word), "--help mentions {word}");
    }
}

#[test]
fn config_check_reports_file_line_and_fails() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("bad.toml");
    std::fs::write(&file, "[cache]\n# budget\nmax_size = \"12 parsecs\"\n").unwrap();
    let out = run(tapedeck(home.path()).args(["config", "check"]).arg(&file));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:12: cache.max_size", file.display())),
        "{err}"
    );
    assert!(err.contains("is not a size"), "{err}");
}

#[test]
fn printed_default_config_passes_config_check() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("Music")).unwrap();
    let out = run(tapedeck(home.path()).args(["config", "default"]));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("root = \"~/Music\""), "{text}");
    let file = home.path().join("default.toml");
    std::fs::write(&file, &text).unwrap();
    let out = run(tapedeck(home.path()).args(["config", "check"]).arg(&file));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn missing_music_directory_stops_start_with_a_clear_error() {
    // Given: a missing default is served as the demo library (tests/demo.rs).
    let home = tempfile::tempdir().unwrap();
    let music = home.path().join("Music");
    let out = run(tapedeck(home.path())
        .args(["--listen", "127.0.0.1:0", "--music"])
        .arg(music));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("music directory ~/Music does not exist"),
        "{err}"
    );
}

#[test]
fn cache_commands_do_not_need_the_music_directory() {
    // Regression (issue 13): `tapedeck cache stats --cache DIR` failed with
    // "music directory ~/Music does not exist" although it never reads it.
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("some-cache");
    for args in [
        &["cache", "stats"][..],
        &["cache", "verify"],
        &["cache", "clear"],
    ] {
        let out = run(tapedeck(home.path()).args(args).arg("--cache").arg(&cache));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(!err.contains("does not exist"), "{err}");
    }
    let out = run(tapedeck(home.path())
        .args(["cache", "stats", "--cache"])
        .arg(&cache));
    assert!(String::from_utf8_lossy(&out.stdout).contains("entries: 0"));
}

/// Starts `tapedeck serve` on a free port; returns the child and its address.
fn start_server(home: &std::path::Path) -> (Child, SocketAddr) {
    start_server_logging_to(home, Stdio::null())
}

/// [`start_server`] with its log (stderr) going to `log`.
fn start_server_logging_to(home: &std::path::Path, log: Stdio) -> (Child, SocketAddr) {
    let music = home.join("Music");
    std::fs::create_dir_all(&music).unwrap();
    std::fs::File::create(music.join("big.flac"))
        .unwrap()
        .set_len(64 * 1024 * 1024)
        .unwrap();
    let mut child = tapedeck(home)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its URL").unwrap();
        if let Some(rest) = line.trim().strip_prefix("open http://") {
            let addr = rest.split('/').next().unwrap();
            break addr.parse::<SocketAddr>().unwrap();
        }
    };
    (child, addr)
}

/// The child's exit status once it has exited, polled for up to
/// `within`; `None` (and the child killed) if it is still running then.
fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let mut status = None;
    common::eventually(within, Duration::from_millis(10), || {
        status = child.try_wait().expect("wait for the child");
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
    }
    status
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0);
}

#[test]
fn sigterm_stops_the_server_within_a_second_even_mid_download() {
    let home = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_server(home.path());
    // A download nobody reads on keeps a handler busy writing: read
    // until its first body bytes are in, so it has surely started.
    let mut stalled = TcpStream::connect(addr).unwrap();
    write!(stalled, "GET /play/big.flac HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let body_started = |got: &[u8]| {
        got.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .is_some_and(|end| got.len() > end + 4)
    };
    while !body_started(&got) {
        let n = std::io::Read::read(&mut stalled, &mut buf).expect("the download starts");
        assert!(
            n > 0,
            "closed before the body: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(1)).expect("exited within 1 s");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigint_stops_an_idle_server_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let (mut child, _) = start_server(home.path());
    signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child, Duration::from_secs(1)).expect("exited within 1 s");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_writes_out_the_log_lines_still_buffered() {
    // The log holds info lines for up to a second before writing them; a
    // server stopped within that second must not lose its last requests.
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("log");
    let file = std::fs::File::create(&log).unwrap();
    let (mut child, addr) = start_server_logging_to(home.path(), file.into());
    let mut c = TcpStream::connect(addr).unwrap();
    write!(
        c,
        "GET /api/version HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    std::io::Read::read_to_end(&mut c, &mut reply).unwrap();
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("exited");
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("[INFO] 127.0.0.1 GET /api/version 200 "),
        "{text}"
    );
    assert!(text.ends_with("[INFO] stopped\n"), "{text}");
}
