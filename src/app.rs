//! The one place that assembles tapedeck's services from a [`Config`]:
//! the library, the catalog, the cache and its workers, the warmer and the
//! prefetcher. `tapedeck serve` and the in-process `tapedeck warm` build
//! the same [`App`]; only [`Mode`] differs.

use std::fmt;
use std::io;
use std::sync::Arc;

use log::error;

use crate::cache::Cache;
use crate::catalog::{Catalog, Scanner};
use crate::config::Config;
use crate::demo::{self, DemoError};
use crate::library::Library;
use crate::prefetch::Prefetcher;
use crate::state::Store;
use crate::warm::Warmer;
use crate::workers::{self, Settings, Workers};

/// What the services are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A server: a cache that cannot be used means originals only (logged),
    /// `[warm] on_start` is queued, plays prefetch their next track, and an
    /// abandoned transcode follows `transcode.finish_abandoned`.
    Serve,
    /// A command that warms the cache itself (`tapedeck warm` with no
    /// server): the cache must work, and every transcode runs to the end.
    Command,
}

/// The services, shared by every request.
pub struct App {
    pub config: Config,
    pub library: Library,
    /// Tags and listings for browsing and search.
    pub catalog: Arc<Catalog>,
    /// The transcoding workers and their cache; `None` when the cache
    /// directory cannot be used (every level then plays the original).
    pub workers: Option<Arc<Workers>>,
    /// Warm jobs; `None` without workers.
    pub warmer: Option<Warmer>,
    /// Next-track prefetch; `None` without workers, and for commands.
    pub prefetcher: Option<Prefetcher>,
    /// The library scan (tags, album index); servers only.
    pub scanner: Option<Scanner>,
    /// Listening state (plays, stars, queues, user playlists); servers
    /// only, and `None` when its directory cannot be used (logged; the
    /// server plays on without it).
    pub state: Option<Arc<Store>>,
}

/// Why the services could not be assembled.
#[derive(Debug)]
pub enum AppError {
    /// There is no music directory and the demo library could not be made.
    Demo(DemoError),
    /// The music root vanished between validation and now.
    Library(io::Error),
    /// The cache directory cannot be used ([`Mode::Command`] only).
    Cache { dir: String, err: io::Error },
    /// A service thread could not be started.
    Thread(io::Error),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Demo(e) => write!(
                f,
                "no music directory was given and the default one does not exist, and {e}; point --music at your music"
            ),
            AppError::Library(e) => write!(f, "opening the music root: {e}"),
            AppError::Cache { dir, err } => write!(f, "opening the cache {dir}: {err}"),
            AppError::Thread(e) => write!(f, "starting a thread: {e}"),
        }
    }
}

impl std::error::Error for AppError {}

impl App {
    /// Builds the services from a validated config.
    ///
    /// With no music directory ([`LibraryConfig::demo`](crate::config::LibraryConfig::demo)),
    /// the demo library is written first, when it is not there already.
    ///
    /// Errors: [`AppError::Demo`] when the demo library cannot be written,
    /// [`AppError::Library`] when the music root cannot be opened,
    /// [`AppError::Cache`] for an unusable cache in [`Mode::Command`],
    /// [`AppError::Thread`] when a worker, warm or prefetch thread cannot
    /// be started.
    pub fn new(config: Config, mode: Mode) -> Result<App, AppError> {
        if config.library.demo {
            let root = &config.library.root;
            if demo::ensure(root).map_err(AppError::Demo)? == demo::Ensured::Made {
                log::info!("demo library written to {}", root.display());
            }
            log::warn!(
                "demo library at {}: point --music at your music",
                root.display()
            );
        }
        let library = Library::new(&config.library.root, config.library.follow_symlinks)
            .map_err(AppError::Library)?;
        let catalog = Arc::new(Catalog::new(
            library.clone(),
            config.library.metadata_cache_entries,
        ));
        let workers = match Cache::open(&config.cache.dir, config.cache.max_size_bytes) {
            Ok(cache) => Some(Arc::new(
                Workers::start(cache, worker_settings(&config, mode)).map_err(AppError::Thread)?,
            )),
            Err(err) if mode == Mode::Command => {
                return Err(AppError::Cache {
                    dir: config.cache.dir.display().to_string(),
                    err,
                });
            }
            Err(e) => {
                error!(
                    "cache directory {} unusable ({e}); serving originals only",
                    config.cache.dir.display()
                );
                None
            }
        };
        let (warmer, prefetcher) = match &workers {
            Some(w) => {
                let warmer = Warmer::start(config.clone(), Arc::clone(&catalog), Arc::clone(w))
                    .map_err(AppError::Thread)?;
                let prefetcher = match mode {
                    Mode::Serve => Some(
                        Prefetcher::start(config.clone(), Arc::clone(&catalog), Arc::clone(w))
                            .map_err(AppError::Thread)?,
                    ),
                    Mode::Command => None,
                };
                if mode == Mode::Serve {
                    warmer.submit_on_start();
                }
                (Some(warmer), prefetcher)
            }
            None => (None, None),
        };
        // Tags are read ahead, quietly, so the first search is as fast as
        // the next and the album index exists; browsing works meanwhile.
        let scanner = match mode {
            Mode::Serve => Some(
                Scanner::start(Arc::clone(&catalog), config.transcode.nice)
                    .map_err(AppError::Thread)?,
            ),
            Mode::Command => None,
        };
        let state = match mode {
            Mode::Serve => match Store::open(&config.state.dir) {
                Ok(store) => {
                    log::info!("listening state: {}", config.state.dir.display());
                    Some(Arc::new(store))
                }
                Err(e) => {
                    log::error!("{e}; plays, stars and saved queues are not kept");
                    None
                }
            },
            Mode::Command => None,
        };
        Ok(App {
            config,
            library,
            catalog,
            workers,
            warmer,
            prefetcher,
            scanner,
            state,
        })
    }
}

fn worker_settings(config: &Config, mode: Mode) -> Settings {
    Settings {
        workers: config.transcode.workers,
        nice: config.transcode.nice,
        max_queue: config.transcode.max_queue,
        retry_failed_after: config.transcode.retry_failed_after,
        finish_abandoned: mode == Mode::Command || config.transcode.finish_abandoned,
        abandon_grace: workers::ABANDON_GRACE,
    }
}
