//! Unit tests of config loading and validation.

use super::raw::{display_with_tilde, music_root_or_demo};
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

/// Every check's message and where it points, exactly as a user reads it.
#[test]
fn each_invalid_value_is_reported_with_its_place_and_message() {
    for (text, message) in [
        (
            "[server]\nlisten = \"127.0.0.1:1\"\nmax_conections = 4\n",
            "tapedeck.toml:3:1: unknown field `max_conections`, expected one of `listen`, `max_connections`, `max_sockets`, `read_timeout_secs`, `write_timeout_secs`, `web_user`",
        ),
        (
            "[serverr]\n",
            "tapedeck.toml:1:2: unknown field `serverr`, expected one of `server`, `library`, `cache`, `transcode`, `warm`, `admin`, `state`, `users`",
        ),
        (
            "[server]\n\nmax_connections = \"many\"\n",
            "tapedeck.toml:3:19: invalid type: string \"many\", expected an integer",
        ),
        (
            "[cache]\nmax_size = 2 GiB\n",
            "tapedeck.toml:2:12: string values must be quoted, expected literal string",
        ),
        (
            "[server]\nlisten = \"0.0.0.0:70000\"\n",
            "tapedeck.toml:2:10: server.listen: port 70000 is out of range; use 1-65535 (or 0 for any free port)",
        ),
        (
            "[server]\nlisten = \"pi.local:80\"\n",
            "tapedeck.toml:2:10: server.listen: \"pi.local\" is not an IP address; use e.g. \"0.0.0.0:8340\" (all IPv4), \"[::]:8340\" (all IPv6) or \"127.0.0.1:8340\"",
        ),
        (
            "[server]\nlisten = \"8340\"\n",
            "tapedeck.toml:2:10: server.listen: \"8340\" is not an address and port; use IP:PORT such as \"0.0.0.0:8340\"",
        ),
        (
            "[server]\nmax_connections = 0\n",
            "tapedeck.toml:2:19: server.max_connections: 0 is out of range; use 1 to 4096 (requests served at once)",
        ),
        (
            "[server]\nmax_sockets = 7\n",
            "tapedeck.toml:2:15: server.max_sockets: 7 is out of range; use 8 to 65536 (open connections)",
        ),
        (
            "[server]\nread_timeout_secs = 0\n",
            "tapedeck.toml:2:21: server.read_timeout_secs: 0 is out of range; use 1 to 3600 (seconds)",
        ),
        (
            "[server]\nwrite_timeout_secs = 3601\n",
            "tapedeck.toml:2:22: server.write_timeout_secs: 3601 is out of range; use 1 to 3600 (seconds)",
        ),
        (
            "[server]\nweb_user = \"bob\"\n",
            "tapedeck.toml:2:12: server.web_user: \"bob\" is not a configured user (add a [[users]] table, or \"\" to record nothing)",
        ),
        (
            "[[users]]\nname = \"anna\"\npassword = \"x\"\n[server]\nweb_user = \"bob\"\n",
            "tapedeck.toml:5:12: server.web_user: \"bob\" is not a configured user (add a [[users]] table, or \"\" to record nothing)",
        ),
        (
            "[cache]\nmax_size = \"12 parsecs\"\n",
            "tapedeck.toml:2:12: cache.max_size: \"12 parsecs\" is not a size; write a number and a unit such as \"500 MiB\" or \"2 GiB\"",
        ),
        (
            "[cache]\nmax_size = \"10 KiB\"\n",
            "tapedeck.toml:2:12: cache.max_size: \"10 KiB\" is too small for a cache; use at least \"1 MiB\"",
        ),
        (
            "[transcode]\nworkers = 65\n",
            "tapedeck.toml:2:11: transcode.workers: 65 is out of range; use 0 to 64 (0 = number of CPUs minus one)",
        ),
        (
            "[transcode]\ndefault_quality = \"ultra\"\n",
            "tapedeck.toml:2:19: transcode.default_quality: unknown quality \"ultra\"; valid values: original, high, medium, low",
        ),
        (
            "[transcode.bitrate_kbps]\nhigh = 250\n",
            "tapedeck.toml:2:8: transcode.bitrate_kbps.high: 250 kbit/s is not an MP3 bitrate tapedeck encodes at (below 64 the frames cannot hold the Info tag); use one of 64, 80, 96, 112, 128, 160, 192, 224, 256, 320",
        ),
        (
            "[transcode.bitrate_kbps]\nmedium = 48\n",
            "tapedeck.toml:2:10: transcode.bitrate_kbps.medium: 48 kbit/s is not an MP3 bitrate tapedeck encodes at (below 64 the frames cannot hold the Info tag); use one of 64, 80, 96, 112, 128, 160, 192, 224, 256, 320",
        ),
        (
            "[transcode.bitrate_kbps]\nlow = 224\n",
            "tapedeck.toml:2:7: transcode.bitrate_kbps.low: low (224 kbit/s) must not exceed medium (192 kbit/s)",
        ),
        (
            "[transcode.bitrate_kbps]\nhigh = 128\n",
            "transcode.bitrate_kbps.medium (built-in default): medium (192 kbit/s) must not exceed high (128 kbit/s); set transcode.bitrate_kbps.medium in a config file or on the command line",
        ),
        (
            "[transcode]\nnice = 20\n",
            "tapedeck.toml:2:8: transcode.nice: 20 is out of range; use 0 to 19 (0 = normal priority, 19 = lowest)",
        ),
        (
            "[transcode]\nencoder_quality = -1\n",
            "tapedeck.toml:2:19: transcode.encoder_quality: -1 is out of range; use 0 to 9 (LAME quality: 0 = best and slowest, 9 = fastest)",
        ),
        (
            "[transcode]\nmax_art_size = \"big\"\n",
            "tapedeck.toml:2:16: transcode.max_art_size: \"big\" is not a size; write a number and a unit such as \"500 MiB\" or \"2 GiB\"",
        ),
        (
            "[transcode]\nmax_art_size = \"1 KiB\"\n",
            "tapedeck.toml:2:16: transcode.max_art_size: \"1 KiB\" is too small for a cache; use at least \"1 MiB\"",
        ),
        (
            "[transcode]\nmax_queue = 0\n",
            "tapedeck.toml:2:13: transcode.max_queue: 0 is out of range; use 1 to 1000 (transcodes allowed to wait for a worker)",
        ),
        (
            "[transcode]\non_busy = \"wait\"\n",
            "tapedeck.toml:2:11: transcode.on_busy: \"wait\" is not a choice; use \"original\" or \"503\"",
        ),
        (
            "[transcode]\nretry_failed_after_secs = -1\n",
            "tapedeck.toml:2:27: transcode.retry_failed_after_secs: -1 is out of range; use 0 to 2592000 (seconds)",
        ),
        (
            "[admin]\ntoken = \"hunter2\"\n",
            "tapedeck.toml:2:9: admin.token: a token must be at least 16 visible ASCII characters without spaces (e.g. the output of `openssl rand -hex 16`), or \"\" for loopback-only admin",
        ),
        (
            "[admin]\ntoken = \"0123456789abcdef 0123\"\n",
            "tapedeck.toml:2:9: admin.token: a token must be at least 16 visible ASCII characters without spaces (e.g. the output of `openssl rand -hex 16`), or \"\" for loopback-only admin",
        ),
        (
            "[library]\nmetadata_cache_entries = -1\n",
            "tapedeck.toml:2:26: library.metadata_cache_entries: -1 is out of range; use 0 to 10000000 (tracks)",
        ),
        (
            "[[users]]\npassword = \"x\"\n",
            "users.name (built-in default): user 1 has no name; write name = \"anna\" in its [[users]] table; set users.name in a config file or on the command line",
        ),
        (
            "[[users]]\nname = \"\"\npassword = \"x\"\n",
            "tapedeck.toml:2:8: users.name: user 1 has no name; write name = \"anna\" in its [[users]] table",
        ),
        (
            "[[users]]\nname = \"an na\"\npassword = \"x\"\n",
            "tapedeck.toml:2:8: users.name: \"an na\": use letters, digits, '.', '_', '-' or '@'",
        ),
        (
            "[[users]]\nname = \"anna\"\npassword = \"x\"\n[[users]]\nname = \"anna\"\npassword = \"y\"\n",
            "tapedeck.toml:5:8: users.name: user \"anna\" is defined twice",
        ),
        (
            "[[users]]\nname = \"anna\"\n",
            "tapedeck.toml:2:8: users.password: user \"anna\" needs a password that is not empty",
        ),
        (
            "[[users]]\nname = \"anna\"\npassword = \"\"\n",
            "tapedeck.toml:3:12: users.password: user \"anna\" needs a password that is not empty",
        ),
        (
            "[[users]]\nname = \"anna\"\npassword = \"x\"\napi_key = \"short\"\n",
            "tapedeck.toml:4:11: users.api_key: an API key must be at least 16 visible ASCII characters (e.g. the output of `openssl rand -hex 20`)",
        ),
        (
            "[[users]]\nname = \"anna\"\npassword = \"x\"\napi_key = \"0123456789abcdef\"\n[[users]]\nname = \"bob\"\npassword = \"y\"\napi_key = \"0123456789abcdef\"\n",
            "tapedeck.toml:8:11: users.api_key: two users have the same API key",
        ),
        (
            "[[users]]\nname = \"anna\"\npassword = \"x\"\nquality = \"best\"\n",
            "tapedeck.toml:4:11: users.quality: unknown quality \"best\"; valid values: original, high, medium, low",
        ),
        (
            "[[users]]\nname = \"anna\"\npassword = \"x\"\nadmin = \"yes\"\n",
            "tapedeck.toml:4:9: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "[warm]\nqualities = []\n",
            "tapedeck.toml:2:13: warm.qualities: name at least one of \"high\", \"medium\", \"low\"",
        ),
        (
            "[warm]\nqualities = [\"loud\"]\n",
            "tapedeck.toml:2:13: warm.qualities: unknown quality \"loud\"; valid values: original, high, medium, low",
        ),
        (
            "[warm]\nqualities = [\"original\"]\n",
            "tapedeck.toml:2:13: warm.qualities: \"original\" is never transcoded, so there is nothing to warm",
        ),
    ] {
        assert_eq!(error(text), message, "{text:?}");
    }
}

