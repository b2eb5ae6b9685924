//! Who is calling: the three ways a Subsonic client logs in, checked
//! against the `[[users]]` of the config (Subsonic 1.16.1 "Authentication";
//! OpenSubsonic `Extensions/apiKeyAuth.md`):
//!
//! - `u` + `p`: the password in clear, or `enc:` and its hex;
//! - `u` + `t` + `s`: `t` is the lowercase hex md5 of password + salt;
//! - `apiKey` alone (`apiKey` with `u`, `p`, `t` or `s` is error 43).
//!
//! Failed logins are counted per client address: after
//! [`MAX_FAILURES`] in a minute the address gets error 40 without a check
//! for a minute, and the burst is logged once. Secrets are compared in
//! constant time and never logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::error::ApiError;
use super::params::Params;
use crate::config::User;

/// Failed logins from one address within [`WINDOW`] before it is shut out.
pub const MAX_FAILURES: u32 = 10;
/// The window failures are counted in, and how long an address that
/// reached [`MAX_FAILURES`] is shut out.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Failed logins of one address.
struct Failures {
    since: Instant,
    count: u32,
    locked_until: Option<Instant>,
}

/// Checks credentials.
pub struct Authenticator {
    users: Vec<User>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl Authenticator {
    pub fn new(users: Vec<User>) -> Authenticator {
        Authenticator {
            users,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The configured users.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The user `params` log in as, from `peer`.
    ///
    /// Errors: 40 (no such user, wrong password, no user configured, or
    /// too many failures from `peer`), 43 (conflicting mechanisms), 44
    /// (unknown API key), 10 (no credentials at all).
    pub fn authenticate(&self, params: &Params, peer: Option<IpAddr>) -> Result<&User, ApiError> {
        if self.users.is_empty() {
            return Err(ApiError::WrongCredentials(
                "no Subsonic user is configured: add a [[users]] table with name and password to the config (`tapedeck config default` shows one) and restart tapedeck",
            ));
        }
        if let Some(ip) = peer
            && self.locked(ip)
        {
            return Err(ApiError::WrongCredentials(
                "too many failed logins from this address; try again in a minute",
            ));
        }
        let result = self.check(params);
        if let (Some(ip), Err(e)) = (peer, &result)
            && matches!(e, ApiError::WrongCredentials(_) | ApiError::InvalidApiKey)
        {
            self.failed(ip);
        }
        result
    }

    fn check(&self, params: &Params) -> Result<&User, ApiError> {
        if let Some(key) = params.get("apiKey") {
            if ["u", "p", "t", "s"].iter().any(|n| params.has(n)) {
                return Err(ApiError::Conflicting);
            }
            return self
                .users
                .iter()
                .find(|u| {
                    u.api_key
                        .as_deref()
                        .is_some_and(|k| constant_time_eq(k.as_bytes(), key.as_bytes()))
                })
                .ok_or(ApiError::InvalidApiKey);
        }
        let name = params.get("u").ok_or(ApiError::Missing("u"))?;
        let wrong = || ApiError::WrongCredentials("wrong username or password");
        let user = self.users.iter().find(|u| u.name == name);
        match (params.get("p"), params.get("t"), params.get("s")) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ApiError::Conflicting),
            (Some(p), None, None) => {
                let given = decode_password(p).ok_or_else(wrong)?;
                let user = user.ok_or_else(wrong)?;
                if constant_time_eq(given.as_bytes(), user.password.as_bytes()) {
                    Ok(user)
                } else {
                    Err(wrong())
                }
            }
            (None, Some(t), Some(s)) => {
                let user = user.ok_or_else(wrong)?;
                let want = token(&user.password, s);
                if constant_time_eq(want.as_bytes(), t.to_ascii_lowercase().as_bytes()) {
                    Ok(user)
                } else {
                    Err(wrong())
                }
            }
            (None, Some(_), None) => Err(ApiError::Missing("s")),
            (None, None, Some(_)) => Err(ApiError::Missing("t")),
            (None, None, None) => Err(ApiError::Missing("p")),
        }
    }

    fn locked(&self, ip: IpAddr) -> bool {
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match all.get(&ip).and_then(|f| f.locked_until) {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                all.remove(&ip);
                false
            }
            None => false,
        }
    }

    fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget old bursts so the map stays small.
        all.retain(|_, f| {
            f.locked_until.is_some_and(|t| now < t) || now.duration_since(f.since) < WINDOW
        });
        let f = all.entry(ip).or_insert(Failures {
            since: now,
            count: 0,
            locked_until: None,
        });
        if now.duration_since(f.since) >= WINDOW {
            f.since = now;
            f.count = 0;
        }
        f.count += 1;
        if f.count >= MAX_FAILURES && f.locked_until.is_none() {
            f.locked_until = Some(now + WINDOW);
            log::warn!(
                "subsonic: {} failed logins from {ip} within a minute; refusing its logins for {} s",
                f.count,
                WINDOW.as_secs()
            );
        }
    }
}

