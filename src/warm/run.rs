//! What the warm thread does with one job: list its tracks, then walk the
//! track × level pairs with at most one transcode per worker in flight,
//! counting each pair as it ends, and stop as `done` with `budget_full`
//! rather than evict what the job (or a recent play) put in the cache.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::job::{WarmJob, now_s};
use super::{CANCEL_POLL, RECENT_USE, Shared, reason};
use crate::cache::Protected;
use crate::catalog::{PlaylistError, is_audio};
use crate::library::{RelPath, ResolveError};
use crate::policy;
use crate::quality::Quality;
use crate::reports::{JobNote, JobState, TrackError};
use crate::workers::{JobSpec, Outcome, Priority, Refused};

/// One track to warm.
struct Track {
    relative: RelPath,
    duration_s: f64,
}

/// The request's tracks, each once, in the order they were first named.
#[derive(Default)]
struct TrackList {
    seen: HashSet<RelPath>,
    tracks: Vec<Track>,
}

impl TrackList {
    /// Adds `relative` unless it is already listed; an unknown duration
    /// counts as 0 s.
    fn add(&mut self, relative: RelPath, duration_s: Option<f64>) {
        if self.seen.insert(relative.clone()) {
            self.tracks.push(Track {
                relative,
                duration_s: duration_s.unwrap_or(0.0),
            });
        }
    }
}

/// Every track × level pair, level by level: the whole request is warmed
/// at the first level before any track at the next.
fn pairs<'a>(tracks: &'a [Track], qualities: &[Quality]) -> Vec<(&'a Track, Quality)> {
    qualities
        .iter()
        .flat_map(|&q| tracks.iter().map(move |t| (t, q)))
        .collect()
}

/// The transcodes a job has in flight: at most `size` (one per worker)
/// queued at once, queued in the pairs' order, and waited for in the
/// same order, so pairs are counted as they were listed.
struct Window<T> {
    /// Pairs in all.
    total: usize,
    /// The next pair to queue.
    next: usize,
    size: usize,
    in_flight: VecDeque<T>,
}

/// What the job does next ([`Window::step`]).
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Queue pair `n`.
    Queue(usize),
    /// Wait for the oldest transcode in flight to end.
    Wait,
    /// Nothing is left to queue or wait for, or the job must stop.
    Stop,
}

impl<T> Window<T> {
    fn new(total: usize, size: usize) -> Window<T> {
        Window {
            total,
            next: 0,
            size: size.max(1),
            in_flight: VecDeque::new(),
        }
    }

    /// The next step; `stop`: the job was cancelled or the budget is full.
    fn step(&mut self, stop: bool) -> Step {
        if stop || (self.next >= self.total && self.in_flight.is_empty()) {
            Step::Stop
        } else if self.next < self.total && self.in_flight.len() < self.size {
            self.next += 1;
            Step::Queue(self.next - 1)
        } else {
            Step::Wait
        }
    }
}

/// Bytes a budget-full job says it would have needed: what is `left` to
/// transcode beyond the `room` it may still take, and at least the
/// `short_bytes` the refused transcode lacked.
fn needed_bytes(left: u64, room: u64, short_bytes: u64) -> u64 {
    left.saturating_sub(room).max(short_bytes)
}

/// A pair still to do, for the budget estimate.
fn estimate_bytes(duration_s: f64, kbps: u32) -> u64 {
    // CBR frames plus the ID3 tag and Info frame.
    (duration_s * f64::from(kbps) * 125.0) as u64 + 4096
}

