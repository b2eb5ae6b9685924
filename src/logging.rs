//! The log: one line per event on stderr, for the person reading
//! `journalctl -u tapedeck`, at a cost a busy server does not notice.
//!
//! Why not simplelog's `WriteLogger`, which this replaces: it wrote each line
//! to stderr as it came (a `write` and a lock per line, the time formatted
//! afresh each time), and with an access line per request that was most of
//! what a cached 64 KiB Range reply cost (0.34x nginx's requests/s at the
//! default level, 0.61x with `-q`). Here a line is formatted once, outside
//! any lock, into a per-thread buffer, then appended to one shared buffer
//! that reaches stderr in a single `write` when it holds [`BUFFER_BYTES`],
//! at most [`FLUSH_AFTER`] after its oldest line (a flusher thread that
//! sleeps while the buffer is empty), on [`log::Log::flush`] (the binary
//! calls it on its way out and from a panic hook), and at once with any
//! warning or error, which is written through together with what was
//! buffered before it, in order.
//!
//! The line format is simplelog's as tapedeck configured it, so journald
//! shows what it showed before: `[LEVEL] message`, preceded by an RFC 3339
//! UTC timestamp when journald is not the reader (it stamps lines itself).
//! The timestamp now stops at milliseconds (simplelog printed nanoseconds),
//! and its date and time of day are formatted once per second.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record, SetLoggerError};

/// How much the shared buffer holds before it is written: a few hundred
/// access lines, one `write` where there were as many.
pub const BUFFER_BYTES: usize = 16 * 1024;
/// How long a line may wait in the buffer: a quiet server's last request
/// still shows up in the journal at once for a person watching it.
pub const FLUSH_AFTER: Duration = Duration::from_secs(1);
/// Only tapedeck's own records are logged: its dependencies' (symphonia's
/// per-packet complaints, say) say nothing a reader of the journal can act
/// on, and tapedeck reports what they cause itself.
const TARGET: &str = "tapedeck";
/// A per-thread line buffer grown past this by an odd long line gives the
/// memory back.
const SCRATCH_KEEP_BYTES: usize = 4096;

/// How the logger behaves; [`Settings::new`] gives the server's defaults.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The most detailed level that is logged.
    pub level: LevelFilter,
    /// Whether each line starts with the time (not when journald, which
    /// stamps lines itself, is the reader).
    pub timestamps: bool,
    /// See [`BUFFER_BYTES`].
    pub buffer_bytes: usize,
    /// See [`FLUSH_AFTER`].
    pub flush_after: Duration,
}

impl Settings {
    /// Logs up to `level`, buffered as described in the module doc.
    pub fn new(level: LevelFilter, timestamps: bool) -> Settings {
        Settings {
            level,
            timestamps,
            buffer_bytes: BUFFER_BYTES,
            flush_after: FLUSH_AFTER,
        }
    }
}

/// Installs the process's logger, writing to stderr, and a panic hook that
/// writes out what is buffered before the panic message, so the lines stay
/// in the order they happened.
///
/// Errors: a logger is installed already.
pub fn init(settings: Settings) -> Result<(), SetLoggerError> {
    log::set_boxed_logger(Box::new(Logger::new(settings, Box::new(std::io::stderr()))))?;
    log::set_max_level(settings.level);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log::logger().flush();
        previous(info);
    }));
    Ok(())
}

/// A [`log::Log`] that buffers lines for `sink` as the module doc says.
pub struct Logger {
    settings: Settings,
    shared: Arc<Shared>,
    /// `None` when nothing is ever buffered (warnings and errors only).
    flusher: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<Pending>,
    /// Signalled when the buffer gets its first line, and on drop.
    changed: Condvar,
}

/// What is waiting to be written, and where it goes.
struct Pending {
    bytes: Vec<u8>,
    /// When the oldest buffered line came; `None` when nothing is buffered.
    oldest: Option<Instant>,
    sink: Box<dyn Write + Send>,
    stopping: bool,
}

impl Pending {
    fn write_out(&mut self) {
        if self.bytes.is_empty() {
            return;
        }
        // Nowhere to report a failure to write the log; the lines are lost
        // either way, and a full buffer must not grow without bound.
        let _ = self.sink.write_all(&self.bytes);
        let _ = self.sink.flush();
        self.bytes.clear();
        self.oldest = None;
    }
}

