//! A call's parameters: the query string merged with an
//! `application/x-www-form-urlencoded` body (the OpenSubsonic `formPost`
//! extension: py-sonic and libopensonic POST everything, credentials
//! included). Repeated names (`id=1&id=2`) keep every value, from both
//! places, in order.

use super::error::ApiError;
use crate::http::{Method, Request};

/// The parameters of one call.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The query string of `req`, then its form body when it is one.
    pub fn of(req: &Request) -> Params {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(req.query.as_bytes())
            .into_owned()
            .collect();
        let form = req.header("Content-Type").is_some_and(|ct| {
            ct.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        if req.method == Method::Post && form {
            pairs.extend(form_urlencoded::parse(&req.body).into_owned());
        }
        Params { pairs }
    }

    /// Parameters from `pairs` (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params {
            pairs: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// True when `name` was given (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The value of a required parameter.
    ///
    /// Errors: [`ApiError::Missing`] (code 10) when it was not given.
    pub fn required(&self, name: &'static str) -> Result<&str, ApiError> {
        self.get(name).ok_or(ApiError::Missing(name))
    }

    /// An integer parameter, `default` when absent or empty.
    ///
    /// Errors: [`ApiError::Invalid`] (code 0) naming the parameter when it
    /// is not an integer in `min..=max`.
    pub fn int(
        &self,
        name: &'static str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ApiError> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::Invalid(format!("{name} must be a whole number from {min} to {max}"))
                }),
        }
    }

    /// An optional integer parameter.
    ///
    /// Errors: as for [`Params::int`].
    pub fn opt_int(&self, name: &'static str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(_) => self.int(name, 0, min, max).map(Some),
        }
    }

    /// A boolean parameter (`true`/`false`/`1`/`0` in any case: py-sonic
    /// sends Python's `True`), `default` when absent.
    ///
    /// Errors: [`ApiError::Invalid`] for anything else.
    pub fn bool(&self, name: &'static str, default: bool) -> Result<bool, ApiError> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
            Some(_) => Err(ApiError::Invalid(format!("{name} must be true or false"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_body_merge_keeping_repeats() {
        let mut req = Request::new(Method::Post, "/rest/star.view?id=a&f=json");
        req.headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded; charset=UTF-8".into(),
        ));
        req.body = b"u=anna&id=b&id=c+d&submission=True".to_vec();
        let p = Params::of(&req);
        assert_eq!(p.all("id"), ["a", "b", "c d"]);
        assert_eq!(p.get("u"), Some("anna"));
        assert!(p.bool("submission", false).unwrap());
        assert!(p.required("nope").is_err());
    }

    #[test]
    fn numbers_and_booleans_are_checked() {
        let p = Params::from_pairs(&[("size", "600"), ("offset", "x"), ("b", "maybe"), ("e", "")]);
        assert!(p.int("size", 10, 1, 500).is_err());
        assert!(p.int("offset", 0, 0, i64::MAX).is_err());
        assert_eq!(p.int("count", 10, 0, 500).unwrap(), 10);
        assert_eq!(p.int("e", 7, 0, 9).unwrap(), 7);
        assert!(p.bool("b", false).is_err());
        assert_eq!(p.opt_int("e", 0, 9).unwrap(), None);
    }

    #[test]
    fn a_get_body_is_ignored() {
        let mut req = Request::new(Method::Get, "/rest/ping?u=a");
        req.headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        req.body = b"u=b".to_vec();
        assert_eq!(Params::of(&req).all("u"), ["a"]);
    }
}
