//! Connections as the service keeps them, over raw TCP against the real service: a silent or
//! slow client is cut after HEADER_READ_TIMEOUT, an idle keep-alive connection after
//! KEEP_ALIVE_TIMEOUT, MAX_CONNECTIONS caps the open connections without starving new clients
//! (also in the binary under a 256 open-file limit), and a request hyper cannot parse gets the
//! API's JSON error instead of an empty 400 or 431.

mod common;

use std::time::{Duration, Instant};

use common::{RawResponse, closed_within, fixture, read_response, start_with};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn connect(r: &common::Running) -> TcpStream {
    TcpStream::connect(r.service.local_addr()).await.unwrap()
}

/// Writes `request` and reads one response.
async fn exchange(stream: &mut TcpStream, pending: &mut Vec<u8>, request: &[u8]) -> RawResponse {
    stream.write_all(request).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), read_response(stream, pending))
        .await
        .expect("an answer within 10 s")
        .expect("an answer before the connection closed")
}

const GET_STATUS: &[u8] = b"GET /status HTTP/1.1\r\nHost: test\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    let r = start_with(&[("HEADER_READ_TIMEOUT", "1")]).await;
    let mut silent = connect(&r).await;
    let took = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_sent_a_byte_at_a_time_get_a_json_408_at_the_header_read_timeout() {
    let r = start_with(&[("HEADER_READ_TIMEOUT", "1")]).await;
    let (mut reader, mut writer) = connect(&r).await.into_split();
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        writer.write_all(b"GET /status HTTP/1.1\r\nHost: test\r\nX-Slow: ").await.unwrap();
        while writer.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if started.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
    });
    let answer = tokio::time::timeout(Duration::from_secs(10), read_response(&mut reader, &mut Vec::new()))
        .await
        .expect("an answer within 10 s")
        .expect("an answer, not a bare close");
    let took = started.elapsed();
    assert_eq!(answer.status, 408);
    assert_eq!(answer.json()["error"]["code"], "request_timeout", "{:?}", answer.json());
    assert!(answer.json()["error"]["message"].as_str().unwrap().contains("HEADER_READ_TIMEOUT"));
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "answered after {took:?}");
    slow.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout_not_the_header_one() {
    let r = start_with(&[("HEADER_READ_TIMEOUT", "1"), ("KEEP_ALIVE_TIMEOUT", "2.5")]).await;
    let mut stream = connect(&r).await;
    let mut pending = Vec::new();
    assert_eq!(exchange(&mut stream, &mut pending, GET_STATUS).await.status, 200);
    // Idle for longer than the header timeout: still open, and it serves the next request.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = exchange(&mut stream, &mut pending, GET_STATUS).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("connection"), None);
    let took = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(2300) && took < Duration::from_secs(5), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_requests_are_answered_in_order_and_a_bad_one_after_a_good_one_gets_json() {
    let r = start_with(&[]).await;
    let mut stream = connect(&r).await;
    let mut pending = Vec::new();
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: t\r\n\r\nGET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let first = read_response(&mut stream, &mut pending).await.unwrap();
    let second = read_response(&mut stream, &mut pending).await.unwrap();
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.json()["status"], "Service is available");
    assert_eq!(second.json()["status"], "live");
    let bad = exchange(&mut stream, &mut pending, b"GET /status HTTP/1.1\r\nHost: t\r\n\r\nNOT HTTP\r\n\r\n").await;
    assert_eq!(bad.status, 200, "the good request first");
    let bad = read_response(&mut stream, &mut pending).await.expect("the answer to the bad one");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "malformed_request");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_hyper_cannot_parse_get_the_json_error_shape() {
    let r = start_with(&[]).await;
    let many_headers: String = (0..500).map(|i| format!("X-Header-{i}: value\r\n")).collect();
    let many_headers = format!("GET /status HTTP/1.1\r\nHost: t\r\n{many_headers}\r\n");
    let cases: [(&str, &[u8], u16, &str, &str); 4] = [
        (
            "conflicting Content-Length",
            b"POST /compute HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            400,
            "malformed_request",
            "content-length",
        ),
        (
            "negative Content-Length",
            b"POST /compute HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: -1\r\n\r\n",
            400,
            "malformed_request",
            "content-length",
        ),
        ("garbage request line", b"HELLO THERE\r\n\r\n", 400, "malformed_request", "not valid http/1.1"),
        ("500 headers", many_headers.as_bytes(), 431, "headers_too_large", "too large"),
    ];
    for (what, request, status, code, mentions) in cases {
        let mut stream = connect(&r).await;
        let answer = exchange(&mut stream, &mut Vec::new(), request).await;
        assert_eq!(answer.status, status, "{what}");
        let body = answer.json();
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.to_lowercase().contains(mentions), "{what}: {message}");
        assert!(body["error"]["details"]["reason"].is_string(), "{what}: {body}");
        assert_eq!(answer.header("content-type"), Some("application/json"), "{what}");
        closed_within(&mut stream, Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_connection_limit_a_new_client_is_served_once_silent_connections_time_out() {
    let r = start_with(&[("MAX_CONNECTIONS", "4"), ("HEADER_READ_TIMEOUT", "1")]).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(connect(&r).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let resp = r.client.get(format!("{}/status", r.base)).timeout(Duration::from_secs(10)).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status(), 200);
    // It waited in the backlog for a slot: the four silent connections held all of them.
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(4), "served after {took:?}");
}

/// The scenario of the report: the binary under a 256 open-file limit, 300 sockets that send
/// nothing. The default MAX_CONNECTIONS (192 for that limit) keeps file descriptors free, the
/// silent sockets are closed after HEADER_READ_TIMEOUT, and a real client is served; the cap is
/// logged once, not once per connection.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_under_a_256_file_limit_still_serves_with_300_silent_sockets_open() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new("sh")
        .args(["-c", "ulimit -n 256 && exec \"$0\"", env!("CARGO_BIN_EXE_model-serving")])
        .env_clear()
        .env("MODEL_PATH", &fixture().model_dir)
        .env("SERVICE_HOST", "127.0.0.1")
        .env("SERVICE_PORT", port.to_string())
        .env("HEADER_READ_TIMEOUT", "1")
        .env("SHUTDOWN_DRAIN", "0")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the binary never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = reqwest::Client::new()
        .get(format!("{base}/status"))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .expect("a client is served while 300 silent sockets are open");
    assert_eq!(resp.status(), 200);

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("connection limit reached")).collect();
    assert_eq!(warnings.len(), 1, "one line when the cap is reached:\n{log}");
    assert!(warnings[0].contains("192 client connections"), "{}", warnings[0]);
    assert!(!log.contains("accepting a connection failed"), "no file descriptor ran out:\n{log}");
}