/// With several mistakes, the one reported is the first in the order
/// the sections are checked: server, cache, transcode, admin, library,
/// users, server.web_user, warm.
#[test]
fn the_first_error_in_section_order_is_the_one_reported() {
    for (text, message) in [
        (
            "[transcode]\nnice = 20\n[server]\nmax_connections = 0\n",
            "tapedeck.toml:4:19: server.max_connections: 0 is out of range; use 1 to 4096 (requests served at once)",
        ),
        (
            "[warm]\nqualities = []\n[[users]]\nname = \"\"\n",
            "tapedeck.toml:4:8: users.name: user 1 has no name; write name = \"anna\" in its [[users]] table",
        ),
        (
            "[warm]\nqualities = []\n[server]\nweb_user = \"zed\"\n",
            "tapedeck.toml:4:12: server.web_user: \"zed\" is not a configured user (add a [[users]] table, or \"\" to record nothing)",
        ),
        (
            "[server]\nweb_user = \"zed\"\n[[users]]\nname = \"\"\n",
            "tapedeck.toml:4:8: users.name: user 1 has no name; write name = \"anna\" in its [[users]] table",
        ),
        (
            "[admin]\ntoken = \"short\"\n[transcode]\non_busy = \"x\"\n",
            "tapedeck.toml:4:11: transcode.on_busy: \"x\" is not a choice; use \"original\" or \"503\"",
        ),
        (
            "[admin]\ntoken = \"short\"\n[library]\nmetadata_cache_entries = -1\n",
            "tapedeck.toml:2:9: admin.token: a token must be at least 16 visible ASCII characters without spaces (e.g. the output of `openssl rand -hex 16`), or \"\" for loopback-only admin",
        ),
        (
            "[library]\nmetadata_cache_entries = -1\n[[users]]\nname = \"\"\n",
            "tapedeck.toml:2:26: library.metadata_cache_entries: -1 is out of range; use 0 to 10000000 (tracks)",
        ),
        (
            "[cache]\nmax_size = \"1 B\"\n[transcode]\nnice = 99\n",
            "tapedeck.toml:2:12: cache.max_size: \"1 B\" is too small for a cache; use at least \"1 MiB\"",
        ),
        (
            "[cache]\nmax_size = \"1 B\"\n[server]\nmax_sockets = 1\n",
            "tapedeck.toml:4:15: server.max_sockets: 1 is out of range; use 8 to 65536 (open connections)",
        ),
    ] {
        assert_eq!(error(text), message, "{text:?}");
    }
}

