//! The web player's listening state: it has no login, so it records as
//! `server.web_user` (the first configured user by default; nobody when
//! none is configured). `GET /api/listening` gives its home page
//! ("Recently played", "Starred"); `POST /api/star` and
//! `POST /api/scrobble` (JSON bodies) change it. Keys are the Subsonic
//! IDs, so the web player and that user's phone apps share one state.
//!
//! The POSTs want `Content-Type: application/json`, which a page of
//! another site cannot send without the browser asking first (CORS), so a
//! web page elsewhere cannot star or scrobble on the LAN's behalf.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::api::TrackJson;
use super::web;
use crate::app::App;
use crate::catalog::TrackItem;
use crate::http::{Body, Reply, Request};
use crate::ids::Id;
use crate::library::RelPath;
use crate::state::Store;
use crate::surface::HttpError;

/// Songs on the home page's "Recently played".
const RECENT: usize = 20;
/// Songs on its "Starred".
const STARRED: usize = 100;
/// Largest body read.
const MAX_BODY_BYTES: usize = 4096;

/// `GET /api/listening`.
#[derive(Serialize)]
struct Listening<'a> {
    /// Whose plays and stars these are; `null`: the web player records
    /// nothing (no user configured, or no state directory).
    user: Option<&'a str>,
    recent: Vec<TrackJson<'a>>,
    starred: Vec<TrackJson<'a>>,
}

/// The tracks of song `ids` still in the library, in order.
fn tracks(app: &App, ids: impl Iterator<Item = String>, limit: usize) -> Vec<TrackItem> {
    ids.filter_map(|id| match Id::decode(&id) {
        Ok(Id::Song(path)) => app.catalog.track_item(&path).ok(),
        _ => None,
    })
    .take(limit)
    .collect()
}

/// `GET /api/listening`: the web user's last played and starred songs,
/// the latest first.
///
/// Errors: 500 when the store cannot be read.
pub fn listening(app: &App) -> Result<Reply, HttpError> {
    let Some((user, store)) = web(app) else {
        let empty = Listening {
            user: None,
            recent: Vec::new(),
            starred: Vec::new(),
        };
        return Ok(Reply::json(200, &empty).header("Cache-Control", "no-cache"));
    };
    let internal = |e: crate::state::StoreError| HttpError::Internal {
        message: "the listening state cannot be read",
        detail: e.to_string(),
    };
    let mut plays = store.plays(user).map_err(internal)?;
    plays.sort_by_key(|p| std::cmp::Reverse(p.last_ms));
    let mut stars = store.stars(user).map_err(internal)?;
    stars.sort_by_key(|s| std::cmp::Reverse(s.at_ms));
    let recent = tracks(app, plays.into_iter().map(|p| p.id), RECENT);
    let starred = tracks(app, stars.into_iter().map(|s| s.id), STARRED);
    let answer = Listening {
        user: Some(user),
        recent: recent.iter().map(|t| TrackJson::new(app, t)).collect(),
        starred: starred.iter().map(|t| TrackJson::new(app, t)).collect(),
    };
    Ok(Reply::json(200, &answer).header("Cache-Control", "no-cache"))
}

/// The body of `POST /api/star` and `POST /api/scrobble`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    /// The track, relative to the music root.
    path: String,
    /// `star`: true to star, false to unstar.
    #[serde(default)]
    starred: Option<bool>,
}

/// Reads the JSON body and resolves its track.
fn change(app: &App, req: &Request) -> Result<(Change, String), HttpError> {
    let json = req
        .header("Content-Type")
        .is_some_and(|t| t.trim_start().starts_with("application/json"));
    if !json {
        return Err(HttpError::BadRequest(
            "send the body as Content-Type: application/json".to_owned(),
        ));
    }
    if req.body.len() > MAX_BODY_BYTES {
        return Err(HttpError::TooLarge(format!(
            "the body is limited to {MAX_BODY_BYTES} bytes"
        )));
    }
    let c: Change = serde_json::from_slice(&req.body)
        .map_err(|e| HttpError::BadRequest(format!("expected JSON {{\"path\": ...}}: {e}")))?;
    let path =
        RelPath::new(&c.path).map_err(|e| HttpError::BadRequest(format!("path: {}", e.0)))?;
    app.catalog.track_item(&path)?;
    let id = Id::Song(path).encode();
    Ok((c, id))
}

fn recording(app: &App) -> Result<(&str, &Store), HttpError> {
    web(app).ok_or_else(|| {
        HttpError::Conflict(
            "the web player records nothing: configure a [[users]] entry (server.web_user picks which)"
                .to_owned(),
        )
    })
}

fn saved(r: Result<(), crate::state::StoreError>) -> Result<Reply, HttpError> {
    r.map_err(|e| HttpError::Internal {
        message: "the listening state cannot be written",
        detail: e.to_string(),
    })?;
    Ok(Reply::new(204, Body::Empty))
}

/// `POST /api/star` `{"path": ..., "starred": true|false}`: 204 once it is
/// on disk.
///
/// Errors: 400 for a bad body or path, 404 for a track not in the
/// library, 409 when the web player records for nobody, 413 for a body
/// over 4 KiB, 500 when the store cannot be written.
pub fn star(app: &App, req: &Request) -> Result<Reply, HttpError> {
    let (c, id) = change(app, req)?;
    let (user, store) = recording(app)?;
    saved(if c.starred.unwrap_or(true) {
        store.star(user, &[id], SystemTime::now())
    } else {
        store.unstar(user, &[id])
    })
}

/// `POST /api/scrobble` `{"path": ...}`: one play of the track, now.
///
/// Errors: as for [`star`].
pub fn scrobble(app: &App, req: &Request) -> Result<Reply, HttpError> {
    let (_, id) = change(app, req)?;
    let (user, store) = recording(app)?;
    saved(store.scrobble(user, &id, SystemTime::now()))
}
