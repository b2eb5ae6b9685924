//! The Subsonic API (1.16.1, with the OpenSubsonic additions), for the
//! phone apps people already use (DSub, Symfonium, Substreamer, Amperfy,
//! Tempo, Ultrasonic): `/rest/<method>` and `/rest/<method>.view`, GET or
//! POST (a form body is merged with the query: the `formPost` extension),
//! answered as XML (the default), JSON or JSONP.
//!
//! It is a second surface on the same services as `/play` and `/api`: the
//! library resolver (every ID is decoded and resolved like a URL path), the
//! catalog and its album index, the playlists, the transcoder, cache and
//! workers. Failures are HTTP 200 with a Subsonic error code, as the
//! protocol wants; only a method that is not GET, HEAD or POST is a 405.

mod annotation;
mod auth;
mod browse;
mod empty;
mod error;
mod lists;
mod media;
mod model;
mod node;
mod params;
mod playlists;
mod search;
mod system;

pub use auth::{Authenticator, token};

/// The protocol version tapedeck speaks.
pub const API_VERSION: &str = "1.16.1";

use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::app::App;
use crate::config::User;
use crate::http::{Body, Method, Reply, Request};
use crate::ids::Id;
use crate::library::{LibraryFile, RelPath};
use crate::state::{Annotation, Store, View};
use crate::surface::HttpError;
use error::ApiError;
use node::{Format, Payload};
use params::Params;

/// One call, authenticated.
pub(crate) struct Call<'a> {
    pub ctx: &'a Subsonic,
    pub req: &'a Request,
    pub params: Params,
    pub user: &'a User,
    /// The user's listening state as of the start of the call (`None`
    /// when the server keeps none).
    view: Option<View<'a>>,
    /// Plays per album folder, summed from the songs' (made on first use).
    album_plays: OnceCell<HashMap<RelPath, (u64, i64)>>,
}

impl<'a> Call<'a> {
    fn new(ctx: &'a Subsonic, req: &'a Request, params: Params, user: &'a User) -> Call<'a> {
        let view = ctx.app.state.as_ref().map(|s| s.view(&user.name));
        Call {
            ctx,
            req,
            params,
            user,
            view,
            album_plays: OnceCell::new(),
        }
    }

    /// The store, or error 0 saying the server keeps no listening state.
    pub fn store(&self) -> Result<&'a Store, ApiError> {
        self.ctx.app.state.as_deref().ok_or_else(|| {
            ApiError::Generic(
                "this server keeps no listening state (its state directory could not be opened; see its log)"
                    .to_owned(),
            )
        })
    }

    /// The library file a song ID names, resolved inside the music root
    /// (an ID is untrusted input).
    ///
    /// Errors: 70 for anything that is not a song ID of a file there.
    pub fn song_file(&self, id: &str) -> Result<LibraryFile, ApiError> {
        let Ok(Id::Song(path)) = Id::decode(id) else {
            return Err(ApiError::NotFound("song"));
        };
        self.ctx
            .app
            .library
            .resolve(&path)
            .map_err(|_| ApiError::NotFound("song"))
    }

    /// What the user's state says of the item `id` (stars and ratings of
    /// anything; plays of songs).
    pub fn annotation(&self, id: &Id) -> Annotation {
        self.view
            .as_ref()
            .map(|v| v.of(&id.encode()))
            .unwrap_or_default()
    }

    /// Plays of the album in `folder`: the sum of its songs' counts and
    /// the last of their plays (ms since the epoch).
    pub fn album_plays(&self, folder: &RelPath) -> Option<(u64, i64)> {
        self.album_plays
            .get_or_init(|| {
                let plays = self
                    .ctx
                    .app
                    .state
                    .as_ref()
                    .and_then(|s| s.plays(&self.user.name).ok())
                    .unwrap_or_default();
                crate::state::tally(plays.into_iter().filter_map(|p| match Id::decode(&p.id) {
                    Ok(Id::Song(path)) => Some((path.parent(), p.count, p.last_ms)),
                    _ => None,
                }))
            })
            .get(folder)
            .copied()
    }
}

/// The Subsonic surface: the services and the logins.
pub struct Subsonic {
    app: Arc<App>,
    /// The config's users and their failed-login counts.
    auth: Authenticator,
}

impl Subsonic {
    /// The surface over `app`, with `app.config.users` as its logins.
    pub fn new(app: Arc<App>) -> Subsonic {
        let auth = Authenticator::new(app.config.users.clone());
        Subsonic { app, auth }
    }

    /// Answers `/rest/...`; `method` is the path after `/rest/`.
    ///
    /// Errors: 405 for a method other than GET, HEAD or POST; everything
    /// else is an answer in the Subsonic format.
    pub fn handle(&self, req: &Request, method: &str) -> Result<Reply, HttpError> {
        handle(self, req, method)
    }
}