#[test]
fn errors_in_paths_and_flags_name_them() {
    let dir = music_dir();
    let missing = dir.path().join("gone");
    let overrides = |music: &Path| Overrides {
        music: Some(music.to_owned()),
        ..Overrides::default()
    };
    let err =
        |text: &str, o: &Overrides| match Config::from_toml(text, Path::new("tapedeck.toml"), o) {
            Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
            Err(e) => e.to_string(),
        };
    assert_eq!(
        err("", &overrides(&missing)),
        format!(
            "--music: music directory {} does not exist",
            display_with_tilde(&missing)
        )
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").expect("write");
    assert_eq!(
        err("", &overrides(&file)),
        format!("--music: {} is not a directory", display_with_tilde(&file))
    );
    let text = format!("[cache]\ndir = {:?}\n", file.to_string_lossy());
    assert_eq!(
        err(&text, &overrides(dir.path())),
        format!(
            "tapedeck.toml:2:7: cache.dir: {} exists and is not a directory",
            display_with_tilde(&file)
        )
    );
    assert_eq!(
        err(
            "",
            &Overrides {
                cache: Some(file.clone()),
                ..overrides(dir.path())
            }
        ),
        format!(
            "--cache: {} exists and is not a directory",
            display_with_tilde(&file)
        )
    );
    assert_eq!(
        err(
            "",
            &Overrides {
                listen: Some("nope".to_owned()),
                ..overrides(dir.path())
            }
        ),
        "--listen: \"nope\" is not an address and port; use IP:PORT such as \"0.0.0.0:8340\""
    );
    let text = format!("[library]\nroot = {:?}\n", missing.to_string_lossy());
    let no_music = Overrides::default();
    assert_eq!(
        err(&text, &no_music),
        format!(
            "tapedeck.toml:2:8: library.root: music directory {} does not exist",
            display_with_tilde(&missing)
        )
    );
}
