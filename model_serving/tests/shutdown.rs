//! Graceful shutdown: a request in flight when shutdown starts still gets its answer; the
//! service then stops listening.

mod common;

use std::time::Duration;

use common::{csv_body, fixture, load_model, start_default};

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
