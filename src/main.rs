//! The `tapedeck` binary: parse arguments, load config, start logging, run.

mod cli;
mod client;
mod tools;

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use log::{LevelFilter, info};

use cli::{CacheCommand, Cli, Command, CommonArgs, ConfigCommand, ServeArgs, TranscodeArgs};
use tapedeck::app::{App, Mode};
use tapedeck::cache::{self, LockError};
use tapedeck::config::{self, Bitrates, Config, Overrides};
use tapedeck::logging;
use tapedeck::quality::Quality;
use tapedeck::transcode;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let result = run(cli);
    // Whatever the log still buffers goes out before the last word (and
    // before exit, which would drop it).
    log::logger().flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("tapedeck: {e}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena (up to
/// 8 per CPU), and each keeps the memory it freed: with dozens of handler
/// threads the RSS grows by megabytes after a burst of requests and stays
/// there. Two arenas are plenty for a server whose threads mostly wait on
/// I/O (measured with bench/search.sh: 28 MB after 80 searches, 16 MB
/// with two arenas).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Runs the command; returns the process exit code.
fn run(cli: Cli) -> Result<u8, Box<dyn Error>> {
    match cli.command {
        None => serve(cli.serve).map(|()| 0),
        Some(Command::Serve(args)) => serve(args).map(|()| 0),
        Some(Command::Config(ConfigCommand::Default)) => {
            print!("{}", config::default_toml());
            Ok(0)
        }
        Some(Command::Transcode(args)) => transcode_one(args).map(|()| 0),
        Some(Command::Config(ConfigCommand::Check { file })) => {
            Config::load(Some(&file), &Overrides::default())?;
            println!("{}: ok", file.display());
            Ok(0)
        }
        Some(Command::Warm(args)) => {
            let explicit_cache = args.common.cache.is_some();
            tools::warm(
                load_common(&args.common, false)?,
                explicit_cache,
                &args.entries,
                &args.quality,
            )
        }
        Some(Command::Cache(command)) => {
            let (common, action) = match command {
                CacheCommand::Stats(c) => (c, tools::CacheAction::Stats),
                CacheCommand::Clear {
                    older_than_days,
                    common,
                } => (common, tools::CacheAction::Clear { older_than_days }),
                CacheCommand::Verify(c) => (c, tools::CacheAction::Verify),
            };
            // The cache commands never read the music root.
            tools::cache(load_common(&common, true)?, common.cache.is_some(), action)
        }
    }
}

/// The config `tapedeck warm` and `tapedeck cache` work with: the same
/// file the server reads by default, so they find its cache and address.
/// `music_unused`: the command does not read the music root, so it need
/// not exist.
fn load_common(args: &CommonArgs, music_unused: bool) -> Result<Config, Box<dyn Error>> {
    // Warnings only, so every line is written at once, in order with the
    // command's own output on stderr.
    let _ = logging::init(logging::Settings::new(LevelFilter::Warn, false));
    let file = args
        .config
        .clone()
        .or_else(|| config::default_config_path().filter(|p| p.is_file()));
    let overrides = Overrides {
        music: args.music.clone(),
        cache: args.cache.clone(),
        state: args.state.clone(),
        listen: None,
        music_unused,
    };
    Ok(Config::load(file.as_deref(), &overrides)?)
}

/// `tapedeck transcode`: one file, for users and benchmarks.
fn transcode_one(args: TranscodeArgs) -> Result<(), Box<dyn Error>> {
    let quality: Quality = args.quality.parse()?;
    let bitrate_kbps = Bitrates::DEFAULT
        .for_quality(quality)
        .ok_or("--quality original means no transcode; use high, medium or low")?;
    let opts = transcode::Options {
        bitrate_kbps,
        lame_algorithm: args.lame_algorithm,
        max_art_bytes: transcode::Options::DEFAULT_MAX_ART_BYTES,
    };
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.output)
            .map_err(|e| format!("creating {}: {e}", args.output.display()))?,
    );
    let shown = args.input.display().to_string();
    let started = std::time::Instant::now();
    let report = transcode::transcode(&args.input, &shown, &mut out, &opts, |_, _| {})?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{shown}: {:.2} s of audio, {} Hz, {} ch -> {} ({} bytes, {bitrate_kbps} kbit/s CBR, {} Hz{}) in {secs:.2} s ({:.0}x realtime){}{}",
        report.duration_s(),
        report.sample_rate_hz,
        report.source_channels,
        args.output.display(),
        report.bytes,
        report.output_sample_rate_hz,
        match report.cover {
            Some(transcode::tags::CoverSource::Embedded) => ", embedded cover",
            Some(transcode::tags::CoverSource::Folder) => ", folder cover",
            None => "",
        },
        report.duration_s() / secs.max(1e-9),
        if report.skipped_packets > 0 {
            format!(", {} corrupt packets skipped", report.skipped_packets)
        } else {
            String::new()
        },
        if report.truncated {
            ", source truncated"
        } else {
            ""
        },
    );
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), Box<dyn Error>> {
    init_logging(&args);
    // A file size limit (RLIMIT_FSIZE, e.g. systemd's LimitFSIZE=) must fail
    // the one cache write with EFBIG, which the workers handle, rather than
    // kill the server with SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let config_file = args
        .common
        .config
        .clone()
        .or_else(|| config::default_config_path().filter(|p| p.is_file()));
    let overrides = Overrides {
        music: args.common.music,
        cache: args.common.cache,
        state: args.common.state,
        listen: args.listen,
        music_unused: false,
    };
    let config = Config::load(config_file.as_deref(), &overrides)?;
    if let Some(file) = &config_file {
        info!("config: {}", file.display());
        warn_if_readable_by_others(file, &config);
    }
    // Before anything is printed: a supervisor that reads the URL and at once
    // sends SIGTERM must find the handler in place, not the default action.
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })?;
    let root = config.library.root.clone();
    let listen = config.server.listen;
    let _cache_lock = lock_cache(&config.cache.dir)?;
    let app = App::new(config, Mode::Serve)?;
    let server = tapedeck::router::serve(app)
        .map_err(|e| format!("cannot listen on {listen}: {}", listen_error_hint(&e)))?;
    let addr = server.addr();
    info!(
        "tapedeck {} (LAME {}) serving {} on http://{addr}/",
        env!("CARGO_PKG_VERSION"),
        mp3lame_encoder::mp3lame_version(),
        root.display()
    );
    println!(
        "tapedeck {} is playing {}",
        env!("CARGO_PKG_VERSION"),
        root.display()
    );
    for url in phone_urls(addr) {
        println!("  open {url} on a phone or browser");
    }

    let _ = rx.recv();
    info!("stopping");
    server.shutdown();
    info!("stopped");
    Ok(())
}

