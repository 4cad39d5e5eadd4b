//! The one retry layer of S3 operations: against an endpoint that fails every request, an
//! operation is tried exactly `max_attempts` times when the failure is transient, and once
//! when the server refuses the request as it is; a streamed read whose download breaks off is
//! read again from the start.

use std::time::Duration;

use bytes::Bytes;
use object_storage::{AwsEnv, S3Options, S3Settings, StorageError, Store};
use s3_test_server::{BreakingS3, FailingS3};

fn store(endpoint: &str, attempts: u32) -> Store {
    let settings = S3Settings {
        endpoint_url: Some(endpoint.to_string()),
        access_key_id: Some("ak".into()),
        secret_access_key: Some("sk".into()),
        ..S3Settings::default()
    };
    let mut o = S3Options::resolve("s3://bucket/p", &settings, &AwsEnv::default()).expect("url");
    o.max_attempts = attempts;
    o.first_retry_delay = Duration::from_millis(5);
    Store::s3(o).expect("client")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_failure_is_tried_exactly_the_configured_number_of_times() {
    for (status, code) in [(503, "SlowDown"), (500, "InternalError")] {
        let server = FailingS3::start(status, code).await;
        let store = store(&server.endpoint, 3);
        let err = store.get("a.csv").await.expect_err("always fails");
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(server.requests(), 3, "GET against {status} {code}");
        store.put("b.csv", Bytes::from_static(b"x")).await.expect_err("always fails");
        assert_eq!(server.requests(), 6, "PUT against {status} {code}");
    }
    let server = FailingS3::start(503, "SlowDown").await;
    store(&server.endpoint, 1).exists("a").await.expect_err("always fails");
    assert_eq!(server.requests(), 1, "max_attempts = 1 means no retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_request_is_not_tried_again() {
    let server = FailingS3::start(400, "InvalidRequest").await;
    let err = store(&server.endpoint, 4).get("a.csv").await.expect_err("refused");
    assert!(matches!(err, StorageError::S3 { transient: false, .. }), "{err:?}");
    assert!(err.to_string().contains("InvalidRequest"), "{err}");
    assert_eq!(server.requests(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_read_broken_off_half_way_is_read_again_from_the_start() {
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    // Each run of the reader: how much it read and how it ended.
    let runs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = |runs: std::sync::Arc<std::sync::Mutex<Vec<(usize, bool)>>>| {
        move |data: &mut dyn std::io::BufRead| {
            let mut all = Vec::new();
            let ended = data.read_to_end(&mut all);
            runs.lock().unwrap().push((all.len(), ended.is_ok()));
            ended.map(|_| all)
        }
    };
    let server = BreakingS3::start(body.clone(), 2).await;
    let read = store(&server.endpoint, 3).read_streamed("in/a.csv", reader(runs.clone())).await.expect("third try");
    assert_eq!(read.expect("the whole object"), body);
    assert_eq!(server.requests(), 3);
    let runs = runs.lock().unwrap().clone();
    // The two broken runs saw an error after half the object, never a short object read as whole.
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs[..2].iter().all(|&(n, ok)| !ok && n <= body.len() / 2), "{runs:?}");
    assert_eq!(runs[2], (body.len(), true));

    // Out of attempts: the store's error says the download broke off, and may be tried later.
    let server = BreakingS3::start(body.clone(), usize::MAX).await;
    let none = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let err = store(&server.endpoint, 2).read_streamed("in/a.csv", reader(none)).await.expect_err("always broken");
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("in/a.csv"), "{err}");
    assert_eq!(server.requests(), 2);
}
