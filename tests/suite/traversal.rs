//! No request may reach a file outside the music root, and a refusal must
//! look exactly like a missing file: same status, same body, no root path.

use crate::common;

use std::io::{Read, Write};
use std::os::unix::fs::symlink;

use common::TestServer;

const SECRET: &[u8] = b"TOPSECRET-do-not-serve";

/// `<outer>/secret.txt` and `<outer>/private/key.txt` sit beside the root;
/// the root holds a track, a dotfile, a dot-directory and symlinks out.
fn planted(follow_symlinks: bool) -> TestServer {
    let cfg = format!("[library]\nfollow_symlinks = {follow_symlinks}\n");
    TestServer::start(&cfg, |root| {
        let outer = root.parent().unwrap();
        std::fs::write(outer.join("secret.txt"), SECRET).unwrap();
        std::fs::create_dir(outer.join("private")).unwrap();
        std::fs::write(outer.join("private/key.txt"), SECRET).unwrap();
        std::fs::create_dir(root.join("Album")).unwrap();
        std::fs::write(root.join("Album/01.flac"), b"fLaC-track").unwrap();
        std::fs::write(root.join(".hidden.flac"), SECRET).unwrap();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), SECRET).unwrap();
        symlink(outer.join("secret.txt"), root.join("link-file.txt")).unwrap();
        symlink(outer.join("private"), root.join("link-dir")).unwrap();
        symlink("../secret.txt", root.join("Album/relative-link.txt")).unwrap();
        symlink("/etc/passwd", root.join("passwd")).unwrap();
        symlink(root.join(".git"), root.join("git-link")).unwrap();
    })
}

fn attempts(s: &TestServer) -> Vec<String> {
    let outer = s.outer.path().to_str().unwrap().to_owned();
    let outer_enc = outer.replace('/', "%2f");
    let mut v: Vec<String> = [
        "/play/../secret.txt",
        "/play/../../secret.txt",
        "/play/Album/../../secret.txt",
        "/play/%2e%2e/secret.txt",
        "/play/%2E%2E/secret.txt",
        "/play/.%2e/secret.txt",
        "/play/%2e./secret.txt",
        "/play/..%2fsecret.txt",
        "/play/%2e%2e%2fsecret.txt",
        "/play/Album%2f..%2f..%2fsecret.txt",
        "/play/%252e%252e/secret.txt",
        "/play/%252e%252e%252fsecret.txt",
        "/play/%c0%ae%c0%ae/secret.txt",
        "/play/%c0%ae%c0%ae%c0%afsecret.txt",
        "/play/%e0%80%ae%e0%80%ae/secret.txt",
        "/play/..%c0%afsecret.txt",
        "/play/..%5csecret.txt",
        "/play/..\\secret.txt",
        "/play/%5c..%5csecret.txt",
        "/play/....//secret.txt",
        "/play/./../secret.txt",
        "/play/Album/./../../secret.txt",
        "/play//etc/passwd",
        "/play/%2fetc%2fpasswd",
        "/play/passwd",
        "/play/link-file.txt",
        "/play/link-dir/key.txt",
        "/play/Album/relative-link.txt",
        "/play/.hidden.flac",
        "/play/%2ehidden.flac",
        "/play/.git/config",
        "/play/git-link/config",
        "/play/secret.txt%00.flac",
        "/play/..%00/secret.txt",
        "/play/%00../secret.txt",
        "/play/..;/secret.txt",
        "/play/%u002e%u002e/secret.txt",
        "/../secret.txt",
        "/play/..",
        "/play/%2e%2e",
        "/play/Album/01.flac/../../secret.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Absolute paths to the planted secret, plain and encoded.
    v.push(format!("/play/{outer}/secret.txt"));
    v.push(format!("/play{outer}/secret.txt"));
    v.push(format!("/play/{outer_enc}%2fsecret.txt"));
    v
}

#[test]
fn traversal_attempts_never_reach_outside_the_root() {
    for follow in [true, false] {
        let s = planted(follow);
        let missing = s.get("/play/Album/does-not-exist.flac", &[]);
        assert_eq!(missing.status, 404);
        let list = attempts(&s);
        assert!(list.len() >= 30);
        let root = s.root().to_str().unwrap().to_owned();
        for path in &list {
            let r = s.get(path, &[]);
            assert_eq!(r.status, 404, "follow_symlinks={follow}: {path}");
            let body = String::from_utf8_lossy(&r.body);
            assert!(!body.contains("TOPSECRET"), "{path} leaked the secret");
            assert!(!body.contains(&root), "{path} leaked the root path");
            assert_eq!(
                r.body, missing.body,
                "{path}: a refusal must look like a missing file"
            );
            assert_eq!(r.stable_headers(), missing.stable_headers(), "{path}");
        }
        // The legitimate file next to all this is still served.
        assert_eq!(s.get("/play/Album/01.flac", &[]).body, b"fLaC-track");
    }
}

#[test]
fn symlink_inside_the_root_follows_only_when_allowed() {
    let make = |follow: bool| {
        TestServer::start(
            &format!("[library]\nfollow_symlinks = {follow}\n"),
            |root| {
                std::fs::create_dir(root.join("Album")).unwrap();
                std::fs::write(root.join("Album/01.flac"), b"fLaC").unwrap();
                symlink(root.join("Album"), root.join("Favourites")).unwrap();
            },
        )
    };
    assert_eq!(make(true).get("/play/Favourites/01.flac", &[]).status, 200);
    assert_eq!(make(false).get("/play/Favourites/01.flac", &[]).status, 404);
}

#[test]
fn non_utf8_and_raw_non_ascii_request_lines_are_refused() {
    let s = planted(true);
    // Invalid UTF-8 after decoding.
    assert_eq!(s.get("/play/%ff%fe.flac", &[]).status, 404);
    // Raw bytes above 0x7f in the request line are not HTTP: tiny_http
    // closes the connection without an answer.
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    c.write_all(b"GET /play/\xc3\xa9.flac HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(
        buf.is_empty() || buf.starts_with(b"HTTP/1.1 400") || buf.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
}
