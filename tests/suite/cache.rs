//! The transcode cache behind `/play?quality=`: streaming a miss with its
//! exact length, Range into a transcode in progress, dedupe, the hard
//! budget and LRU eviction, restarts, failures, admin access and nice.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::{
    TestServer, admin_stats, decode_bytes, dir_bytes, n, wait_for, without_prefetch, write_wav,
};
use tapedeck::cache::{Cache, Key, KeyParts};
use tapedeck::quality::Quality;
use tapedeck::transcode::Options;
use tapedeck::workers::{JobSpec, Priority, Settings, Workers};

const RATE: u32 = 44_100;

fn assert_within_padding(decoded: u64, source: u64) {
    assert!(
        (source..=source + 3 * 1152).contains(&decoded),
        "{decoded} frames decoded for {source}"
    );
}

#[test]
fn first_play_streams_with_exact_length_and_second_play_is_a_hit() {
    let s = TestServer::start(&without_prefetch(""), |root| {
        std::fs::create_dir(root.join("A")).unwrap();
        write_wav(&root.join("A/01 one.wav"), RATE, 2, RATE * 5, 1);
    });
    // Held until the play waits for a segment: it streams from the
    // transcode, however fast LAME is.
    let hold = common::hold_workers(&s);
    let first = std::thread::scope(|scope| {
        let play = scope.spawn(|| s.get("/play/A/01%20one.wav?quality=medium", &[]));
        wait_for("the play to wait for a segment", || {
            common::reader_waits(&hold, "A/01 one.wav")
        });
        drop(hold);
        play.join().unwrap()
    });
    assert_eq!(first.status, 200);
    assert!(
        first.header("etag").is_none(),
        "streamed, not from an entry"
    );
    assert_eq!(first.header("content-type"), Some("audio/mpeg"));
    assert_eq!(first.header("accept-ranges"), Some("bytes"));
    let len: usize = first.header("content-length").unwrap().parse().unwrap();
    assert_eq!(first.body.len(), len, "predicted length = bytes delivered");
    assert!(
        first
            .header("content-disposition")
            .unwrap()
            .contains("01%20one.mp3")
    );
    wait_for("the transcode to be cached", || {
        n(&admin_stats(&s), "cached_files") == 1
    });
    let second = s.get("/play/A/01%20one.wav?quality=medium", &[]);
    assert_eq!(second.status, 200);
    assert!(
        second.header("etag").is_some(),
        "a hit is served like a file"
    );
    assert_eq!(second.body.len(), len);
    let st = admin_stats(&s);
    assert_eq!((n(&st, "hits"), n(&st, "misses")), (1, 1));
    assert_eq!(n(&st, "transcodes_done"), 1);
    // The cached entry decodes to the source's exact length. The first
    // play carries LAME's placeholder Info frame (the real one is written
    // when the encode ends), so it decodes with the codec delay and padding:
    // at most three frames more.
    assert_eq!(decode_bytes(&second.body), (RATE, 2, u64::from(RATE * 5)));
    assert_within_padding(decode_bytes(&first.body).2, u64::from(RATE * 5));
    // A 304 for the cached entry.
    let etag = second.header("etag").unwrap().to_owned();
    let again = s.get(
        "/play/A/01%20one.wav?quality=medium",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    // The original is still there at quality=original.
    let orig = s.get("/play/A/01%20one.wav?quality=original", &[]);
    assert_eq!(orig.header("content-type"), Some("audio/wav"));
}

#[test]
fn range_into_a_transcode_in_progress_gets_the_right_bytes() {
    let s = TestServer::start(&without_prefetch(""), |root| {
        write_wav(&root.join("long.wav"), RATE, 2, RATE * 40, 2);
    });
    // Held, going on only for what the Range waits for: it is answered
    // while the transcode is in progress.
    let hold = common::hold_workers(&s);
    let part = common::get_held(
        &s,
        &hold,
        "long.wav",
        "/play/long.wav?quality=high",
        "bytes=1000000-1000999",
    );
    assert!(
        hold.progress("long.wav")
            .is_some_and(|p| !p.done.contains(&0)),
        "in progress, the start not encoded"
    );
    drop(hold);
    assert_eq!(part.status, 206);
    let cr = part.header("content-range").unwrap().to_owned();
    assert!(cr.starts_with("bytes 1000000-1000999/"), "{cr}");
    assert_eq!(part.body.len(), 1000);
    wait_for("the transcode to be cached", || {
        n(&admin_stats(&s), "cached_files") == 1
    });
    let whole = s.get("/play/long.wav?quality=high", &[]);
    let total: usize = cr.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(whole.body.len(), total, "announced length = final length");
    assert_eq!(&whole.body[1_000_000..1_001_000], &part.body[..]);
    // Past the end: 416 with the predicted length.
    let s2 = TestServer::start(&without_prefetch(""), |root| {
        write_wav(&root.join("b.wav"), RATE, 2, RATE * 2, 3);
    });
    let r = s2.get("/play/b.wav?quality=low", &[("Range", "bytes=99999999-")]);
    assert_eq!(r.status, 416);
    assert!(r.header("content-range").unwrap().starts_with("bytes */"));
}

#[test]
fn concurrent_requests_for_one_missing_entry_make_one_transcode_and_identical_bodies() {
    let s = Arc::new(TestServer::start(&without_prefetch(""), |root| {
        write_wav(&root.join("same.wav"), RATE, 2, RATE * 20, 4);
    }));
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || s.get("/play/same.wav?quality=medium", &[]))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| {
            let r = h.join().unwrap();
            assert_eq!(r.status, 200);
            r.body
        })
        .collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "identical bodies");
    wait_for("the job to finish", || {
        n(&admin_stats(&s), "cached_files") == 1
    });
    assert_eq!(n(&admin_stats(&s), "transcodes_done"), 1);
}

