//! A small Subsonic client for the tests: salted-token logins and GET
//! calls answered in JSON, against any address (an in-process server or a
//! child process).

use serde_json::Value;
use tapedeck::subsonic::token;

use super::{Client, Resp};

/// Token login as `user` with `password`, asking for JSON.
pub fn creds(user: &str, password: &str) -> Vec<(String, String)> {
    let salt = "c0ffee42";
    [
        ("u", user.to_owned()),
        ("t", token(password, salt)),
        ("s", salt.to_owned()),
        ("v", "1.16.1".to_owned()),
        ("c", "tests".to_owned()),
        ("f", "json".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub fn query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// GET `/rest/<method>` at `addr` with `creds`, `extra` parameters and
/// `headers`; the raw answer.
pub fn get_at(
    at: impl Client,
    method: &str,
    creds: &[(String, String)],
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Resp {
    let mut all = creds.to_vec();
    all.extend(pairs(extra));
    at.request(
        "GET",
        &format!("/rest/{method}?{}", query(&all)),
        headers,
        &[],
    )
}

/// A JSON call; the `subsonic-response` object.
pub fn call_at(
    at: impl Client,
    creds: &[(String, String)],
    method: &str,
    extra: &[(&str, &str)],
) -> Value {
    let r = get_at(at, method, creds, extra, &[]);
    assert_eq!(
        r.status,
        200,
        "{method}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()["subsonic-response"].clone()
}

/// A call that must succeed.
pub fn ok_at(
    at: impl Client,
    creds: &[(String, String)],
    method: &str,
    extra: &[(&str, &str)],
) -> Value {
    let v = call_at(at, creds, method, extra);
    assert_eq!(v["status"], "ok", "{method}: {v}");
    v
}

/// The error code of a call that must fail.
pub fn code(v: &Value) -> u64 {
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v["error"]["code"].as_u64().unwrap()
}
