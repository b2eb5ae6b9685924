//! Covers at the sizes phones ask for: Subsonic apps want small thumbnails
//! (`getCoverArt?size=`), and a 3000-pixel scan costs a phone megabytes per
//! list row. A scaled picture is derived data, kept in the transcode cache
//! under its own key so it is made once.

use std::io::Read;
use std::sync::Arc;

use image::codecs::jpeg::JpegEncoder;

use super::CoverImage;
use crate::cache::{Cache, EntryKind, Key};

/// JPEG quality of scaled covers (libjpeg's scale): small, and clean at
/// phone sizes.
const COVER_JPEG_QUALITY: u8 = 85;

/// `cover` scaled to fit `side` pixels (its longest side, never enlarged),
/// as a JPEG with its own ETag: from `cache` when it was made before, else
/// made now and kept there when `keep` (the config's `cache.enabled`). A
/// picture that cannot be decoded, or a JPEG no larger than `side`, comes
/// back as it is.
pub fn scaled(cover: CoverImage, side: u32, cache: Option<&Arc<Cache>>, keep: bool) -> CoverImage {
    let etag = format!("{}-{side}\"", cover.etag.trim_end_matches('"'));
    let key = Key::derived("cover", &[cover.etag.as_bytes(), &side.to_le_bytes()]);
    if let Some(mut file) = cache.and_then(|c| c.lookup(&key)) {
        let mut data = Vec::new();
        if file.read_to_end(&mut data).is_ok() {
            return CoverImage {
                mime_type: "image/jpeg".to_owned(),
                data,
                etag,
            };
        }
    }
    let image = match image::load_from_memory(&cover.data) {
        Ok(i) => i,
        Err(e) => {
            log::debug!(
                "cover art: cannot decode a {} picture: {e}",
                cover.mime_type
            );
            return cover;
        }
    };
    if image.width().max(image.height()) <= side && cover.mime_type == "image/jpeg" {
        return cover;
    }
    let small = if image.width().max(image.height()) > side {
        image.thumbnail(side, side)
    } else {
        image
    };
    let mut jpeg = Vec::new();
    let encoded = small
        .to_rgb8()
        .write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, COVER_JPEG_QUALITY));
    if let Err(e) = encoded {
        log::warn!("cover art: cannot encode a scaled picture: {e}");
        return cover;
    }
    if let Some(cache) = cache
        && keep
    {
        match cache.store_bytes(&key, EntryKind::Jpeg, &jpeg) {
            Ok(_) => {}
            Err(e) => log::warn!("cache: cannot store a scaled cover: {e}"),
        }
    }
    CoverImage {
        mime_type: "image/jpeg".to_owned(),
        data: jpeg,
        etag,
    }
}