#[test]
fn the_budget_is_never_exceeded_and_eviction_is_least_recently_used() {
    // Each 20 s track at 128 kbit/s is about 320 KB; 1 MiB holds three.
    let s = TestServer::start(
        &without_prefetch("[cache]\nmax_size = \"1 MiB\"\n"),
        |root| {
            for i in 0..6 {
                write_wav(&root.join(format!("t{i}.wav")), RATE, 2, RATE * 20, 10 + i);
            }
        },
    );
    let cache = s.outer.path().join("cache");
    let budget = 1 << 20;
    for i in 0..3 {
        let r = s.get(&format!("/play/t{i}.wav?quality=low"), &[]);
        assert_eq!(r.status, 200);
        wait_for("cached", || n(&admin_stats(&s), "cached_files") == i + 1);
        assert!(
            dir_bytes(&cache) <= budget,
            "{} > {budget}",
            dir_bytes(&cache)
        );
    }
    // Play t0 again: now t1 is the least recently used (the cache orders
    // uses by a counter, not the clock, so no pause is needed between).
    assert!(
        s.get("/play/t0.wav?quality=low", &[])
            .header("etag")
            .is_some()
    );
    for i in 3..6 {
        s.get(&format!("/play/t{i}.wav?quality=low"), &[]);
        wait_for("done", || n(&admin_stats(&s), "transcodes_done") == i + 1);
        assert!(
            dir_bytes(&cache) <= budget,
            "{} > {budget}",
            dir_bytes(&cache)
        );
        // While we are at it, the stats agree with the disk.
        assert_eq!(n(&admin_stats(&s), "cache_size_bytes"), dir_bytes(&cache));
    }
    let st = admin_stats(&s);
    assert!(n(&st, "evictions") >= 3, "{st}");
    // t1 went first, before t0 (used again later).
    let r = s.get("/play/t1.wav?quality=low", &[]);
    assert!(r.header("etag").is_none(), "t1 was evicted");
}

