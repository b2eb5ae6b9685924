//! The library and users the Subsonic tests share (tests/subsonic.rs and
//! tests/subsonic_clients.rs).

use std::path::Path;

use id3::TagLike;

use super::{write_tagged_wav, write_wav};

pub const USERS: &str = r#"
[[users]]
name = "anna"
password = "open sesame"
api_key = "anna-key-0123456789abcdef"

[[users]]
name = "root"
password = "rootpw"
admin = true
quality = "low"
"#;

fn tag(title: &str, artist: &str, album: &str, track: u32, genre: &str) -> id3::Tag {
    let mut t = id3::Tag::new();
    t.set_title(title);
    t.set_artist(artist);
    t.set_album(album);
    t.set_track(track);
    t.set_year(2001);
    t.set_genre(genre);
    t
}

/// Two tagged albums of one artist (one with a PNG cover), an untagged
/// album, a FLAC with an embedded cover, a loose track, a playlist, and a
/// secret outside the root.
pub fn library(root: &Path) {
    let a1 = root.join("Zoë/First Light");
    let a2 = root.join("Zoë/Second Wind");
    std::fs::create_dir_all(&a1).unwrap();
    std::fs::create_dir_all(&a2).unwrap();
    for (i, title) in ["Dawn", "Morning", "Noon"].iter().enumerate() {
        let n = i as u32 + 1;
        write_tagged_wav(
            &a1.join(format!("0{n} {title}.wav")),
            4410,
            n,
            &tag(title, "Zoë", "First Light", n, "Ambient"),
        );
    }
    for (i, title) in ["Gust", "Breeze"].iter().enumerate() {
        let n = i as u32 + 1;
        write_tagged_wav(
            &a2.join(format!("0{n} {title}.wav")),
            4410,
            n + 10,
            &tag(title, "Zoë", "Second Wind", n, "Rock"),
        );
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cover.png"),
        a2.join("cover.png"),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("The Band/Untagged")).unwrap();
    write_wav(
        &root.join("The Band/Untagged/01 one.wav"),
        44_100,
        2,
        44_100 * 3,
        7,
    );
    std::fs::create_dir_all(root.join("Other")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tagged.flac"),
        root.join("Other/tagged.flac"),
    )
    .unwrap();
    write_wav(&root.join("loose.wav"), 44_100, 1, 4410, 9);
    std::fs::create_dir_all(root.join("Lists")).unwrap();
    std::fs::write(
        root.join("Lists/mix.m3u"),
        "#EXTM3U\n../Zoë/Second Wind/02 Breeze.wav\n../Other/tagged.flac\nmissing.wav\n",
    )
    .unwrap();
    std::fs::write(root.parent().unwrap().join("secret.txt"), b"TOPSECRET").unwrap();
}
