//! Server behaviour under pressure: the cap on requests in flight, write and
//! read timeouts, and socket options inherited by accepted connections.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::TestServer;

const BIG: u64 = 64 * 1024 * 1024;

fn with_big_file(config: &str) -> TestServer {
    TestServer::start(config, |root| {
        // Sparse: 64 MiB of zeros, more than loopback socket buffers hold.
        let f = std::fs::File::create(root.join("big.flac")).unwrap();
        f.set_len(BIG).unwrap();
        std::fs::write(root.join("small.flac"), b"small").unwrap();
    })
}

/// Sends a GET for the big file and reads only the response head, so the
/// handler stays blocked writing the body. Retries if the request itself
/// was turned away with a 503.
fn stalled_download(s: &TestServer) -> TcpStream {
    loop {
        let mut c = TcpStream::connect(s.addr).unwrap();
        write!(c, "GET /play/big.flac HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        if head.starts_with(b"HTTP/1.1 200") {
            return c;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// GETs the small file until the answer has `status` or `within` passes;
/// returns the last answer.
fn poll_small_until(s: &TestServer, status: u16, within: Duration) -> common::Resp {
    let deadline = Instant::now() + within;
    loop {
        let r = s.get("/play/small.flac", &[]);
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn requests_beyond_the_cap_get_503_and_a_stalled_client_is_dropped_after_the_write_timeout() {
    let s = with_big_file("[server]\nmax_connections = 1\nwrite_timeout_secs = 3\n");
    let _stalled = stalled_download(&s);
    // Wait until the only handler is stuck writing to the stalled client.
    let busy = poll_small_until(&s, 503, Duration::from_secs(5));
    assert_eq!(
        busy.status, 503,
        "a second request while the only handler is busy"
    );
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(busy.json()["status"], 503);
    // After the write timeout the handler abandons the stalled client.
    let freed = poll_small_until(&s, 200, Duration::from_secs(15));
    assert_eq!(
        freed.status, 200,
        "the handler must be freed by the write timeout"
    );
    assert_eq!(freed.body, b"small");
}

#[test]
fn a_slow_reader_still_gets_the_whole_body_after_the_read_timeout() {
    let s = TestServer::start("[server]\nread_timeout_secs = 1\n", |root| {
        std::fs::write(root.join("t.flac"), common::pattern(8 * 1024 * 1024)).unwrap();
    });
    let mut c = TcpStream::connect(s.addr).unwrap();
    write!(c, "GET /play/t.flac HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    // Stay silent (and unread) past the read timeout of the connection.
    std::thread::sleep(Duration::from_millis(2500));
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let (r, _) = common::parse(&buf);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 8 * 1024 * 1024);
    assert!(r.body == common::pattern(8 * 1024 * 1024), "body intact");
}

#[test]
fn an_idle_connection_is_closed_after_the_read_timeout() {
    let s = TestServer::start("[server]\nread_timeout_secs = 1\n", |_| {});
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 16];
    // The server closes the silent connection: read returns EOF (0), not
    // our own 10 s timeout.
    let n = c.read(&mut buf).unwrap_or(usize::MAX);
    assert!(
        n == 0 || n < 16,
        "expected the server to close the idle connection"
    );
}

#[test]
fn accepted_connections_inherit_nodelay_and_timeouts() {
    use std::net::TcpListener;
    // The mechanism the server relies on, checked on this kernel.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    tapedeck::http::configure_listener(&l, Duration::from_secs(7), Duration::from_secs(9)).unwrap();
    let _client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (accepted, _) = l.accept().unwrap();
    let (nodelay, rcv, snd) = tapedeck::http::socket_options(&accepted).unwrap();
    assert!(nodelay, "TCP_NODELAY inherited");
    assert_eq!(rcv, Duration::from_secs(7));
    assert_eq!(snd, Duration::from_secs(9));
}

/// Regression: the listening socket's `SO_RCVTIMEO` (set so connections
/// inherit it) made `accept()` fail with EAGAIN after `read_timeout`
/// without a new connection, and tiny_http's accept loop stopped for good:
/// an idle server refused every connection from then on.
#[test]
fn an_idle_server_keeps_accepting_after_the_read_timeout() {
    let s = TestServer::start("[server]\nread_timeout_secs = 1\n", |_| {});
    assert_eq!(s.get("/api/version", &[]).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert_eq!(s.get("/api/version", &[]).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(s.get("/api/version", &[]).status, 200);
}
