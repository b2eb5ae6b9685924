//! `[[users]]`: who may use the Subsonic API (the phone apps). Each user has
//! a name, a password (Subsonic's token scheme needs the clear password on
//! the server side: it checks md5(password + salt)), and optionally an API
//! key, admin rights and a default level.

use super::raw::{RawUser, Source, invalid};
use super::{ConfigError, Origin};
use crate::quality::Quality;

/// Shortest API key accepted, in characters.
const MIN_API_KEY_LEN: usize = 16;

/// A user of the Subsonic API.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// In clear: Subsonic's token check is md5(password + salt).
    pub password: String,
    /// The OpenSubsonic `apiKey`, when the user has one.
    pub api_key: Option<String>,
    /// May see every user's data (`getUser` for others).
    pub admin: bool,
    /// The level `stream` plays at when the app sets no bit rate limit;
    /// `None`: `transcode.default_quality`.
    pub quality: Option<Quality>,
}

impl std::fmt::Debug for User {
    // Never print a password or key, even in a debug dump of the config.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("admin", &self.admin)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .field("quality", &self.quality)
            .finish_non_exhaustive()
    }
}

/// Validates the `[[users]]` tables.
///
/// Errors: a missing or empty name or password, a name with characters
/// other than letters, digits, `.`, `_`, `-` and `@`, a name used twice, an
/// API key shorter than 16 visible ASCII characters or used twice, an
/// unknown level.
pub(super) fn validate(raw: Vec<RawUser>, src: &Source<'_>) -> Result<Vec<User>, ConfigError> {
    let mut users: Vec<User> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let nth = i + 1;
        let (name, name_origin) = src.take(r.name, String::new());
        if name.is_empty() {
            return Err(invalid(
                name_origin,
                "users.name",
                format!("user {nth} has no name; write name = \"anna\" in its [[users]] table"),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(invalid(
                name_origin,
                "users.name",
                format!("{name:?}: use letters, digits, '.', '_', '-' or '@'"),
            ));
        }
        if users.iter().any(|u| u.name == name) {
            return Err(invalid(
                name_origin,
                "users.name",
                format!("user {name:?} is defined twice"),
            ));
        }
        let (password, password_origin) = src.take(r.password, String::new());
        if password.is_empty() {
            let origin = match password_origin {
                Origin::Default => name_origin.clone(),
                o => o,
            };
            return Err(invalid(
                origin,
                "users.password",
                format!("user {name:?} needs a password that is not empty"),
            ));
        }
        let api_key = match r.api_key {
            None => None,
            Some(k) => {
                let origin = src.origin(k.span());
                let key = k.into_inner();
                if key.len() < MIN_API_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid(
                        origin,
                        "users.api_key",
                        format!(
                            "an API key must be at least {MIN_API_KEY_LEN} visible ASCII characters (e.g. the output of `openssl rand -hex 20`)"
                        ),
                    ));
                }
                if users.iter().any(|u| u.api_key.as_deref() == Some(&key)) {
                    return Err(invalid(
                        origin,
                        "users.api_key",
                        "two users have the same API key",
                    ));
                }
                Some(key)
            }
        };
        let quality = match r.quality {
            None => None,
            Some(q) => {
                let origin = src.origin(q.span());
                Some(
                    q.into_inner()
                        .parse::<Quality>()
                        .map_err(|e| invalid(origin, "users.quality", e.to_string()))?,
                )
            }
        };
        users.push(User {
            name,
            password,
            api_key,
            admin: r.admin.unwrap_or(false),
            quality,
        });
    }
    Ok(users)
}
