//! Shared helpers: a test app over a temp music dir, answered in-process
//! (the router called as a plain function, [`TestServer::send`]) and also
//! served on 127.0.0.1:0 for the tests of the transport; and a raw
//! HTTP/1.1 client that sends request targets exactly as written (no
//! normalisation of `..`, no re-encoding), which traversal tests need.

#![allow(dead_code)]

pub mod subsonic_api;
pub mod subsonic_library;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tapedeck::app::{App, Mode};
use tapedeck::config::{Config, Overrides};
use tapedeck::http::{Method, Request, Server, respond};
use tapedeck::router::Router;
use tapedeck::workers::Hold;

/// A test app whose music root is `<outer>/music` (`<outer>` also holds
/// files that must never be served): its router, called in-process by
/// [`TestServer::send`], and the same router served at `addr` for the
/// tests that need a socket.
pub struct TestServer {
    pub addr: SocketAddr,
    pub outer: tempfile::TempDir,
    pub router: Arc<Router>,
    server: Option<Server>,
}

/// Something that answers HTTP requests: a [`TestServer`] (in-process) or
/// an address (over TCP, e.g. a child process).
pub trait Client {
    /// `method target` with `headers` and `body`; the response.
    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp;
}

impl Client for SocketAddr {
    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        raw(*self, &bytes)
    }
}

impl Client for TestServer {
    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut req = Request::new(Method::parse(method), target);
        req.headers = [("Host", "test")]
            .iter()
            .chain(headers)
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        if !body.is_empty() {
            req.headers
                .push(("Content-Length".to_owned(), body.len().to_string()));
        }
        req.peer = Some(SocketAddr::from(([127, 0, 0, 1], 40000)));
        req.body = body.to_vec();
        let reply = self.router.handle(&req);
        let bytes = respond::render(reply, method == "HEAD", true).expect("reply renders");
        parse(&bytes).0
    }
}

impl<T: Client + ?Sized> Client for &T {
    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        (**self).request(method, target, headers, body)
    }
}

impl TestServer {
    /// Starts a server with `config_toml` (may be empty) after `setup` has
    /// filled the music root.
    pub fn start(config_toml: &str, setup: impl FnOnce(&Path)) -> TestServer {
        let outer = tempfile::tempdir().expect("temp dir");
        let root = outer.path().join("music");
        std::fs::create_dir(&root).expect("music dir");
        setup(&root);
        let overrides = Overrides {
            music: Some(root),
            cache: Some(outer.path().join("cache")),
            state: Some(outer.path().join("state")),
            listen: Some("127.0.0.1:0".into()),
            music_unused: false,
        };
        let config = Config::from_toml(config_toml, Path::new("test.toml"), &overrides)
            .expect("test config is valid");
        let router = Arc::new(Router::new(App::new(config, Mode::Serve).expect("app")));
        let handler = Arc::clone(&router);
        let server = Server::start(router.settings(), move |req| handler.handle(req))
            .expect("server starts");
        TestServer {
            addr: server.addr(),
            outer,
            router,
            server: Some(server),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.outer.path().join("music")
    }

    /// `GET path` with extra headers.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("GET", path, headers)
    }

    /// `method path` with extra headers, answered in-process.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.request(method, path, headers, &[])
    }

    /// `GET path` with extra headers, over TCP (the whole transport).
    pub fn get_tcp(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send_tcp("GET", path, headers)
    }

    /// `method path` with extra headers, over TCP (the whole transport).
    pub fn send_tcp(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.addr.request(method, path, headers, &[])
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// Headers without the ones that vary between two identical requests.
    pub fn stable_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
            .cloned()
            .collect()
    }
}

/// The `tapedeck` binary as a command. When the tests run under emulation,
/// `TAPEDECK_RUNNER` (e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`) is put
/// in front of it, as cargo's runner is for the tests.
pub fn binary() -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_tapedeck");
    let runner = std::env::var("TAPEDECK_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut c = std::process::Command::new(program);
            c.args(words).arg(bin);
            c
        }
        None => std::process::Command::new(bin),
    }
}

/// [`binary`] with HOME and the XDG directories pointed into `home`, so a
/// developer's own config, cache or ~/Music never leaks in.
pub fn binary_at_home(home: &Path) -> std::process::Command {
    let mut c = binary();
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env_remove("XDG_MUSIC_DIR")
        .env_remove("JOURNAL_STREAM");
    c
}

/// Sends `request` verbatim, reads until the server closes, parses one response.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    // Long enough for a transcode under qemu in the aarch64 CI run.
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    s.write_all(request).expect("send request");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read response");
    parse(&buf).0
}

