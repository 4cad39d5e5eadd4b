//! What the serving service relies on: size-capped reads, uploads with a content type, and an
//! S3 endpoint that does not answer failing in seconds. S3 through a real in-process S3 server
//! (s3s-fs, SigV4 checked); local directories where the operation applies to them.

use std::time::Duration;

use bytes::Bytes;
use object_storage::{S3Options, StorageError, Store};

mod common;

use common::start_s3s;

fn s3_options(endpoint: &str) -> S3Options {
    common::s3_options(endpoint, "pre", s3_test_server::SECRET_KEY)
}

async fn refuses_objects_over_the_limit(store: &Store) {
    let big = Bytes::from(vec![7u8; 3_000_000]);
    store.put("in/big.csv", big.clone()).await.expect("put");
    store.put("in/small.csv", Bytes::from_static(b"a,b\n1,2\n")).await.expect("put");

    let err = store.get_limited("in/big.csv", 1024).await.expect_err("over the limit");
    match &err {
        StorageError::TooLarge { key, size, limit, .. } => {
            assert_eq!((key.as_str(), *size, *limit), ("in/big.csv", 3_000_000, 1024));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("in/big.csv") && msg.contains("3000000 bytes") && msg.contains("1024 bytes"), "{msg}");

    // At the limit exactly is fine, and the bytes are the object's.
    assert_eq!(store.get_limited("in/big.csv", 3_000_000).await.expect("at the limit"), big);
    assert_eq!(store.get_limited("in/small.csv", 1024).await.expect("small").as_ref(), b"a,b\n1,2\n");
    assert!(matches!(store.get_limited("in/absent.csv", 1024).await, Err(StorageError::NotFound { .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_get_limited_refuses_an_object_over_the_limit_from_its_length() {
    let root = tempfile::tempdir().expect("tempdir");
    let ep = start_s3s(root.path()).await;
    refuses_objects_over_the_limit(&Store::s3(s3_options(&ep)).expect("client")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_get_limited_refuses_a_file_over_the_limit() {
    let root = tempfile::tempdir().expect("tempdir");
    refuses_objects_over_the_limit(&Store::local(root.path().join("store"))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn put_with_type_stores_the_content_type_on_s3() {
    let root = tempfile::tempdir().expect("tempdir");
    let ep = start_s3s(root.path()).await;
    let store = Store::s3(s3_options(&ep)).expect("client");
    store.put_with_type("out/plot.png", Bytes::from_static(b"\x89PNG"), "image/png").await.expect("put png");
    store.put_with_type("out/scores.json", Bytes::from_static(b"{}"), "application/json").await.expect("put json");

    // Read back with a plain SDK client, as any other S3 user would see the objects.
    let creds = aws_sdk_s3::config::Credentials::new(
        s3_test_server::ACCESS_KEY,
        s3_test_server::SECRET_KEY,
        None,
        None,
        "test",
    );
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(&ep)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    for (key, want) in [("pre/out/plot.png", "image/png"), ("pre/out/scores.json", "application/json")] {
        let head = client.head_object().bucket("bucket").key(key).send().await.expect("head");
        assert_eq!(head.content_type(), Some(want), "{key}");
    }
    assert_eq!(store.get("out/plot.png").await.expect("get").as_ref(), b"\x89PNG");

    // A local directory has no content types; the bytes still land.
    let dir = tempfile::tempdir().expect("tempdir");
    let local = Store::local(dir.path());
    local.put_with_type("out/plot.png", Bytes::from_static(b"\x89PNG"), "image/png").await.expect("local put");
    assert_eq!(std::fs::read(dir.path().join("out/plot.png")).expect("read"), b"\x89PNG");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_says_the_server_did_not_answer() {
    // Nothing listens on port 9 (discard) on a test machine.
    let store = Store::s3(s3_options("http://127.0.0.1:9")).expect("client");
    let err = store.get("x.csv").await.expect_err("no server");
    assert!(matches!(err, StorageError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1:9") && msg.contains("did not answer") && msg.contains("x.csv"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_that_never_accepts_fails_after_the_connect_timeout() {
    // A listener whose accept queue is full and never served: the kernel drops further SYNs,
    // which is how a firewalled or vanished host looks. Without a connect timeout a request
    // would wait for the operating system's own limit (about two minutes on Linux).
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let _filler = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("fills the queue");

    let mut opts = s3_options(&format!("http://{addr}"));
    opts.connect_timeout = Duration::from_millis(500);
    let store = Store::s3(opts).expect("client");
    let err = tokio::time::timeout(Duration::from_secs(60), store.get_limited("x.csv", 10))
        .await
        .expect("the request must give up well before the OS connect limit")
        .expect_err("nothing answers");
    assert!(matches!(err, StorageError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("did not answer"), "{err}");
}