#[test]
fn concurrent_misses_through_a_small_budget_never_exceed_it() {
    // 8 tracks of 8 s at 192 kbit/s (about 190 KB each) through 1 MiB.
    let s = Arc::new(TestServer::start(
        &without_prefetch("[cache]\nmax_size = \"1 MiB\"\n"),
        |root| {
            for i in 0..8 {
                write_wav(&root.join(format!("c{i}.wav")), RATE, 2, RATE * 8, 20 + i);
            }
        },
    ));
    let cache = s.outer.path().join("cache");
    let watcher = {
        let cache = cache.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let h = std::thread::spawn(move || {
            let mut max = 0;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(dir_bytes(&cache));
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            max
        });
        (stop, h)
    };
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || s.get(&format!("/play/c{i}.wav?quality=medium"), &[]).status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    wait_for("all done", || {
        let st = admin_stats(&s);
        n(&st, "transcodes_done") == 8 && n(&st, "transcodes_running") == 0
    });
    watcher.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let max = watcher.1.join().unwrap();
    assert!(max <= 1 << 20, "cache directory reached {max} bytes");
}

#[test]
fn an_entry_larger_than_the_budget_streams_without_caching() {
    // 50 s at 192 kbit/s is about 1.2 MB: more than the whole budget.
    let s = TestServer::start(
        &without_prefetch("[cache]\nmax_size = \"1 MiB\"\n"),
        |root| {
            write_wav(&root.join("big.wav"), RATE, 2, RATE * 50, 5);
        },
    );
    let r = s.get("/play/big.wav?quality=medium", &[]);
    assert_eq!(r.status, 200);
    let len: usize = r.header("content-length").unwrap().parse().unwrap();
    assert_eq!(r.body.len(), len);
    assert_eq!(decode_bytes(&r.body).0, RATE);
    wait_for("done", || n(&admin_stats(&s), "transcodes_done") == 1);
    assert_eq!(n(&admin_stats(&s), "cached_files"), 0);
    assert_eq!(dir_bytes(&s.outer.path().join("cache")), 0);
}

#[test]
fn leftover_part_files_are_removed_at_start_and_never_served() {
    let outer_part = std::sync::Mutex::new(None);
    let s = TestServer::start(&without_prefetch(""), |root| {
        write_wav(&root.join("x.wav"), RATE, 2, RATE, 6);
        let cache = root.parent().unwrap().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let part = cache.join(format!("{}.part", "ab".repeat(32)));
        std::fs::write(&part, b"half an entry").unwrap();
        *outer_part.lock().unwrap() = Some(part);
    });
    let part = outer_part.lock().unwrap().clone().unwrap();
    assert!(!part.exists(), "leftover .part removed at start");
    assert_eq!(s.get("/play/x.wav?quality=low", &[]).status, 200);
}

#[test]
fn a_changed_source_is_transcoded_again() {
    let s = TestServer::start(&without_prefetch(""), |root| {
        write_wav(&root.join("x.wav"), RATE, 2, RATE, 7);
    });
    let a = s.get("/play/x.wav?quality=low", &[]);
    wait_for("cached", || n(&admin_stats(&s), "cached_files") == 1);
    write_wav(&s.root().join("x.wav"), RATE, 2, RATE * 2, 8);
    let b = s.get("/play/x.wav?quality=low", &[]);
    assert_ne!(a.body.len(), b.body.len());
    assert_within_padding(decode_bytes(&b.body).2, u64::from(RATE * 2));
    wait_for("both done", || n(&admin_stats(&s), "transcodes_done") == 2);
    assert_eq!(n(&admin_stats(&s), "misses"), 2);
}

#[test]
fn a_failed_transcode_serves_the_original_and_is_not_retried() {
    let s = TestServer::start(&without_prefetch(""), |root| {
        std::fs::write(root.join("broken.flac"), vec![0x5a; 5000]).unwrap();
    });
    for _ in 0..3 {
        let r = s.get("/play/broken.flac?quality=medium", &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, vec![0x5a; 5000], "the original");
    }
    let st = admin_stats(&s);
    assert_eq!(n(&st, "transcodes_failed"), 1, "{st}");
    assert_eq!(n(&st, "cached_files"), 0);
}

