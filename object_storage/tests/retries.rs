//! The one retry layer of S3 operations: against an endpoint that fails every request, an
//! operation is tried exactly `max_attempts` times when the failure is transient, and once
//! when the server refuses the request as it is.

use std::time::Duration;

use bytes::Bytes;
use object_storage::{AwsEnv, S3Options, S3Settings, StorageError, Store};
use s3_test_server::FailingS3;

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
