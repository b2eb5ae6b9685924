//! The one map from what can go wrong in a handler to the status and body
//! the client gets and the line the operator reads. Handlers return
//! `Result<Reply, HttpError>`; domain errors convert with `?`.
//!
//! Rules: anything refused or missing in the library is a plain `404 not
//! found` (a client cannot tell a refused path from a missing one, RFC 9110
//! §15.5.5 allows hiding it); a fault on our side is a `500` whose cause is
//! logged, never sent.

use std::fmt;

use log::{debug, error};

use crate::catalog::PlaylistError;
use crate::http::Reply;
use crate::library::ResolveError;
use crate::quality::{Quality, UnknownQuality};
use crate::warm::RequestError;

/// A request that cannot be answered as asked.
#[derive(Debug)]
pub enum HttpError {
    /// 400: the request is malformed; the message says how.
    BadRequest(String),
    /// 400: an unknown `quality`; the body lists the valid ones.
    UnknownQuality(UnknownQuality),
    /// 401: admin needs a bearer token (RFC 6750 §3).
    Unauthorized(&'static str),
    /// 403: not for this client.
    Forbidden(&'static str),
    /// 404 with this message. `detail` is logged at debug level.
    NotFound { message: String, detail: String },
    /// 405: the path exists, the method does not; `allow` lists the ones
    /// that do (RFC 9110 §15.5.6).
    MethodNotAllowed { method: String, allow: &'static str },
    /// 409: the request conflicts with the state of the resource.
    Conflict(String),
    /// 413: the body is larger than this route reads.
    TooLarge(String),
    /// 500: our fault. `message` goes to the client, `detail` to the log.
    Internal {
        message: &'static str,
        detail: String,
    },
    /// 503 with `Retry-After` (seconds): try again later.
    Unavailable { message: String, retry_after_s: u32 },
}

impl HttpError {
    /// A plain 404 with nothing to log.
    pub fn not_found() -> HttpError {
        HttpError::NotFound {
            message: "not found".to_owned(),
            detail: String::new(),
        }
    }

    /// 405 for `method` where only `allow` (e.g. `"GET, HEAD"`) is.
    pub fn method_not_allowed(method: &impl fmt::Display, allow: &'static str) -> HttpError {
        HttpError::MethodNotAllowed {
            method: method.to_string(),
            allow,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) | HttpError::UnknownQuality(_) => 400,
            HttpError::Unauthorized(_) => 401,
            HttpError::Forbidden(_) => 403,
            HttpError::NotFound { .. } => 404,
            HttpError::MethodNotAllowed { .. } => 405,
            HttpError::Conflict(_) => 409,
            HttpError::TooLarge(_) => 413,
            HttpError::Internal { .. } => 500,
            HttpError::Unavailable { .. } => 503,
        }
    }

    /// The reply for the client; logs what the operator needs. `what`
    /// names the request in the log line (`GET /play/...`).
    pub fn into_reply(self, what: &str) -> Reply {
        let status = self.status();
        match self {
            HttpError::BadRequest(m) | HttpError::Conflict(m) | HttpError::TooLarge(m) => {
                Reply::error(status, m)
            }
            HttpError::UnknownQuality(e) => Reply::json(
                status,
                &serde_json::json!({
                    "error": e.to_string(),
                    "status": status,
                    "valid": Quality::ALL.map(Quality::as_str),
                }),
            ),
            HttpError::Unauthorized(m) => Reply::error(status, m)
                .header("WWW-Authenticate", "Bearer realm=\"tapedeck admin\""),
            HttpError::Forbidden(m) => Reply::error(status, m),
            HttpError::NotFound { message, detail } => {
                if !detail.is_empty() {
                    debug!("{what}: {detail}");
                }
                Reply::error(status, message)
            }
            HttpError::MethodNotAllowed { method, allow } => {
                Reply::error(status, format!("method {method} not allowed here"))
                    .header("Allow", allow)
            }
            HttpError::Internal { message, detail } => {
                error!("{what}: {detail}");
                Reply::error(status, message)
            }
            HttpError::Unavailable {
                message,
                retry_after_s,
            } => Reply::error(status, message).header("Retry-After", retry_after_s.to_string()),
        }
    }
}

impl From<ResolveError> for HttpError {
    fn from(e: ResolveError) -> HttpError {
        match e {
            ResolveError::Rejected(_) | ResolveError::NotFound => HttpError::NotFound {
                message: "not found".to_owned(),
                detail: e.to_string(),
            },
            ResolveError::Io { .. } => HttpError::Internal {
                message: "the library could not be read",
                detail: e.to_string(),
            },
        }
    }
}

impl From<PlaylistError> for HttpError {
    fn from(e: PlaylistError) -> HttpError {
        match e {
            PlaylistError::NotFound(e) => e.into(),
            PlaylistError::TooLarge(_) => HttpError::TooLarge(e.to_string()),
            PlaylistError::Io { .. } => HttpError::Internal {
                message: "the playlist could not be read",
                detail: e.to_string(),
            },
        }
    }
}

impl From<RequestError> for HttpError {
    fn from(e: RequestError) -> HttpError {
        match e {
            // The list of entries is the useful part here.
            RequestError::NotFound(_) => HttpError::NotFound {
                message: e.to_string(),
                detail: String::new(),
            },
            RequestError::Invalid(m) => HttpError::BadRequest(m),
            RequestError::NoCache => HttpError::Conflict(e.to_string()),
        }
    }
}

impl From<UnknownQuality> for HttpError {
    fn from(e: UnknownQuality) -> HttpError {
        HttpError::UnknownQuality(e)
    }
}