#[test]
fn non_audio_and_small_mp3_play_as_they_are() {
    let s = TestServer::start(&without_prefetch(""), |root| {
        std::fs::write(root.join("notes.txt"), b"hello").unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flac16_44k.flac"),
            root.join("x.flac"),
        )
        .unwrap();
    });
    let r = s.get("/play/notes.txt?quality=low", &[]);
    assert_eq!(r.body, b"hello");
    assert_eq!(n(&admin_stats(&s), "misses"), 0, "no transcode tried");
}

#[test]
fn admin_needs_the_token_when_one_is_set() {
    let s = TestServer::start(
        &without_prefetch("[admin]\ntoken = \"0123456789abcdef\"\n"),
        |_| {},
    );
    let r = s.get("/admin/cache/stats", &[]);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let r = s.get(
        "/admin/cache/stats",
        &[("Authorization", "Bearer wrong-token-xxxxx")],
    );
    assert_eq!(r.status, 401);
    let r = s.get(
        "/admin/cache/stats",
        &[("Authorization", "Bearer 0123456789abcdef")],
    );
    assert_eq!(r.status, 200);
    for key in [
        "cache_size_bytes",
        "cache_size_mib",
        "cached_files",
        "cache_dir",
        "budget_bytes",
        "hits",
        "misses",
        "hit_rate",
        "evictions",
        "transcodes_done",
        "transcodes_failed",
        "transcodes_running",
        "queue_depth",
        "workers",
    ] {
        assert!(r.json().get(key).is_some(), "{key} missing");
    }
}

#[test]
fn clear_deletes_entries_and_reports_what_it_freed() {
    let s = TestServer::start(&without_prefetch(""), |root| {
        write_wav(&root.join("x.wav"), RATE, 2, RATE, 9);
    });
    s.get("/play/x.wav?quality=low", &[]);
    wait_for("cached", || n(&admin_stats(&s), "cached_files") == 1);
    let size = n(&admin_stats(&s), "cache_size_bytes");
    let r = s.send("POST", "/admin/cache/clear?older_than_days=1", &[]);
    assert_eq!(r.json()["deleted_files"], 0);
    let r = s.send("POST", "/admin/cache/clear", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["deleted_files"], 1);
    assert_eq!(n(&r.json(), "freed_bytes"), size);
    assert_eq!(n(&admin_stats(&s), "cached_files"), 0);
    assert_eq!(s.get("/admin/cache/clear", &[]).status, 405);
}

#[test]
fn worker_threads_run_at_the_configured_nice() {
    let _s = TestServer::start(
        &without_prefetch("[transcode]\nworkers = 2\nnice = 7\n"),
        |_| {},
    );
    // The workers set their nice as they start; give them a moment.
    wait_for("two niced workers", || {
        let mut niced = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let task = task.unwrap().path();
            let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            if !comm.starts_with("transcode-") {
                continue;
            }
            let stat = std::fs::read_to_string(task.join("stat")).unwrap_or_default();
            // Field 19 (nice) counting from 1, after the ")" that ends comm.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let nice: i32 = after.split(' ').nth(16).unwrap().parse().unwrap();
            if nice == 7 {
                niced += 1;
            }
        }
        niced >= 2
    });
}

#[test]
fn a_full_queue_answers_503_when_configured_so() {
    let s = Arc::new(TestServer::start(
        &without_prefetch("[transcode]\nworkers = 1\nmax_queue = 1\non_busy = \"503\"\n"),
        |root| {
            for i in 0..3 {
                write_wav(&root.join(format!("q{i}.wav")), RATE, 2, RATE * 30, 30 + i);
            }
        },
    ));
    let get = |i: u32| {
        let s = Arc::clone(&s);
        std::thread::spawn(move || {
            s.get(
                &format!("/play/q{i}.wav?quality=low"),
                &[("Range", "bytes=0-0")],
            )
            .status
        })
    };
    // Held: the first job keeps the only worker until released.
    let hold = common::hold_workers(&s);
    let first = get(0);
    assert_eq!(first.join().unwrap(), 206, "answered once planned");
    wait_for("the worker to stop in the first job", || {
        hold.waiting() == 1
    });
    let second = get(1);
    wait_for("the second job to wait", || {
        n(&admin_stats(&s), "queue_depth") == 1
    });
    let third = s.get("/play/q2.wav?quality=low", &[]);
    assert_eq!(third.status, 503);
    assert!(third.header("retry-after").is_some());
    drop(hold);
    assert_eq!(second.join().unwrap(), 206);
}

