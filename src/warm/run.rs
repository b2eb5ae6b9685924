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
    let mut seen = HashSet::new();
    let mut tracks = Vec::new();
    let mut errors = Vec::new();
    let mut missing = 0;
    let mut add = |relative: RelPath, duration_s: Option<f64>, tracks: &mut Vec<Track>| {
        if seen.insert(relative.clone()) {
            tracks.push(Track {
                relative,
                duration_s: duration_s.unwrap_or(0.0),
            });
        }
    };
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
                add(f.relative, info.duration_s, &mut tracks);
            }
            Ok(f) => errors.push(TrackError {
                path: f.relative.to_string(),
                error: "not an audio file".to_owned(),
            }),
            Err(ResolveError::NotFound) => match catalog.tracks_under(&relative) {
                Ok(list) => {
                    for t in list {
                        add(t.entry.relative, t.info.duration_s, &mut tracks);
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
                        Ok(t) => add(t.entry.relative, t.info.duration_s, &mut tracks),
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
    (tracks, errors, missing)
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
    let pairs: Vec<(&Track, Quality)> = qualities
        .iter()
        .flat_map(|&q| tracks.iter().map(move |t| (t, q)))
        .collect();
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
    let window = workers.count();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut no_room: Option<u64> = None;
    let mut next = 0;
    while next < pairs.len() || !in_flight.is_empty() {
        if job.cancelled() || no_room.is_some() {
            break;
        }
        if next < pairs.len() && in_flight.len() < window {
            let (track, quality) = pairs[next];
            next += 1;
            if let Some(f) = queue(shared, job, &protect, track, quality) {
                in_flight.push_back(f);
                let current = in_flight.front().map(|f| f.relative.to_string());
                job.update(|st| st.status.current = current);
            }
            continue;
        }
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
    for f in &in_flight {
        f.job.cancel_background();
    }
    for f in &in_flight {
        f.job.wait_done();
    }
    if let Some(short) = no_room {
        let left: u64 = in_flight
            .iter()
            .map(|f| estimate_bytes(f.duration_s, kbps(f.quality)))
            .chain(
                pairs[next..]
                    .iter()
                    .filter(|(t, q)| !is_cached(shared, t, *q))
                    .map(|(t, q)| estimate_bytes(t.duration_s, kbps(*q))),
            )
            .sum();
        let needed = left.saturating_sub(cache.room_sparing(&protect)).max(short);
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