/// Parses one response from the front of `buf`; returns it and the bytes
/// after it. The body is `Content-Length` bytes when given, else the rest.
pub fn parse(buf: &[u8]) -> (Resp, &[u8]) {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(buf)));
    let head = std::str::from_utf8(&buf[..end]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let rest = &buf[end + 4..];
    let resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    let len = resp
        .header("content-length")
        .map(|v| v.parse::<usize>().unwrap());
    match len {
        Some(n) if n <= rest.len() => (
            Resp {
                body: rest[..n].to_vec(),
                ..resp
            },
            &rest[n..],
        ),
        _ => (
            Resp {
                body: rest.to_vec(),
                ..resp
            },
            &[],
        ),
    }
}

/// `n` bytes of a recognisable pattern: byte i is `i % 251`.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Writes a 16-bit PCM WAV of `frames` frames at `rate` Hz: a tone whose
/// pitch depends on `seed`, so different files have different audio.
pub fn write_wav(path: &Path, rate: u32, channels: u16, frames: u32, seed: u32) {
    let base_hz = 220.0 + 37.0 * f64::from(seed);
    write_wav_as(
        path,
        WavFormat::Int(16),
        false,
        rate,
        channels,
        frames,
        base_hz,
    );
}

/// Writes a 16-bit PCM WAV of `frames` frames at `rate` Hz that is hard
/// to encode: two tones, a rising sweep and a burst of noise every 0.3 s
/// (transients, which make LAME switch to short blocks).
pub fn write_music_wav(path: &Path, rate: u32, channels: u16, frames: u32) {
    let mut data = Vec::with_capacity(frames as usize * usize::from(channels) * 2);
    let mut noise = 0x2545_f491_u32;
    let r = f64::from(rate);
    for i in 0..frames {
        let t = f64::from(i) / r;
        let sweep = (std::f64::consts::TAU * (200.0 * t + 400.0 * t * t)).sin();
        let burst = (t % 0.3) < 0.02;
        for c in 0..channels {
            noise = noise.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let n = f64::from((noise >> 16) as u16) / 32_768.0 - 1.0;
            let tone = (std::f64::consts::TAU * (330.0 + 110.0 * f64::from(c)) * t).sin();
            let v = 0.25 * tone + 0.2 * sweep + if burst { 0.4 * n } else { 0.02 * n };
            data.extend_from_slice(&((v * 32_000.0) as i16).to_le_bytes());
        }
    }
    write_riff_wave(path, &fmt_chunk(1, channels, rate, 16), &data);
}

/// The 16 bytes of a WAV `fmt ` chunk: format tag, channels, rate, byte
/// rate, block size, bits per sample.
fn fmt_chunk(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let block = u32::from(channels) * u32::from(bits / 8);
    let mut chunk = Vec::with_capacity(16);
    chunk.extend_from_slice(&tag.to_le_bytes());
    chunk.extend_from_slice(&channels.to_le_bytes());
    chunk.extend_from_slice(&rate.to_le_bytes());
    chunk.extend_from_slice(&(rate * block).to_le_bytes());
    chunk.extend_from_slice(&(block as u16).to_le_bytes());
    chunk.extend_from_slice(&bits.to_le_bytes());
    chunk
}

