//! Graceful shutdown: a request in flight when shutdown starts still gets its answer; readiness
//! answers 503 for SHUTDOWN_DRAIN while requests are still served, with `Connection: close`;
//! the service then stops listening, and a client that never finishes its request cannot hold
//! shutdown past SHUTDOWN_TIMEOUT.

mod common;

use std::time::{Duration, Instant};

use common::{closed_within, csv_body, fixture, load_model, read_response, start_default, start_with};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_an_in_flight_request_finish() {
    let r = start_default().await;
    let csv = csv_body(&fixture().test_rows);
    let (head, tail) = csv.as_bytes().split_at(csv.len() / 2);
    let (head, tail) = (head.to_vec(), tail.to_vec());

    // The upload stops half way until the test releases the rest.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(head)).await.unwrap();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let request = r
        .client
        .post(format!("{}/compute", r.base))
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let request = tokio::spawn(request);

    // Wait until the server has the request in hand.
    let metrics = r.service.metrics().clone();
    while metrics.in_flight.get() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let base = r.base.clone();
    let shutdown = tokio::spawn(r.service.shutdown());
    // Shutdown waits for the request: it must not have completed yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!shutdown.is_finished(), "shutdown must wait for the in-flight request");

    tx.send(Ok(tail)).await.unwrap();
    drop(tx);
    let resp = request.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let (_, expected) = load_model().score_csv(csv.as_bytes(), "x").unwrap();
    assert_eq!(body["rows"], expected.scores.len());

    tokio::time::timeout(Duration::from_secs(10), shutdown).await.unwrap().unwrap().unwrap();
    let refused = reqwest::Client::new().get(format!("{base}/status")).send().await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_sent_request_does_not_hold_shutdown_past_the_shutdown_timeout() {
    let r = start_with(&[("SHUTDOWN_DRAIN", "0.2"), ("SHUTDOWN_TIMEOUT", "1")]).await;
    let mut stream = TcpStream::connect(r.service.local_addr()).await.unwrap();
    // The headers and half of the promised body, then nothing.
    let head = "POST /compute HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'1'; 500]).await.unwrap();
    let metrics = r.service.metrics().clone();
    while metrics.in_flight.get() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), r.service.shutdown())
        .await
        .expect("shutdown finishes although the request never does")
        .unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1100) && took < Duration::from_millis(2500), "shutdown took {took:?}");
    closed_within(&mut stream, Duration::from_secs(1)).await;
}

/// Polls readiness with new connections until it answers 503.
async fn wait_not_ready(base: &str) {
    loop {
        let resp = reqwest::Client::new()
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("readiness must answer during the drain: {e}"));
        if resp.status() == 503 {
            assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"]["code"], "shutting_down");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_is_503_during_the_drain_while_compute_still_answers() {
    let r = start_with(&[("SHUTDOWN_DRAIN", "2"), ("SHUTDOWN_TIMEOUT", "5")]).await;
    let base = r.base.clone();
    let started = Instant::now();
    let shutdown = tokio::spawn(r.service.shutdown());
    wait_not_ready(&base).await;
    let csv = csv_body(&fixture().test_rows[..20]);
    let resp = reqwest::Client::new()
        .post(format!("{base}/compute"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("a new request is still served during the drain");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["connection"], "close");
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["rows"], 20);
    tokio::time::timeout(Duration::from_secs(10), shutdown).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2), "the listener stayed open for the drain");
    assert!(reqwest::get(format!("{base}/status")).await.is_err(), "the listener is closed after shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keep_alive_response_during_the_drain_carries_connection_close() {
    let r = start_with(&[("SHUTDOWN_DRAIN", "2"), ("SHUTDOWN_TIMEOUT", "5")]).await;
    let mut stream = TcpStream::connect(r.service.local_addr()).await.unwrap();
    let mut pending = Vec::new();
    let request = b"GET /status HTTP/1.1\r\nHost: t\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let before = read_response(&mut stream, &mut pending).await.unwrap();
    assert_eq!((before.status, before.header("connection")), (200, None), "kept alive before shutdown");

    let base = r.base.clone();
    let shutdown = tokio::spawn(r.service.shutdown());
    wait_not_ready(&base).await;
    stream.write_all(request).await.unwrap();
    let during = read_response(&mut stream, &mut pending).await.expect("the kept-alive connection is served");
    assert_eq!(during.status, 200);
    assert_eq!(during.header("connection"), Some("close"));
    closed_within(&mut stream, Duration::from_secs(1)).await;
    tokio::time::timeout(Duration::from_secs(10), shutdown).await.unwrap().unwrap().unwrap();
}
