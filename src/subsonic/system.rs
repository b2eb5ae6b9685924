//! The small calls: `getLicense`, `getOpenSubsonicExtensions`, `getUser`,
//! `getMusicFolders`, `getScanStatus` and `startScan`.

use super::Call;
use super::error::ApiError;
use super::node::{Node, Payload, Val};
use crate::ids::MUSIC_FOLDER_ID;

/// The OpenSubsonic extensions tapedeck implements, with their versions.
pub const EXTENSIONS: [(&str, i64); 4] = [
    ("formPost", 1),
    ("apiKeyAuthentication", 1),
    ("transcodeOffset", 1),
    ("indexBasedQueue", 1),
];

/// `getOpenSubsonicExtensions` (answered without credentials).
pub fn extensions() -> Payload {
    Payload::List(
        "openSubsonicExtensions",
        EXTENSIONS
            .iter()
            .map(|(name, version)| {
                Node::new()
                    .attr("name", *name)
                    .texts("versions", vec![Val::Int(*version)])
            })
            .collect(),
    )
}

/// `getLicense`: always valid (tapedeck is free software).
pub fn license() -> Payload {
    Payload::One("license", Node::new().attr("valid", true))
}

/// `getMusicFolders`: the one music root.
pub fn music_folders() -> Payload {
    Payload::One(
        "musicFolders",
        Node::new().list(
            "musicFolder",
            vec![
                Node::new()
                    .attr("id", MUSIC_FOLDER_ID)
                    .attr("name", "Music"),
            ],
        ),
    )
}

/// `getUser`: the caller, or (for an admin) anyone.
///
/// Errors: 10 without `username`, 50 when someone who is not admin asks
/// for another user, 70 for an unknown user.
pub fn user(call: &Call<'_>) -> Result<Payload, ApiError> {
    let name = call.params.required("username")?;
    if name != call.user.name && !call.user.admin {
        return Err(ApiError::NotAuthorized(
            "only an admin may see another user's details",
        ));
    }
    let user = call
        .ctx
        .auth
        .users()
        .iter()
        .find(|u| u.name == name)
        .ok_or(ApiError::NotFound("user"))?;
    // Roles: everyone may stream, download, fetch covers and (once they
    // are stored) make playlists; only admin is per user.
    let node = Node::new()
        .attr("username", user.name.as_str())
        .attr("scrobblingEnabled", false)
        .attr("adminRole", user.admin)
        .attr("settingsRole", false)
        .attr("downloadRole", true)
        .attr("uploadRole", false)
        .attr("playlistRole", true)
        .attr("coverArtRole", true)
        .attr("commentRole", false)
        .attr("podcastRole", false)
        .attr("streamRole", true)
        .attr("jukeboxRole", false)
        .attr("shareRole", false)
        .attr("videoConversionRole", false)
        .texts("folder", vec![Val::Int(MUSIC_FOLDER_ID)]);
    Ok(Payload::One("user", node))
}

/// `getScanStatus`, and `startScan` (`start = true`), which asks the
/// library scan to run now.
pub fn scan_status(call: &Call<'_>, start: bool) -> Payload {
    let app = &call.ctx.app;
    if start && let Some(scanner) = &app.scanner {
        scanner.request();
    }
    let status = app.catalog.scan_status();
    Payload::One(
        "scanStatus",
        Node::new()
            .attr("scanning", status.scanning || start)
            .attr("count", status.count),
    )
}
