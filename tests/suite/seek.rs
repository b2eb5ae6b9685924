//! Seeking in a track never played before, and first plays that never
//! stall (issue 16): segments encoded out of order into their place, the
//! first play byte for byte the cached file, short sources filled with
//! silence to their announced length, a failed cache write turned into an
//! uncached stream, and a killed server leaving nothing served as
//! complete.

use crate::common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{ChildServer, TestServer, decode_bytes, files_ending, write_music_wav};
use tapedeck::transcode::Layout;

fn fixture(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn config(workers: usize) -> String {
    format!("[transcode]\nworkers = {workers}\n[warm]\nprefetch_next = false\n")
}

fn entries(s: &TestServer) -> Vec<std::path::PathBuf> {
    files_ending(&s.outer.path().join("cache"), ".mp3")
}

/// The total length a response announces (Content-Range or
/// Content-Length).
fn total_len(r: &common::Resp) -> u64 {
    match r.header("content-range") {
        Some(v) => v.rsplit('/').next().unwrap().parse().unwrap(),
        None => r.header("content-length").unwrap().parse().unwrap(),
    }
}

#[test]
fn a_first_play_is_the_cached_file_byte_for_byte_with_its_info_frame_from_the_first_byte() {
    let s = TestServer::start(&config(2), |root| {
        write_music_wav(&root.join("song.wav"), 44_100, 2, 44_100 * 20);
    });
    // Held until the play waits for its first segment: it is streamed
    // from the transcode, not served from an entry LAME finished first.
    let hold = common::hold_workers(&s);
    let r = std::thread::scope(|scope| {
        let play = scope.spawn(|| s.get("/play/song.wav?quality=medium", &[]));
        common::wait_for("the play to wait for a segment", || {
            common::reader_waits(&hold, "song.wav")
        });
        assert!(entries(&s).is_empty());
        drop(hold);
        play.join().unwrap()
    });
    assert_eq!(r.status, 200);
    assert!(r.header("etag").is_none(), "streamed, not from an entry");
    assert_eq!(total_len(&r), r.body.len() as u64);
    // The Info frame is complete in what was streamed: the layout reads
    // back from the streamed bytes, and a decoder gets the exact length.
    let layout = Layout::of_file(&r.body, r.body.len() as u64).expect("an Info frame");
    assert_eq!(layout.samples, 44_100 * 20);
    assert_eq!(decode_bytes(&r.body), (44_100, 2, 44_100 * 20));
    common::wait_for("the entry", || !entries(&s).is_empty());
    let cached = fs::read(&entries(&s)[0]).unwrap();
    assert!(
        cached == r.body,
        "the first play differs from the cached file"
    );
    tapedeck::mp3::check_file(&entries(&s)[0]).unwrap();
}

#[test]
fn a_range_at_90_percent_of_an_uncached_track_is_answered_before_the_encoder_gets_there() {
    // One worker: the seek cannot be helped by a second one; the segment
    // holding the bytes is encoded out of turn.
    let s = TestServer::start(&config(1), |root| {
        write_music_wav(&root.join("long.wav"), 44_100, 2, 44_100 * 60);
    });
    let path = "/play/long.wav?quality=medium";
    // Held: the job is planned (the head and the length are known), and
    // the worker encodes only what the seek waits for.
    let hold = common::hold_workers(&s);
    let head = s.get(path, &[("Range", "bytes=0-0")]);
    assert_eq!(head.status, 206);
    let total = total_len(&head);
    let at = total * 9 / 10;
    let range = format!("bytes={at}-{}", at + 99_999);
    let r = common::get_held(&s, &hold, "long.wav", path, &range);
    assert_eq!(r.status, 206);
    assert_eq!(r.body.len(), 100_000);
    // Answered while the track is far from encoded: of its 16 segments,
    // only those the seek read (and the one read ahead) are written, all
    // in the last fifth.
    let progress = hold.progress("long.wav").expect("the job goes on");
    assert_eq!(progress.segments, 16);
    assert!(
        !progress.done.is_empty() && progress.done.iter().all(|&k| k >= 13),
        "{progress:?}"
    );
    assert!(entries(&s).is_empty());
    drop(hold);
    // And the bytes are the cached file's.
    common::wait_for("the entry", || !entries(&s).is_empty());
    let cached = fs::read(&entries(&s)[0]).unwrap();
    assert_eq!(cached.len() as u64, total);
    assert!(cached[at as usize..at as usize + 100_000] == r.body[..]);
}

#[test]
fn a_seek_into_a_track_being_encoded_by_two_workers_gets_the_same_bytes() {
    let s = TestServer::start(&config(2), |root| {
        write_music_wav(&root.join("a.wav"), 48_000, 2, 48_000 * 30);
    });
    let path = "/play/a.wav?quality=low";
    let hold = common::hold_workers(&s);
    let total = total_len(&s.get(path, &[("Range", "bytes=0-0")]));
    // Both workers on it: the first two segments in order, one each.
    common::wait_for("both workers on the job", || hold.waiting() == 2);
    hold.allow(2);
    common::wait_for("the first two segments", || {
        hold.waiting() == 2 && hold.progress("a.wav").is_some_and(|p| p.done == [0, 1])
    });
    let mut parts = Vec::new();
    for pct in [50u64, 10, 95, 70] {
        let at = total * pct / 100;
        let range = format!("bytes={at}-{}", at + 4999);
        let r = common::get_held(&s, &hold, "a.wav", path, &range);
        assert_eq!(r.status, 206);
        parts.push((at as usize, r.body));
    }
    // Every seek was answered while the track was being encoded.
    assert!(entries(&s).is_empty());
    drop(hold);
    common::wait_for("the entry", || !entries(&s).is_empty());
    let cached = fs::read(&entries(&s)[0]).unwrap();
    for (at, body) in parts {
        assert!(cached[at..at + 5000] == body[..], "bytes at {at}");
    }
}

/// `flac` with an APPLICATION metadata block (RFC 9639 §8.4) after its
/// STREAMINFO.
fn with_application_block(flac: &[u8]) -> Vec<u8> {
    let streaminfo_end = 4 + 4 + 34;
    let mut out = flac[..streaminfo_end].to_vec();
    let was_last = out[4] & 0x80 != 0;
    out[4] &= 0x7f;
    let data = b"tpdkan application block of a tagging tool";
    out.push(if was_last { 0x82 } else { 0x02 });
    out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(data);
    out.extend_from_slice(&flac[streaminfo_end..]);
    out
}

/// `flac` whose STREAMINFO says it holds `num / den` times its samples.
fn with_streaminfo_scaled(flac: &[u8], num: u64, den: u64) -> Vec<u8> {
    let mut out = flac.to_vec();
    let field = u64::from_be_bytes(out[18..26].try_into().unwrap());
    let samples = field & ((1 << 36) - 1);
    let field = (field & !((1 << 36) - 1)) | (samples * num / den);
    out[18..26].copy_from_slice(&field.to_be_bytes());
    out
}

/// `m4a` (ftyp, free, mdat, moov) rewritten with its moov first, as
/// `ffmpeg -movflags +faststart` does: the chunk offsets of every `stco`
/// box move by the moov's size.
fn faststart(m4a: &[u8]) -> Vec<u8> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= m4a.len() {
        let len = u32::from_be_bytes(m4a[at..at + 4].try_into().unwrap()) as usize;
        boxes.push((&m4a[at + 4..at + 8], &m4a[at..at + len]));
        at += len;
    }
    let find = |name: &[u8]| boxes.iter().find(|(n, _)| *n == name).unwrap().1;
    let mut moov = find(b"moov").to_vec();
    let shift = moov.len() as u32;
    let mut i = 0;
    while let Some(p) = moov[i..].windows(4).position(|w| w == b"stco") {
        let at = i + p + 4 + 4; // past the name, version and flags
        let count = u32::from_be_bytes(moov[at..at + 4].try_into().unwrap()) as usize;
        for e in 0..count {
            let o = at + 4 + 4 * e;
            let v = u32::from_be_bytes(moov[o..o + 4].try_into().unwrap()) + shift;
            moov[o..o + 4].copy_from_slice(&v.to_be_bytes());
        }
        i = at;
    }
    let mut out = find(b"ftyp").to_vec();
    out.extend_from_slice(&moov);
    out.extend_from_slice(find(b"free"));
    out.extend_from_slice(find(b"mdat"));
    out
}