impl Logger {
    /// A logger writing to `sink`; with [`Settings::level`] above `Warn`
    /// it starts a thread that writes out lines [`Settings::flush_after`]
    /// old. Dropping it writes out what is buffered and ends the thread.
    pub fn new(settings: Settings, sink: Box<dyn Write + Send>) -> Logger {
        let shared = Arc::new(Shared {
            state: Mutex::new(Pending {
                bytes: Vec::with_capacity(settings.buffer_bytes + 256),
                oldest: None,
                sink,
                stopping: false,
            }),
            changed: Condvar::new(),
        });
        let flusher = (settings.level > LevelFilter::Warn)
            .then(|| {
                let shared = Arc::clone(&shared);
                let after = settings.flush_after;
                // Without the thread lines still go out (when the buffer
                // fills, with a warning, on flush), only later.
                std::thread::Builder::new()
                    .name("log-flush".into())
                    .spawn(move || run_flusher(&shared, after))
                    .ok()
            })
            .flatten();
        Logger {
            settings,
            shared,
            flusher,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.shared.lock()
    }

    fn push(&self, line: &[u8], urgent: bool) {
        let mut pending = self.lock();
        pending.bytes.extend_from_slice(line);
        if urgent || pending.bytes.len() >= self.settings.buffer_bytes {
            pending.write_out();
        } else if pending.oldest.is_none() {
            pending.oldest = Some(Instant::now());
            drop(pending);
            self.shared.changed.notify_one();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes out the buffer once its oldest line is `after` old; sleeps while
/// it is empty.
fn run_flusher(shared: &Shared, after: Duration) {
    let mut pending = shared.lock();
    loop {
        if pending.stopping {
            pending.write_out();
            return;
        }
        pending = match pending.oldest {
            None => shared
                .changed
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner()),
            Some(oldest) => {
                let due = oldest + after;
                let now = Instant::now();
                if now >= due {
                    pending.write_out();
                    pending
                } else {
                    shared
                        .changed
                        .wait_timeout(pending, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            }
        };
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.settings.level && metadata.target().starts_with(TARGET)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let timestamps = self.settings.timestamps;
        with_scratch(|scratch| {
            scratch.format(record, timestamps.then(SystemTime::now));
            self.push(scratch.line.as_bytes(), record.level() <= Level::Warn);
            scratch.line.clear();
            scratch.line.shrink_to(SCRATCH_KEEP_BYTES);
        });
    }

    fn flush(&self) {
        self.lock().write_out();
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.lock().stopping = true;
        self.shared.changed.notify_one();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        self.lock().write_out();
    }
}

/// A thread's line being formatted, and its timestamp's date and time of
/// day for the second they were formatted for.
#[derive(Default)]
struct Scratch {
    line: String,
    stamp_second: Option<u64>,
    stamp: String,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` on this thread's scratch buffer, or on a fresh one when that is
/// in use (a `Display` that logs) or gone (a thread's TLS being destroyed).
fn with_scratch(f: impl FnOnce(&mut Scratch)) {
    let mut f = Some(f);
    let _ = SCRATCH.try_with(|cell| {
        if let Ok(mut scratch) = cell.try_borrow_mut()
            && let Some(f) = f.take()
        {
            f(&mut scratch);
        }
    });
    if let Some(f) = f {
        f(&mut Scratch::default());
    }
}

impl Scratch {
    /// Formats `record` as one line into `self.line`, stamped with `now`
    /// when given.
    fn format(&mut self, record: &Record<'_>, now: Option<SystemTime>) {
        self.line.clear();
        if let Some(now) = now {
            let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            let second = since_epoch.as_secs();
            if self.stamp_second != Some(second) {
                self.stamp.clear();
                write_date_time(&mut self.stamp, second);
                self.stamp_second = Some(second);
            }
            let _ = write!(
                self.line,
                "{}.{:03}Z ",
                self.stamp,
                since_epoch.subsec_millis()
            );
        }
        let _ = writeln!(self.line, "[{}] {}", record.level(), record.args());
    }
}

/// Writes `unix_seconds` as RFC 3339's `YYYY-MM-DDTHH:MM:SS` in UTC.
fn write_date_time(out: &mut String, unix_seconds: u64) {
    let t = i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read while the logger owns it, and wait on.
    #[derive(Clone, Default)]
    struct Captured {
        inner: Arc<(Mutex<Writes>, Condvar)>,
    }

    #[derive(Default)]
    struct Writes {
        bytes: Vec<u8>,
        /// How many `write_all`s reached the sink (one per write-out).
        batches: usize,
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.write_all(buf)?;
            Ok(buf.len())
        }

        fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
            let (writes, written) = &*self.inner;
            let mut w = writes.lock().unwrap();
            w.bytes.extend_from_slice(buf);
            w.batches += 1;
            written.notify_all();
            Ok(())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.inner.0.lock().unwrap().bytes.clone()).unwrap()
        }

        fn batches(&self) -> usize {
            self.inner.0.lock().unwrap().batches
        }

        /// Waits up to `timeout` for something to be written; returns it.
        fn wait_for_text(&self, timeout: Duration) -> String {
            let (writes, written) = &*self.inner;
            let w = writes.lock().unwrap();
            let (w, _) = written
                .wait_timeout_while(w, timeout, |w| w.bytes.is_empty())
                .unwrap();
            String::from_utf8(w.bytes.clone()).unwrap()
        }
    }

    fn logger(settings: Settings) -> (Logger, Captured) {
        let sink = Captured::default();
        (Logger::new(settings, Box::new(sink.clone())), sink)
    }

    fn info_settings() -> Settings {
        Settings::new(LevelFilter::Info, false)
    }

    fn log(logger: &Logger, level: Level, message: &str) {
        logger.log(
            &Record::builder()
                .target("tapedeck::http")
                .level(level)
                .args(format_args!("{message}"))
                .build(),
        );
    }

    #[test]
    fn lines_come_out_in_order() {
        // A small buffer, so that the lines cross several write-outs.
        let (logger, sink) = logger(Settings {
            buffer_bytes: 256,
            ..info_settings()
        });
        for i in 0..200 {
            log(&logger, Level::Info, &format!("request {i}"));
        }
        logger.flush();
        let expected: String = (0..200).map(|i| format!("[INFO] request {i}\n")).collect();
        assert_eq!(sink.text(), expected);
        assert!(sink.batches() > 1, "written in batches, not per line");
    }

    #[test]
    fn lines_from_several_threads_stay_whole_and_in_each_threads_order() {
        let (logger, sink) = logger(Settings {
            buffer_bytes: 512,
            ..info_settings()
        });
        std::thread::scope(|s| {
            for t in 0..4 {
                let logger = &logger;
                s.spawn(move || {
                    for i in 0..100 {
                        log(logger, Level::Info, &format!("thread {t} line {i}"));
                    }
                });
            }
        });
        logger.flush();
        let text = sink.text();
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("[INFO] thread {t} ")))
                .collect();
            let expected: Vec<String> = (0..100)
                .map(|i| format!("[INFO] thread {t} line {i}"))
                .collect();
            assert_eq!(mine, expected);
        }
        assert_eq!(text.lines().count(), 400);
    }

    #[test]
    fn info_lines_wait_in_the_buffer() {
        let (logger, sink) = logger(Settings {
            flush_after: Duration::from_secs(3600),
            ..info_settings()
        });
        log(&logger, Level::Info, "GET / 200");
        assert_eq!(sink.text(), "");
        assert_eq!(sink.batches(), 0);
    }

    #[test]
    fn a_warning_writes_what_was_buffered_before_it() {
        let (logger, sink) = logger(Settings {
            flush_after: Duration::from_secs(3600),
            ..info_settings()
        });
        log(&logger, Level::Info, "first");
        log(&logger, Level::Info, "second");
        log(&logger, Level::Warn, "trouble");
        assert_eq!(sink.text(), "[INFO] first\n[INFO] second\n[WARN] trouble\n");
        assert_eq!(sink.batches(), 1, "one write for the three lines");
        log(&logger, Level::Error, "worse");
        assert_eq!(
            sink.text(),
            "[INFO] first\n[INFO] second\n[WARN] trouble\n[ERROR] worse\n"
        );
    }

    #[test]
    fn a_quiet_logger_writes_its_buffer_within_a_second() {
        let (logger, sink) = logger(info_settings());
        let logged = Instant::now();
        log(&logger, Level::Info, "the last request");
        if logged.elapsed() < FLUSH_AFTER / 2 {
            assert_eq!(sink.text(), "", "not written before its time");
        }
        let text = sink.wait_for_text(Duration::from_secs(30));
        assert_eq!(text, "[INFO] the last request\n");
        // Generous: the flusher may be scheduled late on a busy machine.
        assert!(logged.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn flush_writes_everything() {
        let (logger, sink) = logger(Settings {
            flush_after: Duration::from_secs(3600),
            ..info_settings()
        });
        log(&logger, Level::Info, "a");
        log(&logger, Level::Debug, "not at info");
        log(&logger, Level::Info, "b");
        logger.flush();
        assert_eq!(sink.text(), "[INFO] a\n[INFO] b\n");
        logger.flush();
        assert_eq!(sink.batches(), 1, "nothing more to write");
    }

    #[test]
    fn dropping_the_logger_writes_what_is_buffered() {
        let (logger, sink) = logger(Settings {
            flush_after: Duration::from_secs(3600),
            ..info_settings()
        });
        log(&logger, Level::Info, "stopped");
        drop(logger);
        assert_eq!(sink.text(), "[INFO] stopped\n");
    }

    #[test]
    fn a_full_buffer_is_written_at_once() {
        let (logger, sink) = logger(Settings {
            buffer_bytes: 64,
            flush_after: Duration::from_secs(3600),
            ..info_settings()
        });
        log(&logger, Level::Info, "short");
        assert_eq!(sink.batches(), 0);
        log(&logger, Level::Info, &"x".repeat(64));
        assert_eq!(sink.batches(), 1);
        assert_eq!(
            sink.text(),
            format!("[INFO] short\n[INFO] {}\n", "x".repeat(64))
        );
    }

    #[test]
    fn other_crates_records_are_left_out() {
        let (logger, sink) = logger(info_settings());
        logger.log(
            &Record::builder()
                .target("symphonia_core::probe")
                .level(Level::Warn)
                .args(format_args!("noise"))
                .build(),
        );
        log(&logger, Level::Warn, "ours");
        assert_eq!(sink.text(), "[WARN] ours\n");
    }

    #[test]
    fn a_warnings_only_logger_writes_through_without_a_thread() {
        let (logger, sink) = logger(Settings::new(LevelFilter::Warn, false));
        assert!(logger.flusher.is_none());
        log(&logger, Level::Info, "not shown");
        log(&logger, Level::Warn, "cannot lock /var/cache/tapedeck");
        assert_eq!(sink.text(), "[WARN] cannot lock /var/cache/tapedeck\n");
    }

    #[test]
    fn a_stamped_line_is_rfc3339_utc_to_the_millisecond() {
        let record = Record::builder()
            .target("tapedeck")
            .level(Level::Info)
            .args(format_args!("stopping"))
            .build();
        let mut scratch = Scratch::default();
        let at = UNIX_EPOCH + Duration::from_millis(1_733_270_400_042);
        scratch.format(&record, Some(at));
        assert_eq!(scratch.line, "2024-12-04T00:00:00.042Z [INFO] stopping\n");
        // The same second reuses the formatted date; the next one does not.
        scratch.format(&record, Some(at + Duration::from_millis(900)));
        assert_eq!(scratch.line, "2024-12-04T00:00:00.942Z [INFO] stopping\n");
        scratch.format(&record, Some(at + Duration::from_millis(86_399_000)));
        assert_eq!(scratch.line, "2024-12-04T23:59:59.042Z [INFO] stopping\n");
        scratch.format(&record, None);
        assert_eq!(scratch.line, "[INFO] stopping\n");
    }

    #[test]
    fn dates_are_formatted_as_rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_733_270_399, "2024-12-03T23:59:59"),
        ];
        for (seconds, expected) in cases {
            let mut out = String::new();
            write_date_time(&mut out, seconds);
            assert_eq!(out, expected, "{seconds}");
        }
    }
}
