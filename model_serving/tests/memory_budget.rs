//! MEMORY_BUDGET over real HTTP: a large request reserves an estimate of its peak memory
//! (2× its body) before its body is read; one that cannot have it within 2 s gets 503 with
//! Retry-After, and one that needs more than the whole budget gets 413. Without the budget two
//! concurrent 60 MB CSVs took the process over the pod's 512Mi limit.

mod common;

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

/// About 2.4 MB of CSV: far over the 32 KiB under which requests are not counted.
fn large_csv() -> String {
    let rows: Vec<[f64; 6]> = (0..20_000)
        .map(|i| {
            let x = f64::from(i) * 0.01;
            [20.0 + x.sin(), 3.0 + 0.01 * x.cos(), 50.0 + x.cos(), 10.0 + 0.1 * x.sin(), 0.55, 230.0 + x.sin()]
        })
        .collect();
    common::csv_body(&rows)
}

async fn post(running: &common::Running, body: String) -> reqwest::Response {
    running
        .client
        .post(format!("{}/compute", running.base))
        .header("Content-Type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_second_large_request_over_the_budget_gets_503_with_retry_after_while_the_first_is_scored() {
    let body = large_csv();
    let len = body.len();
    assert!((1_000_000..3_000_000).contains(&len), "{len}");
    // Room for one body's estimate (2× its size), not two.
    let budget = (3 * len).to_string();
    let running = common::start_with(&[("MEMORY_BUDGET", &budget)]).await;

    // The first request declares its length and sends half its body: it holds its share while
    // the rest is on its way, deterministically.
    let addr = running.base.trim_start_matches("http://").to_string();
    let mut first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head =
        format!("POST /compute HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/csv\r\nContent-Length: {len}\r\n\r\n");
    first.write_all(head.as_bytes()).await.unwrap();
    first.write_all(&body.as_bytes()[..len / 2]).await.unwrap();
    first.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let second = post(&running, body.clone()).await;
    assert_eq!(second.status(), 503, "{:?}", second.text().await);
    assert!(started.elapsed() >= Duration::from_millis(1500), "it waited for memory first: {:?}", started.elapsed());
    assert_eq!(second.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    let error: serde_json::Value = second.json().await.unwrap();
    assert_eq!(error["error"]["code"], "memory_budget_exceeded", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("MEMORY_BUDGET"), "{error}");
    assert_eq!(error["error"]["details"]["memory_budget_bytes"], 3 * len as u64, "{error}");

    // The first one, once its body is complete, is scored.
    first.write_all(&body.as_bytes()[len / 2..]).await.unwrap();
    let mut pending = Vec::new();
    let answer = common::read_response(&mut first, &mut pending).await.expect("an answer");
    assert_eq!(answer.status, 200, "{:?}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["rows"], 20_000);
    drop(first);

    // Its share is given back: the next large request is scored.
    let third = post(&running, body).await;
    assert_eq!(third.status(), 200, "{:?}", third.text().await);
    running.service.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_request_needing_more_than_the_whole_budget_gets_413_and_small_ones_are_not_counted() {
    let body = large_csv();
    // Under the 2× estimate of this body, far over the small request's.
    let budget = (3 * body.len() / 2).to_string();
    let running = common::start_with(&[("MEMORY_BUDGET", &budget)]).await;

    let refused = post(&running, body.clone()).await;
    assert_eq!(refused.status(), 413, "{:?}", refused.text().await);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "payload_too_large", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("more than the whole MEMORY_BUDGET"), "{message}");
    assert_eq!(error["error"]["details"]["estimated_bytes"], 2 * body.len() as u64, "{error}");

    // Without Content-Length the size is only known once read: refused all the same.
    let stream = futures_util::stream::iter(
        body.as_bytes().chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let chunked = running
        .client
        .post(format!("{}/compute", running.base))
        .header("Content-Type", "text/csv")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413, "{:?}", chunked.text().await);

    let small: String = body.lines().take(200).map(|l| format!("{l}\n")).collect();
    let scored = post(&running, small).await;
    assert_eq!(scored.status(), 200, "{:?}", scored.text().await);
    running.service.shutdown().await.unwrap();
}

/// The reserved bytes `/metrics` shows.
async fn reserved(running: &common::Running) -> u64 {
    let text = running.client.get(format!("{}/metrics", running.base)).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("model_serving_memory_reserved_bytes ")).expect("the gauge");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_given_up_on_by_request_timeout_keeps_its_share_until_its_scoring_job_ends() {
    // Sent gzipped, so that the body arrives well within the timeout below (60 MB read in
    // 50 ms is not a given in CI, and a request given up on while its body is read has no job
    // yet); decompressing and scoring it (500,000 rows, every row explained) then take far
    // longer than the timeout.
    let rows: String = large_csv().lines().skip(1).map(|l| format!("{l}\n")).collect();
    let header = large_csv().lines().next().unwrap().to_string();
    let body = format!("{header}\n{}", rows.repeat(25));
    let len = body.len();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, body.as_bytes()).unwrap();
    let gzipped = encoder.finish().unwrap();
    let budget = (3 * len).to_string();
    let max_body = (2 * len).to_string();
    let running =
        common::start_with(&[("MEMORY_BUDGET", &budget), ("MAX_BODY_BYTES", &max_body), ("REQUEST_TIMEOUT", "0.05")])
            .await;
    assert_eq!(reserved(&running).await, 0);

    let answer = running
        .client
        .post(format!("{}/compute?explain=all", running.base))
        .header("Content-Type", "text/csv")
        .header("Content-Encoding", "gzip")
        .body(gzipped)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 408, "{:?}", answer.text().await);
    // The answer is given, the job (decompressing or scoring) still runs: the request's share
    // is still counted.
    let held = reserved(&running).await;
    assert!(held > 0, "nothing reserved right after the timeout while the request's job still runs");

    // And given back when the job ends.
    let deadline = Instant::now() + Duration::from_secs(60);
    while reserved(&running).await > 0 {
        assert!(Instant::now() < deadline, "the reservation was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.service.shutdown().await.unwrap();
}