#[test]
fn short_and_damaged_sources_deliver_every_announced_byte_at_once() {
    let flac = fixture("flac16_44k.flac");
    let m4a = fixture("alac.m4a");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("application.flac", with_application_block(&flac)),
        ("truncated.flac", flac[..flac.len() * 6 / 10].to_vec()),
        ("longer-header.flac", with_streaminfo_scaled(&flac, 3, 1)),
        ("shorter-header.flac", with_streaminfo_scaled(&flac, 1, 2)),
    ];
    let s = TestServer::start(&config(2), |root| {
        for (name, bytes) in &cases {
            fs::write(root.join(name), bytes).unwrap();
        }
    });
    for (name, _) in &cases {
        let started = std::time::Instant::now();
        let r = s.get(&format!("/play/{name}?quality=medium"), &[]);
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str()),
            "{name}: every announced byte"
        );
        // Far below the 60 s a reader waits for an encoder: nothing stalls.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name}: {:?}",
            started.elapsed()
        );
        let layout = Layout::of_file(&r.body, r.body.len() as u64)
            .unwrap_or_else(|| panic!("{name}: not a transcode"));
        assert_eq!(decode_bytes(&r.body).2, layout.samples, "{name}");
    }
    // A truncated MP4 cannot be transcoded at all, with its moov at the end
    // (cut off) or at the front (symphonia reads no packet from a cut
    // mdat): found before anything is announced, so the original goes
    // out, whole and at once.
    let fast = faststart(&m4a);
    for (name, cut) in [
        ("cut-moov.m4a", &m4a[..m4a.len() * 7 / 10]),
        ("cut-mdat.m4a", &fast[..fast.len() * 7 / 10]),
    ] {
        fs::write(s.root().join(name), cut).unwrap();
        let r = s.get(&format!("/play/{name}?quality=medium"), &[]);
        assert_eq!((r.status, &r.body[..]), (200, cut), "{name}");
    }
    // The STREAMINFO said three times the audio: the announced length won,
    // the rest is silence.
    let r = s.get("/play/longer-header.flac?quality=medium", &[]);
    let (_, _, samples) = decode_bytes(&r.body);
    assert_eq!(samples, 3 * 22_050);
    // It said half: the announced length wins, the rest is left out.
    let r = s.get("/play/shorter-header.flac?quality=medium", &[]);
    let (_, _, samples) = decode_bytes(&r.body);
    assert_eq!(samples, 22_050 / 2);
}