fn handle(ctx: &Subsonic, req: &Request, method: &str) -> Result<Reply, HttpError> {
    if !(req.is_get_or_head() || req.method == Method::Post) {
        return Err(HttpError::method_not_allowed(
            &req.method,
            "GET, HEAD, POST",
        ));
    }
    let method = method.strip_suffix(".view").unwrap_or(method);
    let params = Params::of(req);
    let format = match params.get("f").unwrap_or("xml") {
        "json" => Format::Json,
        "jsonp" => match params.get("callback") {
            Some(cb) if valid_callback(cb) => Format::Jsonp(cb.to_owned()),
            Some(_) => {
                let e = ApiError::Invalid("callback must be a JavaScript name".to_owned());
                return Ok(answer(&Format::Json, method, Err(e)));
            }
            None => {
                return Ok(answer(
                    &Format::Json,
                    method,
                    Err(ApiError::Missing("callback")),
                ));
            }
        },
        _ => Format::Xml,
    };
    // OpenSubsonic: this one must answer without credentials.
    if method == "getOpenSubsonicExtensions" {
        return Ok(answer(&format, method, Ok(system::extensions())));
    }
    let peer = req.peer.map(|p| p.ip());
    let user = match auth::check_version(params.get("v"))
        .and_then(|()| ctx.auth.authenticate(&params, peer))
    {
        Ok(user) => user,
        Err(e) => return Ok(answer(&format, method, Err(e))),
    };
    let call = Call::new(ctx, req, params, user);
    // Media goes out as bytes; everything else in the Subsonic envelope.
    let media = match method {
        "stream" => media::stream(&call),
        "download" => media::download(&call),
        "getCoverArt" => media::cover_art(&call),
        _ => return Ok(answer(&format, method, dispatch(&call, method))),
    };
    Ok(media.unwrap_or_else(|e| answer(&format, method, Err(e))))
}

/// The answer of the Subsonic `method` (all but the media ones).
fn dispatch(call: &Call<'_>, method: &str) -> Result<Payload, ApiError> {
    Ok(match method {
        "ping" => Payload::Empty,
        "getLicense" => system::license(),
        "getUser" => system::user(call)?,
        "getMusicFolders" => system::music_folders(),
        "getScanStatus" => system::scan_status(call, false),
        "startScan" => system::scan_status(call, true),
        "getIndexes" => browse::indexes(call)?,
        "getMusicDirectory" => browse::music_directory(call)?,
        "getArtists" => browse::artists(call)?,
        "getArtist" => browse::artist(call)?,
        "getAlbum" => browse::album(call)?,
        "getSong" => browse::song(call)?,
        "getGenres" => browse::genres(call),
        "getAlbumList" => lists::album_list(call, false)?,
        "getAlbumList2" => lists::album_list(call, true)?,
        "getRandomSongs" => lists::random_songs(call)?,
        "getSongsByGenre" => lists::songs_by_genre(call)?,
        "getPlaylists" => playlists::playlists(call)?,
        "getPlaylist" => playlists::playlist(call)?,
        "createPlaylist" => playlists::create(call)?,
        "updatePlaylist" => playlists::update(call)?,
        "deletePlaylist" => playlists::delete(call)?,
        "scrobble" => annotation::scrobble(call)?,
        "getNowPlaying" => annotation::now_playing(call)?,
        "star" => annotation::star(call, true)?,
        "unstar" => annotation::star(call, false)?,
        "setRating" => annotation::set_rating(call)?,
        "getStarred" => annotation::starred(call, false)?,
        "getStarred2" => annotation::starred(call, true)?,
        "getPlayQueue" => annotation::play_queue(call, false)?,
        "savePlayQueue" => annotation::save_play_queue(call, false)?,
        "getPlayQueueByIndex" => annotation::play_queue(call, true)?,
        "savePlayQueueByIndex" => annotation::save_play_queue(call, true)?,
        "getBookmarks" => annotation::bookmarks(call)?,
        "createBookmark" => annotation::create_bookmark(call)?,
        "deleteBookmark" => annotation::delete_bookmark(call)?,
        "search2" => search::search(call, false)?,
        "search3" => search::search(call, true)?,
        _ => {
            if let Some(empty) = empty::answer(call, method) {
                return empty;
            }
            return Err(ApiError::Generic(format!(
                "unknown method {method:?}: tapedeck does not offer it (see getOpenSubsonicExtensions and the README)"
            )));
        }
    })
}

/// The HTTP reply for `method`'s answer in `format`: always a 200 (the
/// protocol's rule), failures carrying their Subsonic code.
fn answer(format: &Format, method: &str, result: Result<Payload, ApiError>) -> Reply {
    let (content_type, bytes) = match result {
        Ok(payload) => node::render(format, Ok(payload)),
        Err(e) => {
            if !matches!(e, ApiError::NotFound(_) | ApiError::WrongCredentials(_)) {
                log::debug!("subsonic {method}: error {}: {e}", e.code());
            }
            node::render(format, Err(&e))
        }
    };
    Reply::new(200, Body::Bytes(bytes))
        .header("Content-Type", content_type)
        .header("Cache-Control", "no-store")
}

/// A JSONP callback must be a plain JavaScript name (dots allowed), so it
/// cannot smuggle script into the answer.
fn valid_callback(cb: &str) -> bool {
    !cb.is_empty()
        && cb.len() <= 128
        && cb
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
        && !cb.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_names_only() {
        assert!(valid_callback("cb") && valid_callback("jQuery_1.x$"));
        for bad in ["", "a(b)", "alert(1);x", "1a", "a b", "</script>"] {
            assert!(!valid_callback(bad), "{bad}");
        }
    }
}
