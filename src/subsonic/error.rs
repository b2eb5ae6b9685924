//! Subsonic's error codes (Subsonic 1.16.1 "Error handling", OpenSubsonic
//! `Responses/error.md`): every failed call is HTTP 200 with
//! `status="failed"` and one of these, as the protocol does; clients read
//! `error.message`, so there always is one.

use std::fmt;

use crate::catalog::PlaylistError;
use crate::library::ResolveError;

/// Why a call failed, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 0: anything else, with a sentence (an unknown method, a bad value).
    Generic(String),
    /// 0: a parameter that is there but wrong.
    Invalid(String),
    /// 10: a required parameter is missing.
    Missing(&'static str),
    /// 20: the client speaks an older major version.
    ClientTooOld,
    /// 30: the client speaks a newer version than 1.16.1.
    ServerTooOld,
    /// 40: wrong user name or password (or no user configured, with a
    /// sentence saying how to add one).
    WrongCredentials(&'static str),
    /// 42: a way of logging in tapedeck does not offer.
    MechanismNotSupported(&'static str),
    /// 43: `apiKey` together with another way of logging in.
    Conflicting,
    /// 44: an `apiKey` no user has.
    InvalidApiKey,
    /// 50: the user may not do this.
    NotAuthorized(&'static str),
    /// 70: no such song, album, artist, folder, playlist or cover.
    NotFound(&'static str),
}

impl ApiError {
    /// The Subsonic error code.
    pub fn code(&self) -> u32 {
        match self {
            ApiError::Generic(_) | ApiError::Invalid(_) => 0,
            ApiError::Missing(_) => 10,
            ApiError::ClientTooOld => 20,
            ApiError::ServerTooOld => 30,
            ApiError::WrongCredentials(_) => 40,
            ApiError::MechanismNotSupported(_) => 42,
            ApiError::Conflicting => 43,
            ApiError::InvalidApiKey => 44,
            ApiError::NotAuthorized(_) => 50,
            ApiError::NotFound(_) => 70,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Generic(m) | ApiError::Invalid(m) => f.write_str(m),
            ApiError::Missing(name) => write!(f, "required parameter is missing: {name}"),
            ApiError::ClientTooOld => {
                f.write_str("incompatible Subsonic REST protocol version: the client must upgrade")
            }
            ApiError::ServerTooOld => write!(
                f,
                "incompatible Subsonic REST protocol version: this server speaks {}",
                super::API_VERSION
            ),
            ApiError::WrongCredentials(m) => f.write_str(m),
            ApiError::MechanismNotSupported(m) => f.write_str(m),
            ApiError::Conflicting => f.write_str(
                "multiple conflicting authentication mechanisms provided: send either apiKey alone, or u with p or t and s",
            ),
            ApiError::InvalidApiKey => f.write_str("invalid API key"),
            ApiError::NotAuthorized(m) => f.write_str(m),
            ApiError::NotFound(what) => write!(f, "{what} not found"),
        }
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> ApiError {
        match e {
            ResolveError::Rejected(_) | ResolveError::NotFound => ApiError::NotFound("item"),
            ResolveError::Io { .. } => {
                log::error!("subsonic: {e}");
                ApiError::Generic("the library could not be read".to_owned())
            }
        }
    }
}

impl From<PlaylistError> for ApiError {
    fn from(e: PlaylistError) -> ApiError {
        match e {
            PlaylistError::NotFound(_) => ApiError::NotFound("playlist"),
            PlaylistError::TooLarge(_) => ApiError::Generic(e.to_string()),
            PlaylistError::Io { .. } => {
                log::error!("subsonic: {e}");
                ApiError::Generic("the playlist could not be read".to_owned())
            }
        }
    }
}