#[test]
fn a_seek_past_the_real_end_of_a_short_source_is_silence_not_a_failure() {
    // A WAV whose header says three times the audio it holds: a helper
    // worker seeking to 90 % finds no data there.
    let s = TestServer::start(&config(2), |root| {
        let path = root.join("short.wav");
        write_music_wav(&path, 44_100, 2, 44_100 * 20);
        let mut bytes = fs::read(&path).unwrap();
        let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap()) * 3;
        bytes[40..44].copy_from_slice(&data.to_le_bytes());
        bytes[4..8].copy_from_slice(&(data + 36).to_le_bytes());
        fs::write(&path, bytes).unwrap();
    });
    let path = "/play/short.wav?quality=medium";
    // Held: the segment at 90 % is encoded out of turn, by a worker that
    // seeks there, not reached in order.
    let hold = common::hold_workers(&s);
    let total = total_len(&s.get(path, &[("Range", "bytes=0-0")]));
    let at = total * 9 / 10;
    let r = common::get_held(
        &s,
        &hold,
        "short.wav",
        path,
        &format!("bytes={at}-{}", at + 9999),
    );
    assert_eq!((r.status, r.body.len()), (206, 10_000));
    let progress = hold.progress("short.wav").expect("the job goes on");
    assert!(!progress.done.contains(&0), "{progress:?}");
    drop(hold);
    let whole = s.get(path, &[]);
    assert_eq!(whole.body.len() as u64, total);
    assert_eq!(decode_bytes(&whole.body).2, 3 * 44_100 * 20);
    common::wait_for("the entry", || !entries(&s).is_empty());
    assert!(fs::read(&entries(&s)[0]).unwrap() == whole.body);
}

