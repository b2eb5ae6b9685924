//! Unit tests of config loading and validation.

use super::*;

fn music_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn load(text: &str, music: &Path) -> Result<Config, ConfigError> {
    let overrides = Overrides {
        music: Some(music.to_owned()),
        ..Overrides::default()
    };
    Config::from_toml(text, Path::new("tapedeck.toml"), &overrides)
}

fn error(text: &str) -> String {
    let music = music_dir();
    match load(text, music.path()) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_file_gives_defaults() {
    let music = music_dir();
    let c = load("", music.path()).expect("defaults are valid");
    assert_eq!(c.server.listen, "0.0.0.0:8340".parse().unwrap());
    assert_eq!(c.server.max_connections, 32);
    assert_eq!(c.cache.max_size_bytes, 2 * 1024 * 1024 * 1024);
    assert_eq!(c.transcode.lame_algorithm, 3);
    assert_eq!(c.transcode.max_art_bytes, 1 << 20);
    assert_eq!(c.transcode.nice, 10);
    assert_eq!(
        c.transcode.bitrate_kbps,
        Bitrates {
            high: 256,
            medium: 192,
            low: 128
        }
    );
    assert_eq!(c.transcode.default_quality, Quality::Original);
    assert!(c.transcode.workers >= 1);
    assert_eq!(c.admin.token, None);
    assert_eq!(c.library.root, std::fs::canonicalize(music.path()).unwrap());
}

#[test]
fn printed_default_config_parses_to_the_defaults() {
    let music = music_dir();
    let printed = default_toml();
    // Every key carries a comment line right above it (or shares its block).
    assert!(printed.lines().filter(|l| l.contains(" = ")).count() >= 15);
    let from_printed = load(&printed, music.path()).expect("printed default parses");
    let mut from_empty = load("", music.path()).unwrap();
    // The printed cache dir is shown with "~"; compare it expanded.
    from_empty.cache.dir = from_printed.cache.dir.clone();
    assert_eq!(from_printed, from_empty);
}

#[test]
fn unknown_key_is_rejected_with_line_and_column() {
    let msg = error("[server]\nlisten = \"127.0.0.1:1\"\nmax_conections = 4\n");
    assert!(msg.starts_with("tapedeck.toml:3:1: "), "{msg}");
    assert!(msg.contains("max_conections"), "{msg}");
}

#[test]
fn unknown_section_is_rejected() {
    let msg = error("[serverr]\nlisten = \"127.0.0.1:1\"\n");
    assert!(msg.starts_with("tapedeck.toml:1:"), "{msg}");
    assert!(msg.contains("serverr"), "{msg}");
}

#[test]
fn wrong_type_is_rejected_with_line() {
    let msg = error("[server]\n\nmax_connections = \"many\"\n");
    assert!(msg.starts_with("tapedeck.toml:3:19: "), "{msg}");
    assert!(msg.contains("integer"), "{msg}");
}

#[test]
fn invalid_toml_is_rejected_with_line() {
    let msg = error("[cache]\nmax_size = 2 GiB\n");
    assert!(msg.starts_with("tapedeck.toml:2:"), "{msg}");
}

#[test]
fn impossible_budget_is_rejected_with_line_and_explanation() {
    let msg = error("[cache]\nenabled = true\nmax_size = \"12 parsecs\"\n");
    assert_eq!(
        msg,
        "tapedeck.toml:3:12: cache.max_size: \"12 parsecs\" is not a size; write a number and a unit such as \"500 MiB\" or \"2 GiB\""
    );
    assert!(error("[cache]\nmax_size = \"10 KiB\"\n").contains("too small"));
}

#[test]
fn human_sizes_are_understood() {
    let music = music_dir();
    for (text, bytes) in [
        ("500 MiB", 500 * 1024 * 1024),
        ("2GiB", 2 * 1024 * 1024 * 1024),
        ("1 GB", 1_000_000_000),
        ("100 MB", 100_000_000),
    ] {
        let c = load(&format!("[cache]\nmax_size = \"{text}\"\n"), music.path()).unwrap();
        assert_eq!(c.cache.max_size_bytes, bytes, "{text}");
    }
}

#[test]
fn port_out_of_range_is_rejected() {
    let msg = error("[server]\nlisten = \"0.0.0.0:70000\"\n");
    assert!(
        msg.starts_with("tapedeck.toml:2:10: server.listen: port 70000 is out of range"),
        "{msg}"
    );
    assert!(error("[server]\nlisten = \"pi.local:80\"\n").contains("not an IP address"));
    assert!(error("[server]\nlisten = \"8340\"\n").contains("IP:PORT"));
}

#[test]
fn missing_music_root_is_rejected_with_line() {
    let text = "[library]\nroot = \"/definitely/not/here\"\n";
    let err = Config::from_toml(text, Path::new("t.toml"), &Overrides::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.toml:2:8: library.root: music directory /definitely/not/here does not exist"
    );
}

#[test]
fn missing_music_root_from_flag_names_the_flag() {
    let overrides = Overrides {
        music: Some(PathBuf::from("/definitely/not/here")),
        ..Overrides::default()
    };
    let err = Config::from_toml("", Path::new("t.toml"), &overrides).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--music: music directory /definitely/not/here does not exist"
    );
}

