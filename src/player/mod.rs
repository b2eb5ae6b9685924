//! The phone player: its page and scripts ([`assets`], embedded in the
//! binary), the JSON API it browses and searches with ([`api`]) and its
//! stars and plays ([`annotation`]). It has no login: it records as
//! `server.web_user` ([`web`]). Tracks play through `/play`
//! ([`crate::play`]).

pub mod annotation;
pub mod api;
pub mod assets;

use serde::Serialize;

use crate::app::App;
use crate::http::{Reply, Request};
use crate::ids::Id;
use crate::library::RelPath;
use crate::state::Store;
use crate::surface::{HttpError, decode_dir_path, decode_path, only_get_or_head, only_post};

/// `GET /api/version`.
#[derive(Serialize)]
struct Version {
    name: &'static str,
    version: &'static str,
    /// Serving the demo library: the player says where to point tapedeck.
    demo: bool,
}

/// The web user and the store, when both exist.
pub fn web(app: &App) -> Option<(&str, &Store)> {
    let user = app.config.server.web_user.as_deref()?;
    Some((user, app.state.as_deref()?))
}

/// Whether the web user starred the track at `relative`.
pub fn web_starred(app: &App, relative: &RelPath) -> bool {
    web(app).is_some_and(|(user, store)| {
        store
            .view(user)
            .of(&Id::Song(relative.clone()).encode())
            .starred_ms
            .is_some()
    })
}

/// Answers `/api/…` and the page's files; `None` when `req` is for
/// neither.
///
/// Errors: 405 for a method the route does not take, 404 for a path that
/// is refused or missing, and each route's own (see [`api`],
/// [`annotation`]).
pub fn route(app: &App, req: &Request) -> Option<Result<Reply, HttpError>> {
    let path = req.path.as_str();
    if let Some(asset) = assets::find(path) {
        return Some(only_get_or_head(req).map(|()| assets::serve(asset, |name| req.header(name))));
    }
    let rest = path.strip_prefix("/api")?;
    Some(api_route(app, req, rest))
}

/// `/api` + `rest`.
fn api_route(app: &App, req: &Request, rest: &str) -> Result<Reply, HttpError> {
    if let Some(folder) = rest
        .strip_prefix("/browse/")
        .or_else(|| (rest == "/browse").then_some(""))
    {
        only_get_or_head(req)?;
        return api::browse(app, &decode_dir_path(folder)?);
    }
    if let Some(file) = rest.strip_prefix("/playlists/") {
        only_get_or_head(req)?;
        return api::playlist(app, &decode_path(file)?);
    }
    if let Some(item) = rest.strip_prefix("/cover/") {
        only_get_or_head(req)?;
        return api::cover(app, req, &decode_dir_path(item)?);
    }
    match rest {
        "/search" => {
            only_get_or_head(req)?;
            api::search(app, req)
        }
        "/playlists" => {
            only_get_or_head(req)?;
            Ok(api::playlists(app))
        }
        "/listening" => {
            only_get_or_head(req)?;
            annotation::listening(app)
        }
        "/star" => {
            only_post(req)?;
            annotation::star(app, req)
        }
        "/scrobble" => {
            only_post(req)?;
            annotation::scrobble(app, req)
        }
        "/version" => {
            only_get_or_head(req)?;
            Ok(Reply::json(
                200,
                &Version {
                    name: "tapedeck",
                    version: env!("CARGO_PKG_VERSION"),
                    demo: app.config.library.demo,
                },
            ))
        }
        _ => Err(HttpError::not_found()),
    }
}
