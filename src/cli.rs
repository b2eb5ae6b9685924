//! The command line, declared with clap.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

/// tapedeck: a music server for a Raspberry Pi. Phones on the LAN browse and
/// play your library; lossless files are transcoded to MP3 on the fly.
///
/// With no command, `tapedeck` serves your music directory (~/Music) on
/// 0.0.0.0:8340, taking the same options as `tapedeck serve`.
#[derive(Debug, Parser)]
#[command(name = "tapedeck", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the music library over HTTP (the default command).
    Serve(ServeArgs),
    /// Check a config file or print the default one.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Convert one audio file to MP3 and say what was done.
    Transcode(TranscodeArgs),
    /// Transcode tracks, folders and playlists into the cache ahead of time,
    /// with a progress bar. Goes through the running server when there is
    /// one (it keeps its budget and serves plays first); else works here,
    /// holding the cache directory's lock.
    Warm(WarmArgs),
    /// Cache maintenance, through the running server or under the cache lock.
    #[command(subcommand)]
    Cache(CacheCommand),
}

#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Tracks, folders or .m3u/.m3u8 playlists: paths on this machine inside
    /// the music root, or paths relative to the music root.
    #[arg(required = true, value_name = "PATH|PLAYLIST")]
    pub entries: Vec<String>,
    /// Level(s) to warm: high, medium, low; repeat or separate with commas
    /// [default: warm.qualities from the config, else medium].
    #[arg(long, short = 'q', value_name = "LEVEL")]
    pub quality: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, size against the budget, and (from a running server) hit counts.
    Stats(CommonArgs),
    /// Delete cached entries: all, or those not played for N days.
    Clear {
        /// Only entries not played for more than this many days.
        #[arg(long, value_name = "N")]
        older_than_days: Option<u32>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Check that every entry is a whole MP3 (frames from first to last,
    /// matching its Info tag); remove and list broken ones. Exits 1 when
    /// any was removed.
    Verify(CommonArgs),
}

/// Where the config, music and cache are: shared by `serve`, `warm` and `cache`.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Config file [default: ~/.config/tapedeck/config.toml if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Music root, overriding library.root [default: ~/Music].
    #[arg(long, value_name = "DIR")]
    pub music: Option<PathBuf>,
    /// Cache directory, overriding cache.dir [default: ~/.cache/tapedeck].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Listening-state directory, overriding state.dir
    /// [default: ~/.local/state/tapedeck].
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TranscodeArgs {
    /// The audio file to read (FLAC, WAV, AIFF, M4A, Ogg Vorbis, MP3).
    pub input: PathBuf,
    /// The MP3 file to write (replaced if it exists).
    pub output: PathBuf,
    /// Quality level: high (256 kbit/s), medium (192) or low (128).
    #[arg(long, default_value = "medium")]
    pub quality: String,
    /// LAME's algorithm selection (its -q), 0 (best, slowest) to 9 (fastest).
    #[arg(long = "encoder-quality", default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=9))]
    pub lame_algorithm: u8,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate FILE; prints the first error with its line and exits non-zero.
    Check {
        /// The TOML config file to check.
        file: PathBuf,
    },
    /// Print the full default config, with a comment on every key.
    Default,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on, overriding server.listen [default: 0.0.0.0:8340].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less log output (-q warnings and errors only, -qq errors only).
    #[arg(short, long, action = ArgAction::Count)]
    pub quiet: u8,
}