#[test]
fn a_missing_default_music_dir_means_the_demo_library() {
    let dir = music_dir();
    let cache = dir.path().join("cache");
    let (root, demo) =
        music_root_or_demo(dir.path().join("Music"), Origin::Default, &cache).unwrap();
    assert!(demo);
    assert_eq!(root, crate::demo::location(&cache));
    // Deciding writes nothing; App::new makes the library.
    assert!(!cache.exists());
}

#[test]
fn an_existing_default_music_dir_is_served_not_the_demo() {
    let dir = music_dir();
    let (root, demo) = music_root_or_demo(
        dir.path().to_owned(),
        Origin::Default,
        &dir.path().join("cache"),
    )
    .unwrap();
    assert!(!demo);
    assert_eq!(root, std::fs::canonicalize(dir.path()).unwrap());
}

#[test]
fn a_missing_music_dir_that_was_given_is_an_error_not_the_demo() {
    let cache = music_dir();
    let missing = cache.path().join("Music");
    let origins = [
        Origin::Flag("--music"),
        Origin::File {
            path: PathBuf::from("t.toml"),
            line: 2,
            column: 8,
        },
    ];
    for origin in origins {
        let err = music_root_or_demo(missing.clone(), origin.clone(), cache.path()).unwrap_err();
        assert!(
            err.to_string().contains("does not exist"),
            "{origin:?}: {err}"
        );
    }
    // Through the whole load as well: the flag and the file's root.
    let overrides = Overrides {
        music: Some(missing.clone()),
        cache: Some(cache.path().to_owned()),
        ..Overrides::default()
    };
    assert!(Config::from_toml("", Path::new("t.toml"), &overrides).is_err());
    let text = format!("[library]\nroot = {:?}\n", missing.display().to_string());
    let overrides = Overrides {
        cache: Some(cache.path().to_owned()),
        ..Overrides::default()
    };
    assert!(Config::from_toml(&text, Path::new("t.toml"), &overrides).is_err());
}

#[test]
fn relative_root_is_taken_from_the_config_files_directory() {
    let dir = music_dir();
    std::fs::create_dir(dir.path().join("tunes")).unwrap();
    let cfg = dir.path().join("tapedeck.toml");
    let c =
        Config::from_toml("[library]\nroot = \"tunes\"\n", &cfg, &Overrides::default()).unwrap();
    assert_eq!(
        c.library.root,
        std::fs::canonicalize(dir.path().join("tunes")).unwrap()
    );
}

#[test]
fn out_of_range_numbers_are_rejected() {
    assert!(
        error("[transcode]\nnice = 20\n")
            .starts_with("tapedeck.toml:2:8: transcode.nice: 20 is out of range; use 0 to 19")
    );
    assert!(error("[transcode]\nencoder_quality = -1\n").contains("use 0 to 9"));
    assert!(error("[server]\nmax_connections = 0\n").contains("use 1 to 4096"));
    assert!(error("[server]\nread_timeout_secs = 0\n").contains("server.read_timeout_secs"));
    assert!(error("[transcode]\nworkers = 1000\n").contains("transcode.workers"));
}

#[test]
fn bitrates_must_be_mp3_bitrates_in_order() {
    assert!(
        error("[transcode.bitrate_kbps]\nhigh = 250\n")
            .contains("250 kbit/s is not an MP3 bitrate")
    );
    let msg = error("[transcode.bitrate_kbps]\nlow = 48\n");
    assert!(
        msg.contains("48 kbit/s is not an MP3 bitrate tapedeck encodes at"),
        "{msg}"
    );
    let msg = error("[transcode.bitrate_kbps]\nlow = 224\n");
    assert!(
        msg.contains("low (224 kbit/s) must not exceed medium (192 kbit/s)"),
        "{msg}"
    );
}

#[test]
fn unknown_default_quality_lists_valid_values() {
    let msg = error("[transcode]\ndefault_quality = \"ultra\"\n");
    assert!(
        msg.contains("valid values: original, high, medium, low"),
        "{msg}"
    );
}

#[test]
fn short_admin_token_is_rejected() {
    assert!(error("[admin]\ntoken = \"hunter2\"\n").contains("at least 16"));
    let music = music_dir();
    let c = load("[admin]\ntoken = \"0123456789abcdef0123\"\n", music.path()).unwrap();
    assert_eq!(c.admin.token.as_deref(), Some("0123456789abcdef0123"));
}

#[test]
fn listen_flag_overrides_file() {
    let music = music_dir();
    let overrides = Overrides {
        music: Some(music.path().to_owned()),
        listen: Some("127.0.0.1:9999".into()),
        ..Overrides::default()
    };
    let c = Config::from_toml(
        "[server]\nlisten = \"0.0.0.0:1\"\n",
        Path::new("t"),
        &overrides,
    )
    .unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:9999".parse().unwrap());
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncdé f", 8), (2, 5));
    assert_eq!(line_column("x", 0), (1, 1));
}
