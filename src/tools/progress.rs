//! What `tapedeck warm` shows: a progress bar on a terminal (tracks done of
//! total, tracks/min, the server's ETA, the current file), else one line
//! per track; and the summary at the end.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tapedeck::reports::{EventData, EventKind, JobState, JobStatus, TrackResult};

/// The progress bar, or one line per track when stderr is not a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// When the first event came, and how many tracks were transcoded
    /// (not skipped) since: the speed shown.
    since: Option<Instant>,
    transcoded: u64,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:28}] {pos}/{len} tracks{prefix} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            since: None,
            transcoded: 0,
        }
    }

    /// Shows one job event.
    pub fn event(&mut self, kind: EventKind, data: &EventData) {
        let counters = data.counters();
        let finished = counters.done + counters.skipped + counters.failed;
        let line = match (kind, data) {
            (EventKind::Progress, EventData::Track(t)) => {
                if t.result == Some(TrackResult::Cached) {
                    self.transcoded += 1;
                }
                let result = match t.result {
                    Some(TrackResult::Cached) | None => "cached",
                    Some(TrackResult::AlreadyCached) => "already cached",
                    Some(TrackResult::NotTranscoded) => "not transcoded",
                };
                format!("{result} {} ({})", t.path, t.quality)
            }
            (EventKind::Error, EventData::Track(t)) => format!(
                "FAILED {}: {}",
                t.path,
                t.error.as_deref().unwrap_or("unknown error")
            ),
            _ => String::new(),
        };
        let since = *self.since.get_or_insert_with(Instant::now);
        match &self.bar {
            Some(bar) => {
                bar.set_length(counters.total);
                bar.set_position(finished);
                let minutes = since.elapsed().as_secs_f64() / 60.0;
                let mut prefix = String::new();
                if self.transcoded > 1 && minutes > 0.0 {
                    prefix = format!(", {:.1} tracks/min", (self.transcoded - 1) as f64 / minutes);
                }
                if let Some(eta) = counters.eta_s {
                    prefix.push_str(&format!(", ETA {}:{:02}", eta / 60, eta % 60));
                }
                bar.set_prefix(prefix);
                if let Some(current) = counters.current {
                    bar.set_message(current);
                }
                if kind == EventKind::Error {
                    bar.println(line);
                }
            }
            None if !line.is_empty() => eprintln!("[{finished}/{}] {line}", counters.total),
            None => {}
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Prints what a finished job did; returns the exit code (0 done, 1 some
/// tracks failed or the job failed, 130 cancelled).
pub fn summary(status: &JobStatus) -> u8 {
    let mb = |b: u64| b as f64 / 1_000_000.0;
    let elapsed = match (status.started_at, status.finished_at) {
        (Some(a), Some(b)) => format!(" in {} s", b.saturating_sub(a)),
        _ => String::new(),
    };
    println!(
        "{}{elapsed}: {} cached ({:.1} MB), {} already cached, {} skipped, {} failed, of {}",
        status.state.as_str(),
        status.done,
        mb(status.bytes_cached),
        status.already_cached,
        status.skipped - status.already_cached.min(status.skipped),
        status.failed,
        status.total,
    );
    if status.source_bytes > 0 {
        let saved = status.source_bytes.saturating_sub(status.bytes_cached);
        println!(
            "bandwidth saved: {:.1} MB of originals play as {:.1} MB of MP3 ({:.0} % less per play)",
            mb(status.source_bytes),
            mb(status.bytes_cached),
            saved as f64 * 100.0 / status.source_bytes as f64
        );
    }
    for e in &status.errors {
        println!("failed: {}: {}", e.path, e.error);
    }
    if let Some(message) = &status.message {
        println!("{message}");
    }
    match status.state {
        JobState::Cancelled => 130,
        JobState::Done if status.failed == 0 => 0,
        _ => 1,
    }
}