/// The config holds the Subsonic users' passwords: say so when other
/// users of this machine can read it.
fn warn_if_readable_by_others(file: &std::path::Path, config: &Config) {
    use std::os::unix::fs::PermissionsExt;
    if config.users.is_empty() {
        return;
    }
    if let Ok(meta) = std::fs::metadata(file)
        && meta.permissions().mode() & 0o044 != 0
    {
        log::warn!(
            "{} holds passwords of [[users]] and other users can read it; chmod 600 it (or 640 for a service group)",
            file.display()
        );
    }
}

/// Takes the cache directory's lock for the server's lifetime, so that
/// `tapedeck warm` and `tapedeck cache` go through its admin API instead of
/// writing beside it. Waits for one of those commands to finish; refuses
/// to share the cache with another server. Without a usable directory
/// there is nothing to lock (the server then serves originals).
///
/// Errors: another server holds the lock.
fn lock_cache(dir: &std::path::Path) -> Result<Option<cache::DirLock>, Box<dyn Error>> {
    match cache::lock_dir(dir, "serve", false) {
        Ok(lock) => Ok(Some(lock)),
        Err(LockError::Held { holder }) if holder.ends_with("(tapedeck serve)") => Err(format!(
            "{} is the cache of another tapedeck server, {holder}; give each server its own cache.dir",
            dir.display()
        )
        .into()),
        Err(LockError::Held { holder }) => {
            info!(
                "waiting for {holder} to release {} before serving",
                dir.display()
            );
            Ok(cache::lock_dir(dir, "serve", true).ok())
        }
        Err(LockError::Io(e)) => {
            log::warn!("cannot lock {}: {e}", dir.display());
            Ok(None)
        }
    }
}

fn listen_error_hint(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!("{e} (is tapedeck already running?)"),
        std::io::ErrorKind::PermissionDenied => format!("{e} (ports below 1024 need privileges)"),
        _ => e.to_string(),
    }
}

/// URLs a person can type: the mDNS name (Raspberry Pi OS runs avahi) when
/// listening on all interfaces, else the bound address itself.
fn phone_urls(addr: std::net::SocketAddr) -> Vec<String> {
    let port = addr.port();
    if !addr.ip().is_unspecified() {
        return vec![format!("http://{addr}/")];
    }
    let mut urls = Vec::new();
    if let Some(host) = hostname() {
        urls.push(format!("http://{host}.local:{port}/"));
    }
    urls.push(format!("http://localhost:{port}/"));
    urls
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (!name.is_empty() && name != "localhost").then(|| name.to_owned())
}

/// Log lines go to stderr, buffered (see `tapedeck::logging`); journald
/// adds its own timestamps, so ours are left out when it is the reader.
fn init_logging(args: &ServeArgs) {
    let level = match (args.verbose, args.quiet) {
        (0, 0) => LevelFilter::Info,
        (1, _) => LevelFilter::Debug,
        (v, _) if v >= 2 => LevelFilter::Trace,
        (_, 1) => LevelFilter::Warn,
        _ => LevelFilter::Error,
    };
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let _ = logging::init(logging::Settings::new(level, !under_journald));
}