/// Lists the request's tracks, in order, each once. Entries that went
/// missing since the request was checked become errors.
fn list_tracks(shared: &Shared, job: &WarmJob) -> (Vec<Track>, Vec<TrackError>, u64) {
    let req = job.status().request;
    // The request was checked when it was submitted.
    let checked = |p: &String| RelPath::new(p.trim_matches('/'));
    let catalog = &shared.catalog;
    let mut tracks = TrackList::default();
    let mut errors = Vec::new();
    let mut missing = 0;
    for p in &req.paths {
        let relative = match checked(p) {
            Ok(r) => r,
            Err(e) => {
                errors.push(TrackError {
                    path: p.clone(),
                    error: reason(&e.into()),
                });
                continue;
            }
        };
        match catalog.library().resolve(&relative) {
            Ok(f) if is_audio(&f.relative) => {
                let info = catalog.track_info(&f.path, &f.relative, &f.metadata);
                tracks.add(f.relative, info.duration_s);
            }
            Ok(f) => errors.push(TrackError {
                path: f.relative.to_string(),
                error: "not an audio file".to_owned(),
            }),
            Err(ResolveError::NotFound) => match catalog.tracks_under(&relative) {
                Ok(list) => {
                    for t in list {
                        tracks.add(t.entry.relative, t.info.duration_s);
                    }
                }
                Err(e) => errors.push(TrackError {
                    path: p.clone(),
                    error: reason(&e),
                }),
            },
            Err(e) => errors.push(TrackError {
                path: p.clone(),
                error: reason(&e),
            }),
        }
    }
    for p in &req.playlists {
        let view = checked(p)
            .map_err(|e| PlaylistError::NotFound(e.into()))
            .and_then(|r| catalog.playlist(&r));
        match view {
            Ok(view) => {
                for entry in view.entries {
                    match entry.track {
                        Ok(t) => tracks.add(t.entry.relative, t.info.duration_s),
                        Err(_) => missing += 1,
                    }
                }
            }
            Err(e) => errors.push(TrackError {
                path: p.clone(),
                error: match e {
                    PlaylistError::NotFound(e) => reason(&e),
                    PlaylistError::TooLarge(n) => format!("{n} bytes is too large for a playlist"),
                    PlaylistError::Io { err, .. } => format!("cannot be read ({err})"),
                },
            }),
        }
    }
    (tracks.tracks, errors, missing)
}

/// A transcode this job queued and has not yet seen end.
struct InFlight {
    job: Arc<crate::workers::Job>,
    relative: RelPath,
    quality: Quality,
    duration_s: f64,
    source_bytes: u64,
}

pub(super) fn run(shared: &Shared, job: &WarmJob) {
    job.update(|st| {
        st.status.state = JobState::Running;
        st.status.started_at = Some(now_s());
    });
    let (tracks, errors, missing) = list_tracks(shared, job);
    let qualities = job.status().request.qualities;
    let pairs = pairs(&tracks, &qualities);
    let kbps = |q: Quality| {
        shared
            .config
            .transcode
            .bitrate_kbps
            .for_quality(q)
            .unwrap_or(0)
    };
    job.update(|st| {
        st.status.total = pairs.len() as u64 + missing;
        st.status.skipped = missing;
        st.status.failed = errors.len() as u64;
        st.status.errors = errors;
        st.audio_left_s = pairs.iter().map(|(t, _)| t.duration_s).sum();
        st.since = Some(Instant::now());
    });
    log::info!(
        "warm job {}: {} tracks × {} levels{}",
        job.id(),
        tracks.len(),
        qualities.len(),
        if missing > 0 {
            format!(", {missing} playlist entries missing")
        } else {
            String::new()
        }
    );
    if tracks.is_empty() && job.status().failed > 0 {
        job.finish(
            JobState::Failed,
            Some("nothing in the request could be read".to_owned()),
        );
        return;
    }

    let workers = &shared.workers;
    let cache = workers.cache();
    let protect = Arc::new(Protected::new(RECENT_USE));
    let mut window: Window<InFlight> = Window::new(pairs.len(), workers.count());
    let mut no_room: Option<u64> = None;
    loop {
        match window.step(job.cancelled() || no_room.is_some()) {
            Step::Stop => break,
            Step::Queue(n) => {
                let (track, quality) = pairs[n];
                if let Some(f) = queue(shared, job, &protect, track, quality) {
                    window.in_flight.push_back(f);
                    let current = window.in_flight.front().map(|f| f.relative.to_string());
                    job.update(|st| st.status.current = current);
                }
                continue;
            }
            Step::Wait => {}
        }
        let in_flight = &mut window.in_flight;
        let Some(front) = in_flight.front() else {
            continue;
        };
        let Some(outcome) = front.job.wait_done_for(CANCEL_POLL) else {
            continue;
        };
        let Some(f) = in_flight.pop_front() else {
            continue;
        };
        let current = in_flight.front().map(|f| f.relative.to_string());
        job.update(|st| st.status.current = current);
        match outcome {
            Outcome::Cached(path) => {
                protect.add(f.job.spec.key);
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                job.cached(&f.relative, f.quality, bytes, f.source_bytes, f.duration_s);
            }
            Outcome::Failed(e) => job.failed(&f.relative, f.quality, f.duration_s, e),
            Outcome::NoRoom { short_bytes } => {
                no_room = Some(short_bytes);
                in_flight.push_front(f); // still to do
            }
            // Kept out of the cache after all (its reservation could not
            // grow without evicting protected entries).
            Outcome::NotCached => {
                no_room = Some(0);
                in_flight.push_front(f);
            }
            Outcome::Cancelled => {
                if !job.cancelled() {
                    // The server is stopping.
                    job.set_cancelled();
                }
            }
        }
    }

    // Stop what is still queued or running, and wait for it to leave no
    // `.part` behind.
    let in_flight = &window.in_flight;
    for f in in_flight {
        f.job.cancel_background();
    }
    for f in in_flight {
        f.job.wait_done();
    }
    if let Some(short) = no_room {
        let left: u64 = in_flight
            .iter()
            .map(|f| estimate_bytes(f.duration_s, kbps(f.quality)))
            .chain(
                pairs[window.next..]
                    .iter()
                    .filter(|(t, q)| !is_cached(shared, t, *q))
                    .map(|(t, q)| estimate_bytes(t.duration_s, kbps(*q))),
            )
            .sum();
        let needed = needed_bytes(left, cache.room_sparing(&protect), short);
        let message = format!(
            "stopped: the {} cache budget is full of entries this job warmed or that were played in the last hour; about {} more would let it finish",
            bytesize::ByteSize(cache.budget_bytes()),
            bytesize::ByteSize(needed)
        );
        job.update(|st| {
            st.status.note = Some(JobNote::BudgetFull);
            st.status.needed_bytes = Some(needed);
        });
        job.finish(JobState::Done, Some(message));
    } else if job.cancelled() {
        job.finish(JobState::Cancelled, Some("cancelled".to_owned()));
    } else {
        job.finish(JobState::Done, None);
    }
}

