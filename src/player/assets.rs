//! The phone player's files (`src/player/web/`), embedded gzip-compressed by
//! `build.rs`: sent as they are to clients that accept gzip (every
//! browser), inflated for those that do not. Validated by a content ETag
//! and revalidated on every load (`no-cache`), so an upgraded binary is
//! picked up at once and an unchanged page costs a 304.

use std::io::Read;

use crate::http::{Body, Reply};

/// One embedded file.
pub struct Asset {
    /// URL path it is served at.
    pub path: &'static str,
    pub content_type: &'static str,
    /// The file, gzip-compressed (RFC 1952).
    pub gzip: &'static [u8],
    /// Uncompressed length in bytes.
    pub len: usize,
    /// Strong ETag from the uncompressed content.
    pub etag: &'static str,
}

/// Every embedded file.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The page's Content-Security-Policy: everything from this server only,
/// no inline script, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The embedded file at URL path `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether an `Accept-Encoding` value (RFC 9110 §12.5.3) allows gzip.
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

/// Serves `asset`, honouring `If-None-Match` and `Accept-Encoding`.
pub fn serve<'a>(asset: &Asset, header: impl Fn(&str) -> Option<&'a str>) -> Reply {
    let reply = if crate::http::conditional::none_match(&header, asset.etag) {
        Reply::new(304, Body::Empty)
    } else if accepts_gzip(header("Accept-Encoding")) {
        Reply::new(200, Body::Bytes(asset.gzip.to_vec()))
            .header("Content-Type", asset.content_type)
            .header("Content-Encoding", "gzip")
    } else {
        let mut data = Vec::with_capacity(asset.len);
        match flate2::read::GzDecoder::new(asset.gzip).read_to_end(&mut data) {
            Ok(_) => Reply::new(200, Body::Bytes(data)).header("Content-Type", asset.content_type),
            Err(e) => {
                log::error!("inflating the embedded {}: {e}", asset.path);
                return Reply::error(500, "the page could not be unpacked");
            }
        }
    };
    reply
        .header("ETag", asset.etag)
        .header("Cache-Control", "no-cache")
        .header("Vary", "Accept-Encoding")
        .header("Content-Security-Policy", CSP)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_negotiated() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn every_asset_inflates_to_its_length() {
        for a in ASSETS {
            let mut data = Vec::new();
            flate2::read::GzDecoder::new(a.gzip)
                .read_to_end(&mut data)
                .unwrap();
            assert_eq!(data.len(), a.len, "{}", a.path);
        }
        assert!(find("/").is_some() && find("/app.js").is_some());
    }
}