/// A worker set of one thread over `<dir>/cache`, with no grace for
/// abandoned jobs.
fn one_worker(dir: &Path, finish_abandoned: bool) -> Workers {
    let cache = Cache::open(&dir.join("cache"), 1 << 30).unwrap();
    Workers::start(
        cache,
        Settings {
            workers: 1,
            nice: 0,
            max_queue: 10,
            retry_failed_after: std::time::Duration::from_secs(60),
            finish_abandoned,
            abandon_grace: std::time::Duration::ZERO,
        },
    )
    .unwrap()
}

/// A low-quality job for the WAV at `path`, keyed by `name`.
fn job_spec(path: &Path, name: &str) -> JobSpec {
    let opts = Options {
        bitrate_kbps: 128,
        lame_algorithm: 3,
        max_art_bytes: 0,
    };
    JobSpec {
        key: Key::new(&KeyParts {
            relative: name,
            source_size: 0,
            source_mtime_ns: 0,
            quality: Quality::Low,
            bitrate_kbps: opts.bitrate_kbps,
            lame_algorithm: opts.lame_algorithm,
            max_art_bytes: opts.max_art_bytes,
        }),
        input: path.to_owned(),
        relative: name.to_owned(),
        opts,
        protect: None,
        cache: true,
    }
}

#[test]
fn interactive_jobs_run_before_background_ones() {
    let dir = tempfile::tempdir().unwrap();
    let workers = one_worker(dir.path(), true);
    let spec = |name: &str, seconds: u32| {
        let path = dir.path().join(name);
        write_wav(&path, RATE, 2, RATE * seconds, seconds);
        job_spec(&path, name)
    };
    // Occupy the only worker (held in it until every job is queued), then
    // queue background jobs before an interactive one.
    let hold = workers.hold();
    let blocker = workers
        .request(spec("blocker.wav", 60), Priority::Interactive)
        .unwrap();
    wait_for("the blocker to start", || hold.waiting() == 1);
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut waits = Vec::new();
    for (name, priority) in [
        ("bg1.wav", Priority::Background),
        ("bg2.wav", Priority::Background),
        ("fg.wav", Priority::Interactive),
    ] {
        let job = workers.request(spec(name, 2), priority).unwrap();
        let order = Arc::clone(&order);
        waits.push(std::thread::spawn(move || {
            job.wait_done();
            order.lock().unwrap().push(job.spec.relative.clone());
        }));
    }
    drop(hold);
    blocker.wait_done();
    for w in waits {
        w.join().unwrap();
    }
    assert_eq!(
        order.lock().unwrap()[0],
        "fg.wav",
        "{:?}",
        order.lock().unwrap()
    );
}

#[test]
fn an_abandoned_transcode_stops_when_configured_to_and_leaves_nothing() {
    use std::io::Read;
    use tapedeck::workers::{Availability, Outcome};

    let dir = tempfile::tempdir().unwrap();
    let workers = one_worker(dir.path(), false);
    let input = dir.path().join("long.wav");
    write_wav(&input, RATE, 2, RATE * 120, 40);
    // Held until its only reader has left: it cannot finish first.
    let hold = workers.hold();
    let job = workers
        .request(job_spec(&input, "long.wav"), Priority::Interactive)
        .unwrap();
    let Some(Availability::Streaming { .. }) =
        job.wait_available(std::time::Duration::from_secs(60))
    else {
        panic!("the job did not start streaming");
    };
    let mut reader = job.reader(0, 10, std::time::Duration::from_secs(60));
    let mut head = [0u8; 10];
    reader.read_exact(&mut head).unwrap();
    drop(reader);
    drop(hold);
    assert_eq!(job.wait_done(), Outcome::Cancelled);
    assert_eq!(
        workers
            .stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        dir_bytes(&dir.path().join("cache")),
        0,
        "no .part and no entry left"
    );
}
