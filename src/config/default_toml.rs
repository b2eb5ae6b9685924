//! The default config file, as `tapedeck config default` prints it: every
//! key with its built-in value and a comment; parsing it gives the
//! defaults (a unit test holds it to that).

use super::raw::display_with_tilde;
use super::*;

/// The full default configuration as TOML, with a comment on every key.
/// `tapedeck config default` prints it; parsing it gives the built-in defaults.
pub fn default_toml() -> String {
    format!(
        r#"# tapedeck configuration. Every key is optional; the values below are the
# built-in defaults. Check a file with `tapedeck config check FILE`.

[server]
# Address and port to listen on. "0.0.0.0:8340" reaches every IPv4 interface
# (the phones on your LAN); "127.0.0.1:8340" only this machine; port 0 = any.
listen = "{DEFAULT_LISTEN}"
# Requests served at the same time; more get "503 Service Unavailable" with
# Retry-After. Each one costs a thread (a few tens of KB of memory); one
# client may use at most half of them.
max_connections = {DEFAULT_MAX_CONNECTIONS}
# Open connections (sockets) at most, busy or idle. An idle connection costs
# no thread, a few hundred bytes; at the cap the longest-idle one is closed
# to make room, and a new one is refused with 503 when all are busy.
max_sockets = {DEFAULT_MAX_SOCKETS}
# Seconds an idle connection is kept open, and seconds a client has to send
# a whole request once it has started (else 408).
read_timeout_secs = {DEFAULT_READ_TIMEOUT_SECS}
# Seconds a write to a stalled client may block before the response is dropped.
write_timeout_secs = {DEFAULT_WRITE_TIMEOUT_SECS}
# The user (of [[users]] below) whose plays and stars the web player
# records; commented out = the first user; "" = record nothing.
# web_user = "anna"

[library]
# The music root. Nothing outside it is ever served. "~" is your home
# directory; a relative path is taken from this file's directory.
root = "{root}"
# Follow symlinks inside the root (a symlink leading out of it is refused
# either way). false = refuse every symlink.
follow_symlinks = true
# Tracks whose tags (title, artist, album, duration...) are kept in memory so
# browsing and search read each file once; about 300 bytes each. Make it at
# least the number of tracks you have, or search re-reads the overflow.
metadata_cache_entries = {DEFAULT_METADATA_CACHE_ENTRIES}

[cache]
# Where transcoded MP3s are kept. Only file names derived from a hash go here.
dir = "{cache}"
# Hard size budget for the cache, e.g. "500 MiB", "2 GiB" (1024-based) or
# "2 GB" (1000-based). The entries used longest ago are evicted first.
max_size = "{DEFAULT_MAX_SIZE}"
# false = transcode on every play and keep nothing on disk.
enabled = true

[transcode]
# Transcoding threads; 0 = number of CPUs minus one (at least one).
workers = 0
# CPU priority of the transcoding threads, 0 (normal) to 19 (lowest), so
# serving never waits for an encode.
nice = {DEFAULT_NICE}
# Quality when a request names none: "original", "high", "medium" or "low".
default_quality = "original"
# LAME algorithm quality, 0 (best, slowest) to 9 (fastest); 3 is what the
# lame command line and ffmpeg use.
encoder_quality = {DEFAULT_ENCODER_QUALITY}
# Cover art (embedded, or cover.jpg/folder.jpg beside the track) larger
# than this is left out of transcoded MP3s rather than bloating each one.
max_art_size = "{DEFAULT_MAX_ART_SIZE}"
# Transcodes allowed to wait for a free worker; beyond that a new miss is
# answered as on_busy says: "original" (serve the file as it is) or "503"
# (ask the player to retry).
max_queue = {DEFAULT_MAX_QUEUE}
on_busy = "original"
# A file that failed to transcode is served as the original for this long
# before it is tried again.
retry_failed_after_secs = {DEFAULT_RETRY_FAILED_AFTER_SECS}
# true = a transcode whose listeners all left runs to the end and is
# cached; false = it stops 5 s after the last listener left.
finish_abandoned = true

[transcode.bitrate_kbps]
# Constant bitrate of each quality level, in kbit/s (an MP3 bitrate of
# 64 or more: 64, 80, 96, 112, 128, 160, 192, 224, 256 or 320).
high = {DEFAULT_BITRATE_HIGH_KBPS}
medium = {DEFAULT_BITRATE_MEDIUM_KBPS}
low = {DEFAULT_BITRATE_LOW_KBPS}

[warm]
# When a track plays at high, medium or low, transcode the next one (in its
# folder, or in the playlist it was started from) in the background, so the
# next play starts from the cache.
prefetch_next = true
# Folders, tracks and .m3u/.m3u8 playlists (paths relative to the music root)
# to transcode in the background each time the server starts; already cached
# tracks are skipped. Follow it with GET /admin/jobs. Example:
# on_start = ["Playlists/Evening.m3u", "Artist/Album"]
on_start = []
# Levels warmed by on_start, and by `tapedeck warm` or POST
# /admin/cache/warm when they name none: any of "high", "medium", "low".
qualities = ["medium"]

[state]
# Listening state: play counts, stars, ratings, saved play queues,
# bookmarks, and the playlists users make in their apps (as .m3u8 files
# under playlists/). Small, written once per play or edit, kept safe
# across power cuts. Back it up; the cache can be rebuilt, this cannot.
dir = "{state}"

[admin]
# Bearer token required by /admin/* ("Authorization: Bearer <token>"), at
# least {MIN_TOKEN_LEN} characters, e.g. from `openssl rand -hex 16`.
# "" = no token: /admin/* answers only clients on this machine (loopback).
token = ""

# Users of the Subsonic API, for the phone apps (DSub, Symfonium,
# Substreamer, Amperfy, Tempo, Ultrasonic): server URL http://<pi>:8340,
# then a name and password from here. Without a user the apps cannot log in
# (the web player needs none). One [[users]] table per person; keep this
# file readable by tapedeck alone (chmod 600), as it holds the passwords.
# [[users]]
# name = "anna"
# password = "a long passphrase"
# # Optional: a key for apps that log in with an OpenSubsonic API key
# # instead of a password (at least 16 characters, `openssl rand -hex 20`).
# api_key = ""
# # May read other users' details.
# admin = false
# # The level a track plays at when the app sets no bit rate limit
# # (default: transcode.default_quality).
# quality = "medium"
"#,
        root = display_with_tilde(&default_music_dir()).replace('\\', "\\\\"),
        cache = display_with_tilde(&default_cache_dir()).replace('\\', "\\\\"),
        state = display_with_tilde(&default_state_dir()).replace('\\', "\\\\"),
    )
}
