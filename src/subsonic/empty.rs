//! Calls tapedeck has nothing to answer with: no podcasts, radio or
//! shares, and no internet lookups (artist and album info, similar and top
//! songs, lyrics). Each gets a valid, empty answer of its own shape, so an
//! app's home screen shows an empty section rather than an error.

use super::Call;
use super::error::ApiError;
use super::node::{Node, Payload};

/// The empty answer to `method`, or `None` when it is not one of these.
///
/// Errors: 10 when the call's required parameter (`id`, or `artist` for
/// `getTopSongs`) is missing, as for a real answer.
pub fn answer(call: &Call<'_>, method: &str) -> Option<Result<Payload, ApiError>> {
    let (name, required, node) = match method {
        "getInternetRadioStations" => ("internetRadioStations", None, Node::new()),
        "getPodcasts" => ("podcasts", None, Node::new()),
        "getNewestPodcasts" => ("newestPodcasts", None, Node::new()),
        "getShares" => ("shares", None, Node::new()),
        "getArtistInfo" => ("artistInfo", Some("id"), Node::new()),
        "getArtistInfo2" => ("artistInfo2", Some("id"), Node::new()),
        "getAlbumInfo" | "getAlbumInfo2" => ("albumInfo", Some("id"), Node::new()),
        "getSimilarSongs" => ("similarSongs", Some("id"), Node::new()),
        "getSimilarSongs2" => ("similarSongs2", Some("id"), Node::new()),
        "getTopSongs" => ("topSongs", Some("artist"), Node::new()),
        "getLyrics" => ("lyrics", None, Node::new().text("")),
        _ => return None,
    };
    Some(match required {
        Some(p) => call.params.required(p).map(|_| Payload::One(name, node)),
        None => Ok(Payload::One(name, node)),
    })
}