fn is_cached(shared: &Shared, track: &Track, quality: Quality) -> bool {
    let Ok(file) = shared.catalog.library().resolve(&track.relative) else {
        return false;
    };
    match policy::job_key(&shared.config, &file, quality) {
        Ok(Some((key, _))) => shared.workers.cache().contains(&key),
        Ok(None) | Err(_) => true,
    }
}

/// Queues one track × level, or records at once why it needs no
/// transcode (skipped) or cannot have one (failed).
fn queue(
    shared: &Shared,
    job: &WarmJob,
    protect: &Arc<Protected>,
    track: &Track,
    quality: Quality,
) -> Option<InFlight> {
    let relative = &track.relative;
    let file = match shared.catalog.library().resolve(relative) {
        Ok(f) => f,
        Err(e) => {
            job.failed(relative, quality, track.duration_s, reason(&e));
            return None;
        }
    };
    let (key, opts) = match policy::job_key(&shared.config, &file, quality) {
        Ok(Some(k)) => k,
        Ok(None) => {
            job.skipped(relative, quality, track.duration_s, false);
            return None;
        }
        Err(e) => {
            job.failed(relative, quality, track.duration_s, e.to_string());
            return None;
        }
    };
    if shared.workers.cache().contains(&key) {
        // Part of this job's set: never evicted to make room for the rest.
        protect.add(key);
        job.skipped(relative, quality, track.duration_s, true);
        return None;
    }
    let spec = JobSpec {
        key,
        input: file.path.clone(),
        relative: relative.to_string(),
        opts,
        cache: true,
        protect: Some(Arc::clone(protect)),
    };
    match shared.workers.request(spec, Priority::Background) {
        Ok(j) => Some(InFlight {
            job: j,
            relative: relative.clone(),
            quality,
            duration_s: track.duration_s,
            source_bytes: file.metadata.len(),
        }),
        Err(Refused::FailedRecently) => {
            job.failed(
                relative,
                quality,
                track.duration_s,
                "its last transcode failed recently; not retried yet".to_owned(),
            );
            None
        }
        Err(Refused::Busy) => {
            job.failed(
                relative,
                quality,
                track.duration_s,
                "the transcoders are stopping".to_owned(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use super::*;
    use crate::cache::Cache;
    use crate::catalog::Catalog;
    use crate::config::{Config, Overrides};
    use crate::library::Library;
    use crate::reports::{EventData, TrackResult, WarmRequest};
    use crate::transcode::segment::tests::write_wav;
    use crate::warm::Next;
    use crate::workers::{Settings, Workers};

    fn track(name: &str) -> Track {
        Track {
            relative: RelPath::new(name).expect("a relative path"),
            duration_s: 1.0,
        }
    }

    #[test]
    fn a_window_queues_one_transcode_per_worker_and_waits_for_the_oldest() {
        let mut w: Window<usize> = Window::new(3, 2);
        let mut steps = Vec::new();
        loop {
            let step = w.step(false);
            match step {
                Step::Queue(n) => w.in_flight.push_back(n),
                Step::Wait => {
                    w.in_flight.pop_front();
                }
                Step::Stop => break,
            }
            steps.push(step);
        }
        use Step::{Queue, Wait};
        assert_eq!(steps, [Queue(0), Queue(1), Wait, Queue(2), Wait, Wait]);
    }

    #[test]
    fn a_window_stops_at_once_when_told_even_with_work_left() {
        let mut w: Window<usize> = Window::new(5, 2);
        assert_eq!(w.step(false), Step::Queue(0));
        w.in_flight.push_back(0);
        assert_eq!(w.step(true), Step::Stop);
        // The pair in flight and the rest are still to do.
        assert_eq!((w.next, w.in_flight.len()), (1, 1));
    }

    #[test]
    fn a_window_of_no_workers_still_moves() {
        let mut w: Window<usize> = Window::new(2, 0);
        assert_eq!(w.step(false), Step::Queue(0));
        w.in_flight.push_back(0);
        assert_eq!(w.step(false), Step::Wait);
    }

    #[test]
    fn a_pair_skipped_at_once_leaves_its_place_to_the_next() {
        // queue() found it cached: nothing is put in flight.
        let mut w: Window<usize> = Window::new(2, 1);
        assert_eq!(w.step(false), Step::Queue(0));
        assert_eq!(w.step(false), Step::Queue(1));
        assert_eq!(w.step(false), Step::Stop);
    }

    #[test]
    fn pairs_go_level_by_level_in_track_order() {
        let tracks = [track("b.flac"), track("a.flac")];
        let got: Vec<(String, Quality)> = pairs(&tracks, &[Quality::Low, Quality::High])
            .into_iter()
            .map(|(t, q)| (t.relative.to_string(), q))
            .collect();
        let want = [
            ("b.flac", Quality::Low),
            ("a.flac", Quality::Low),
            ("b.flac", Quality::High),
            ("a.flac", Quality::High),
        ]
        .map(|(p, q)| (p.to_owned(), q));
        assert_eq!(got, want);
    }

    #[test]
    fn a_track_named_twice_is_listed_once_where_first_named() {
        let mut list = TrackList::default();
        for (name, duration_s) in [
            ("b.flac", Some(2.0)),
            ("a.flac", None),
            ("b.flac", Some(9.0)),
        ] {
            list.add(RelPath::new(name).expect("a relative path"), duration_s);
        }
        let got: Vec<(String, f64)> = list
            .tracks
            .iter()
            .map(|t| (t.relative.to_string(), t.duration_s))
            .collect();
        assert_eq!(
            got,
            [("b.flac".to_owned(), 2.0), ("a.flac".to_owned(), 0.0)]
        );
    }

    #[test]
    fn the_bytes_a_full_budget_lacks_are_at_least_what_the_refused_transcode_lacked() {
        // (left to do, room still to take, short, needed)
        for (left, room, short, needed) in [
            (10_000, 4_000, 0, 6_000),
            (10_000, 4_000, 7_000, 7_000),
            (3_000, 4_000, 500, 500),
            (0, 0, 0, 0),
        ] {
            assert_eq!(
                needed_bytes(left, room, short),
                needed,
                "{left} {room} {short}"
            );
        }
    }

    #[test]
    fn the_estimate_of_a_pair_is_its_cbr_bytes_and_a_head() {
        assert_eq!(estimate_bytes(0.0, 128), 4096);
        assert_eq!(estimate_bytes(10.0, 128), 160_000 + 4096);
        assert_eq!(estimate_bytes(1.5, 320), 60_000 + 4096);
    }

    /// A warm thread's shared state over the library `dir/music`, with
    /// two workers filling a cache of `budget_bytes`.
    fn shared(dir: &Path, budget_bytes: u64) -> Shared {
        let music = dir.join("music");
        let cache_dir = dir.join("cache");
        std::fs::create_dir_all(&music).expect("the music dir");
        let overrides = Overrides {
            music: Some(music.clone()),
            cache: Some(cache_dir.clone()),
            ..Overrides::default()
        };
        let config = Config::from_toml(
            "[transcode]\nencoder_quality = 9\n",
            Path::new("test.toml"),
            &overrides,
        )
        .expect("the config");
        let library = Library::new(&music, true).expect("the library");
        let cache = Cache::open(&cache_dir, budget_bytes).expect("the cache");
        let settings = Settings {
            workers: 2,
            nice: 0,
            max_queue: 8,
            retry_failed_after: Duration::from_secs(600),
            finish_abandoned: true,
            abandon_grace: Duration::from_secs(5),
        };
        Shared {
            config,
            catalog: Arc::new(Catalog::new(library, 100)),
            workers: Arc::new(Workers::start(cache, settings).expect("the workers")),
            jobs: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
        }
    }

    fn request(paths: &[&str], qualities: &[Quality]) -> WarmRequest {
        WarmRequest {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            playlists: Vec::new(),
            qualities: qualities.to_vec(),
        }
    }

    /// The pairs a job's events reported, in order, with what happened.
    fn reported(job: &WarmJob) -> Vec<(String, Quality, Option<TrackResult>)> {
        let Next::Events(events) = job.next_events(0, Duration::ZERO) else {
            panic!("the job has events");
        };
        events
            .into_iter()
            .filter_map(|e| match e.data {
                EventData::Track(t) => Some((t.path, t.quality, t.result)),
                EventData::Status(_) => None,
            })
            .collect()
    }

    #[test]
    fn pairs_are_warmed_level_by_level_in_the_order_named_then_skipped_as_cached() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shared = shared(dir.path(), 64 << 20);
        for name in ["a.wav", "b.wav"] {
            write_wav(&dir.path().join("music").join(name), 32_000, 1, 32_000);
        }
        let levels = [Quality::Low, Quality::Medium];
        let paths = ["b.wav", "a.wav", "b.wav"];
        let first = WarmJob::new(1, request(&paths, &levels));
        run(&shared, &first);
        let status = first.status();
        assert_eq!(status.state, JobState::Done, "{:?}", status.message);
        assert_eq!((status.total, status.done), (4, 4));
        let cached = Some(TrackResult::Cached);
        let order = [
            ("b.wav", Quality::Low),
            ("a.wav", Quality::Low),
            ("b.wav", Quality::Medium),
            ("a.wav", Quality::Medium),
        ];
        let want: Vec<_> = order.map(|(p, q)| (p.to_owned(), q, cached)).into();
        assert_eq!(reported(&first), want);

        let second = WarmJob::new(2, request(&paths, &levels));
        run(&shared, &second);
        let status = second.status();
        assert_eq!((status.done, status.already_cached), (0, 4));
        let already = Some(TrackResult::AlreadyCached);
        let want: Vec<_> = order.map(|(p, q)| (p.to_owned(), q, already)).into();
        assert_eq!(reported(&second), want);
    }

    #[test]
    fn a_budget_that_cannot_hold_the_next_pair_ends_the_job_done_with_budget_full() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Smaller than any transcode of a second of audio.
        let shared = shared(dir.path(), 2_000);
        for name in ["a.wav", "b.wav", "c.wav"] {
            write_wav(&dir.path().join("music").join(name), 32_000, 1, 32_000);
        }
        let job = WarmJob::new(1, request(&[""], &[Quality::Low]));
        run(&shared, &job);
        let status = job.status();
        assert_eq!(status.state, JobState::Done);
        assert_eq!(status.note, Some(crate::reports::JobNote::BudgetFull));
        assert_eq!(status.done, 0);
        // The three pairs are still to do: about 16 KB each at 128 kbit/s.
        let needed = status.needed_bytes.expect("the bytes it lacked");
        assert!(needed >= 3 * 16_000, "{needed}");
        assert!(
            status
                .message
                .as_deref()
                .is_some_and(|m| m.contains("budget is full")),
            "{:?}",
            status.message
        );
        assert_eq!(shared.workers.cache().stats().files, 0);
    }

    #[test]
    fn a_job_cancelled_before_its_first_pair_queues_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shared = shared(dir.path(), 64 << 20);
        write_wav(&dir.path().join("music").join("a.wav"), 32_000, 1, 32_000);
        let job = WarmJob::new(1, request(&["a.wav"], &[Quality::Low]));
        assert!(job.cancel());
        run(&shared, &job);
        assert_eq!(job.status().state, JobState::Cancelled);
        assert!(reported(&job).is_empty());
        assert_eq!(shared.workers.queue_depth(), 0);
        assert_eq!(
            shared
                .workers
                .stats()
                .done
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn a_request_of_nothing_readable_fails() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shared = shared(dir.path(), 64 << 20);
        let job = WarmJob::new(1, request(&["gone.wav"], &[Quality::Low]));
        run(&shared, &job);
        let status = job.status();
        assert_eq!(status.state, JobState::Failed);
        assert_eq!(status.errors.len(), 1);
        assert_eq!(status.errors[0].path, "gone.wav");
    }
}