/// The token of `password` with `salt`: lowercase hex md5 of their UTF-8.
pub fn token(password: &str, salt: &str) -> String {
    let mut h = Md5::new();
    h.update(password.as_bytes());
    h.update(salt.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `p` as sent: clear, or `enc:` + hex (either case). The hex is of
/// UTF-8 bytes, or of code points below 256 as py-sonic writes it (`é` is
/// `E9`), which is Latin-1. `None` for broken hex.
fn decode_password(p: &str) -> Option<String> {
    let Some(hex) = p.strip_prefix("enc:") else {
        return Some(p.to_owned());
    };
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    let bytes = bytes?;
    Some(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    })
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the client's protocol version `v` (Subsonic "Versions": the same
/// major, and a minor no newer than ours). Absent or unreadable: accepted.
///
/// Errors: 20 for an older major, 30 for a newer version.
pub fn check_version(v: Option<&str>) -> Result<(), ApiError> {
    let Some(v) = v else { return Ok(()) };
    let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    match major {
        0 => Err(ApiError::ClientTooOld),
        1 if minor <= 16 => Ok(()),
        _ => Err(ApiError::ServerTooOld),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Authenticator {
        Authenticator::new(vec![
            User {
                name: "anna".into(),
                password: "sesame é".into(),
                api_key: Some("0123456789abcdef0123".into()),
                admin: false,
                quality: None,
            },
            User {
                name: "ben".into(),
                password: "x".into(),
                api_key: None,
                admin: true,
                quality: None,
            },
        ])
    }

    fn code(r: Result<&User, ApiError>) -> u32 {
        r.map(|_| 999).unwrap_or_else(|e| e.code())
    }

    #[test]
    fn every_mechanism_logs_in() {
        let a = users();
        let ok = |pairs: &[(&str, &str)]| {
            a.authenticate(&Params::from_pairs(pairs), None)
                .map(|u| u.name.clone())
        };
        assert_eq!(ok(&[("u", "anna"), ("p", "sesame é")]).unwrap(), "anna");
        // enc: with UTF-8 hex, lower and upper case, and with Latin-1 (py-sonic).
        let utf8: String = "sesame é".bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            ok(&[("u", "anna"), ("p", &format!("enc:{utf8}"))]).unwrap(),
            "anna"
        );
        assert_eq!(
            ok(&[
                ("u", "anna"),
                ("p", &format!("enc:{}", utf8.to_uppercase()))
            ])
            .unwrap(),
            "anna"
        );
        let latin1: String = "sesame é"
            .chars()
            .map(|c| format!("{:02X}", c as u32))
            .collect();
        assert_eq!(
            ok(&[("u", "anna"), ("p", &format!("enc:{latin1}"))]).unwrap(),
            "anna"
        );
        let t = token("sesame é", "c19b2d");
        assert_eq!(
            ok(&[("u", "anna"), ("t", &t), ("s", "c19b2d")]).unwrap(),
            "anna"
        );
        assert_eq!(
            ok(&[("u", "anna"), ("t", &t.to_uppercase()), ("s", "c19b2d")]).unwrap(),
            "anna"
        );
        assert_eq!(ok(&[("apiKey", "0123456789abcdef0123")]).unwrap(), "anna");
        // The example of the Subsonic API documentation.
        assert_eq!(
            token("sesame", "c19b2d"),
            "26719a1196d2a940705a59634eb18eab"
        );
    }

    #[test]
    fn every_failure_has_its_code() {
        let a = users();
        let c = |pairs: &[(&str, &str)]| code(a.authenticate(&Params::from_pairs(pairs), None));
        assert_eq!(c(&[("u", "anna"), ("p", "wrong")]), 40);
        assert_eq!(c(&[("u", "nobody"), ("p", "x")]), 40);
        assert_eq!(c(&[("u", "anna"), ("t", "00"), ("s", "salt")]), 40);
        assert_eq!(c(&[("u", "anna"), ("p", "enc:zz")]), 40);
        assert_eq!(c(&[("apiKey", "nope")]), 44);
        assert_eq!(c(&[("apiKey", "0123456789abcdef0123"), ("u", "anna")]), 43);
        assert_eq!(c(&[("u", "anna"), ("p", "x"), ("t", "y"), ("s", "z")]), 43);
        assert_eq!(c(&[("u", "anna")]), 10);
        assert_eq!(c(&[("p", "x")]), 10);
        assert_eq!(c(&[("u", "anna"), ("t", "y")]), 10);
        let none = Authenticator::new(Vec::new());
        let e = none
            .authenticate(&Params::from_pairs(&[("u", "a"), ("p", "b")]), None)
            .unwrap_err();
        assert_eq!(e.code(), 40);
        assert!(e.to_string().contains("[[users]]"), "{e}");
    }

    #[test]
    fn a_burst_of_failures_shuts_the_address_out() {
        let a = users();
        let ip: IpAddr = "192.168.1.9".parse().unwrap();
        let other: IpAddr = "192.168.1.10".parse().unwrap();
        let bad = Params::from_pairs(&[("u", "anna"), ("p", "wrong")]);
        let good = Params::from_pairs(&[("u", "anna"), ("p", "sesame é")]);
        for _ in 0..MAX_FAILURES {
            assert_eq!(code(a.authenticate(&bad, Some(ip))), 40);
        }
        assert_eq!(code(a.authenticate(&good, Some(ip))), 40, "shut out");
        assert_eq!(
            code(a.authenticate(&good, Some(other))),
            999,
            "others are not"
        );
    }

    #[test]
    fn versions() {
        assert!(check_version(Some("1.16.1")).is_ok());
        assert!(check_version(Some("1.2.0")).is_ok());
        assert!(check_version(None).is_ok());
        assert_eq!(check_version(Some("1.17.0")).unwrap_err().code(), 30);
        assert_eq!(check_version(Some("2.0.0")).unwrap_err().code(), 30);
        assert_eq!(check_version(Some("0.9")).unwrap_err().code(), 20);
    }
}