/// Writes a RIFF WAVE file of a `fmt ` chunk and a `data` chunk.
fn write_riff_wave(path: &Path, fmt: &[u8], data: &[u8]) {
    let mut out = Vec::with_capacity(20 + fmt.len() + 8 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    out.extend_from_slice(fmt);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    std::fs::write(path, out).expect("write wav");
}

/// How a WAV stores its samples.
#[derive(Clone, Copy, Debug)]
pub enum WavFormat {
    Unsigned8,
    Int(u16),
    Float32,
}

/// Writes a WAV of `frames` frames at `rate` Hz, a tone per channel
/// (`base_hz`, `base_hz` + 110 Hz, ...). `extensible` writes
/// WAVE_FORMAT_EXTENSIBLE with a channel mask.
pub fn write_wav_as(
    path: &Path,
    fmt: WavFormat,
    extensible: bool,
    rate: u32,
    channels: u16,
    frames: u32,
    base_hz: f64,
) {
    let bits = match fmt {
        WavFormat::Unsigned8 => 8,
        WavFormat::Int(b) => b,
        WavFormat::Float32 => 32,
    };
    let mut data = Vec::new();
    for i in 0..frames {
        for c in 0..channels {
            let t = f64::from(i) / f64::from(rate);
            let s = 0.5 * (t * (base_hz + 110.0 * f64::from(c)) * std::f64::consts::TAU).sin();
            match fmt {
                WavFormat::Unsigned8 => data.push((128.0 + s * 127.0) as u8),
                WavFormat::Int(b) => {
                    let v = (s * f64::from((1u32 << (b - 1)) - 1)) as i32;
                    data.extend_from_slice(&v.to_le_bytes()[..usize::from(b / 8)]);
                }
                WavFormat::Float32 => data.extend_from_slice(&(s as f32).to_le_bytes()),
            }
        }
    }
    let tag: u16 = match fmt {
        WavFormat::Float32 => 3,
        _ => 1,
    };
    let mut fmt = fmt_chunk(if extensible { 0xFFFE } else { tag }, channels, rate, bits);
    if extensible {
        let mask: u32 = if channels == 6 { 0x3F } else { 0x3 };
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        fmt.extend_from_slice(&mask.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT GUID.
        fmt.extend_from_slice(&u32::from(tag).to_le_bytes());
        fmt.extend_from_slice(&[
            0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
        ]);
    }
    write_riff_wave(path, &fmt, &data);
}

/// Polls `f` every 10 ms for up to 90 s until it returns true.
pub fn wait_for(what: &str, f: impl FnMut() -> bool) {
    wait_until(what, Duration::from_secs(90), Duration::from_millis(10), f);
}

/// Polls `f` every `every` until it returns true; fails the test after
/// `within`.
pub fn wait_until(what: &str, within: Duration, every: Duration, f: impl FnMut() -> bool) {
    assert!(
        eventually(within, every, f),
        "timed out after {within:?} waiting for {what}"
    );
}

/// Polls `f` every `every` for up to `within`; true as soon as it is.
pub fn eventually(within: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// The workers of `s`, held before their next segment until the guard
/// drops ([`tapedeck::workers::Workers::hold`]): what a test asserts
/// while held cannot depend on how fast LAME is.
pub fn hold_workers(s: &TestServer) -> Hold {
    s.router
        .app()
        .workers
        .as_ref()
        .expect("the test server has workers")
        .hold()
}

/// Lets `hold`'s workers go one segment at a time until `finished`: a
/// worker stopped before a segment gets a permit for it whenever `go`
/// says so (`go` sees the state the permit will meet, e.g. that a reader
/// is waiting for a segment, so the permit goes to that one).
pub fn step_until(
    what: &str,
    hold: &Hold,
    mut go: impl FnMut() -> bool,
    mut finished: impl FnMut() -> bool,
) {
    wait_for(what, || {
        if finished() {
            return true;
        }
        if hold.waiting() > 0 && go() {
            hold.allow(1);
        }
        false
    });
}

/// True while a reader of the job transcoding `relative` waits for a
/// segment: a permit given now goes to it (see [`step_until`]).
pub fn reader_waits(hold: &Hold, relative: &str) -> bool {
    hold.progress(relative)
        .is_some_and(|p| !p.wanted.is_empty())
}

/// `GET path` with `range` while `hold` holds the workers of `s`, letting
/// them go only for the segments a reader of `relative` waits for: the
/// answer comes from those segments alone, encoded out of turn, however
/// fast the encoder is.
pub fn get_held(s: &TestServer, hold: &Hold, relative: &str, path: &str, range: &str) -> Resp {
    std::thread::scope(|scope| {
        let get = scope.spawn(|| s.get(path, &[("Range", range)]));
        step_until(
            &format!("{range} of {path} to be answered"),
            hold,
            || reader_waits(hold, relative),
            || get.is_finished(),
        );
        get.join().expect("the request thread")
    })
}

/// `toml` with next-track prefetch off, for tests that count transcodes
/// and entries exactly (a prefetch would add its own; tests/api.rs covers
/// prefetch).
pub fn without_prefetch(toml: &str) -> String {
    format!("{toml}\n[warm]\nprefetch_next = false\n")
}

/// `GET /admin/cache/stats` as JSON (the field names are the contract).
pub fn admin_stats(s: &TestServer) -> serde_json::Value {
    let r = s.get("/admin/cache/stats", &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Waits until the server's first library scan has finished, so that the
/// tag reads a test counts afterwards are its own.
pub fn wait_for_library_scan(s: &TestServer) {
    wait_for("the first library scan", || {
        n(&admin_stats(s)["library_scan"], "completed") >= 1
    });
}

/// Field `k` of `v` as a whole number; fails the test when absent.
pub fn n(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// `POST path` with a JSON body.
pub fn post_json(s: &TestServer, path: &str, body: &str) -> Resp {
    s.request(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// Bytes of the files in `dir`. A file renamed (`.part` to `.mp3`) or
/// evicted between the listing and its `stat` is skipped: watchers race
/// the workers, and one once panicked on exactly that.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The files in `dir` whose names end with `suffix` (`.mp3` entries,
/// `.part` in flight).
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

/// The address a `tapedeck serve` child prints ("open http://ADDR/").
pub fn printed_addr(stdout: std::process::ChildStdout) -> SocketAddr {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the server printed its URL")
            .expect("stdout");
        if let Some(rest) = line.trim().strip_prefix("open http://") {
            return rest
                .split('/')
                .next()
                .and_then(|a| a.parse().ok())
                .expect("an address");
        }
    }
}

/// Waits until something accepts connections on loopback `port`.
pub fn wait_for_port(port: u16) {
    wait_until(
        "the server to listen",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
}

/// Decoded (sample rate, channels, frames) of MP3 bytes.
pub fn decode_bytes(bytes: &[u8]) -> (u32, usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mp3");
    std::fs::write(&p, bytes).unwrap();
    decode_file(&p)
}

/// Decodes an audio file with symphonia: (sample rate in Hz, channels,
/// frames). For an MP3 with a LAME Info tag this is the gapless length.
pub fn decode_file(path: &Path) -> (u32, usize, u64) {
    let mut d = tapedeck::transcode::open(path, "decode").expect("decodable");
    let (mut rate, mut channels, mut frames) = (0, 0, 0u64);
    while let Some(p) = d.format.next_packet().expect("packet") {
        let buf = d.decoder.decode(&p).expect("decode");
        rate = buf.spec().rate();
        channels = buf.spec().channels().count();
        frames += buf.frames() as u64;
    }
    (rate, channels, frames)
}

/// Writes a WAV as [`write_wav`] does, then appends `tag` as an `id3 `
/// chunk (where many taggers put ID3 in WAV files).
pub fn write_tagged_wav(path: &Path, frames: u32, seed: u32, tag: &id3::Tag) {
    write_wav(path, 44_100, 2, frames, seed);
    let mut bytes = std::fs::read(path).expect("read wav");
    let mut id3_bytes = Vec::new();
    tag.write_to(&mut id3_bytes, id3::Version::Id3v24)
        .expect("encode id3");
    bytes.extend_from_slice(b"id3 ");
    bytes.extend_from_slice(&(id3_bytes.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&id3_bytes);
    if id3_bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let riff_len = (bytes.len() - 8) as u32;
    bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    std::fs::write(path, bytes).expect("write tagged wav");
}

/// tapedeck serving `dir`/music with `dir`/config.toml, its cache and
/// state in `dir`, as a child process (so it can be killed with SIGKILL).
pub struct ChildServer {
    child: std::process::Child,
    pub addr: SocketAddr,
}

impl ChildServer {
    pub fn start(dir: &Path) -> ChildServer {
        ChildServer::start_with(dir, |_| {})
    }

    /// Like [`ChildServer::start`], with `adjust` applied to the command
    /// last (resource limits, where stderr goes).
    pub fn start_with(dir: &Path, adjust: impl FnOnce(&mut std::process::Command)) -> ChildServer {
        let mut command = binary();
        command
            .arg("serve")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .args(["--listen", "127.0.0.1:0", "--music"])
            .arg(dir.join("music"))
            .arg("--cache")
            .arg(dir.join("cache"))
            .arg("--state")
            .arg(dir.join("state"))
            .env("HOME", dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        adjust(&mut command);
        let mut child = command.spawn().expect("start tapedeck");
        let addr = printed_addr(child.stdout.take().expect("stdout"));
        ChildServer { child, addr }
    }

    /// SIGSTOP: the server stops where it is, so that what a test then
    /// finds on disk cannot change under it (SIGKILL still ends it).
    pub fn freeze(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGSTOP) };
        assert_eq!(rc, 0, "SIGSTOP");
        // A signal is not acted on at once: stopped once every thread
        // says so.
        let tasks = PathBuf::from(format!("/proc/{}/task", self.child.id()));
        let stopped = |task: PathBuf| {
            let stat = std::fs::read_to_string(task.join("stat")).unwrap_or_default();
            let state = stat
                .rfind(')')
                .and_then(|at| stat[at + 1..].split_whitespace().next());
            state == Some("T")
        };
        wait_for("the server to stop", || {
            std::fs::read_dir(&tasks)
                .is_ok_and(|d| d.filter_map(|e| Some(e.ok()?.path())).all(stopped))
        });
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