#[test]
fn a_failed_cache_write_becomes_an_uncached_stream_of_every_announced_byte() {
    // The server may write files of at most 400 KB (RLIMIT_FSIZE): the
    // transcode's .part fails part way, as on a full disk (EFBIG here,
    // ENOSPC there).
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("music")).unwrap();
    write_music_wav(&dir.path().join("music/long.wav"), 44_100, 2, 44_100 * 40);
    fs::write(dir.path().join("config.toml"), config(2)).unwrap();
    let log = fs::File::create(dir.path().join("log")).unwrap();
    let server = ChildServer::start_with(dir.path(), |c| {
        c.stderr(log);
        // SAFETY: setrlimit is async-signal-safe and only touches the child.
        unsafe {
            use std::os::unix::process::CommandExt;
            c.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 400_000,
                    rlim_max: 400_000,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let request =
        b"GET /play/long.wav?quality=medium HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let r = common::raw(server.addr, request);
    assert_eq!(r.status, 200);
    let announced: usize = r.header("content-length").unwrap().parse().unwrap();
    assert!(announced > 900_000, "{announced}");
    assert_eq!(r.body.len(), announced, "every announced byte");
    assert_eq!(decode_bytes(&r.body).2, 44_100 * 40);
    let cache = dir.path().join("cache");
    common::wait_for("the job to end", || {
        files_ending(&cache, ".part").is_empty()
    });
    assert!(files_ending(&cache, ".mp3").is_empty(), "no broken entry");
    drop(server);
    let log = fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(
        log.contains("not caching \"long.wav\"") && log.contains("streaming the rest from memory"),
        "{log}"
    );
}

#[test]
fn a_server_killed_mid_transcode_leaves_nothing_served_as_complete() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("music")).unwrap();
    write_music_wav(&dir.path().join("music/long.wav"), 44_100, 2, 44_100 * 120);
    fs::write(dir.path().join("config.toml"), config(1)).unwrap();
    let cache = dir.path().join("cache");
    let server = ChildServer::start(dir.path());
    let request =
        b"GET /play/long.wav?quality=medium HTTP/1.1\r\nHost: t\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n";
    // The head is written to the .part before the answer goes out.
    assert_eq!(common::raw(server.addr, request).status, 206);
    // Stopped at once, then killed: what is on disk is what a kill in the
    // middle of the transcode leaves, checked, not assumed (the worker
    // had a whole 120 s track to encode; no hold reaches a child).
    server.freeze();
    assert_eq!(files_ending(&cache, ".part").len(), 1, "mid-transcode");
    assert!(files_ending(&cache, ".mp3").is_empty(), "mid-transcode");
    server.kill();
    assert!(files_ending(&cache, ".mp3").is_empty());
    // Restarted: the half-filled .part is gone, and the track is
    // transcoded afresh, whole.
    let server = ChildServer::start(dir.path());
    assert!(files_ending(&cache, ".part").is_empty(), "removed at start");
    let whole =
        b"GET /play/long.wav?quality=medium HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let r = common::raw(server.addr, whole);
    assert_eq!(decode_bytes(&r.body).2, 44_100 * 120);
    common::wait_for("the entry", || !files_ending(&cache, ".mp3").is_empty());
    let entry = &files_ending(&cache, ".mp3")[0];
    assert!(fs::read(entry).unwrap() == r.body);
    tapedeck::mp3::check_file(entry).unwrap();
}
