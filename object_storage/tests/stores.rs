//! The same behaviour from both stores: S3 through a real in-process S3 server (s3s-fs,
//! SigV4 checked) and a local directory.

use bytes::Bytes;
use object_storage::{AwsEnv, S3Options, S3Settings, StorageError, Store};

mod common;

use common::start_s3s;

fn s3(endpoint: &str, secret: &str) -> Store {
    Store::s3(common::s3_options(endpoint, "some/prefix/", secret)).expect("client")
}

/// A reader of a whole object, a little at a time (as a parser reads).
fn read_all(data: &mut dyn std::io::BufRead) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut small = [0u8; 1000];
    loop {
        let n = data.read(&mut small)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&small[..n]);
    }
}

async fn exercise(store: &Store) {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert!(!store.exists("a/b.txt").await.expect("exists"));
    assert!(matches!(store.get("a/b.txt").await, Err(StorageError::NotFound { .. })));
    store.put("a/b.txt", Bytes::from_static(b"hello")).await.expect("put");
    assert!(store.exists("a/b.txt").await.expect("exists"));
    assert_eq!(store.get("a/b.txt").await.expect("get"), Bytes::from_static(b"hello"));

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let src = tmp.path().join("big");
    std::fs::write(&src, &big).expect("write");
    store.put_file("c/big.bin", &src).await.expect("put_file");
    let dest = tmp.path().join("out/big.copy");
    store.get_to_file("c/big.bin", &dest).await.expect("get_to_file");
    assert_eq!(std::fs::read(&dest).expect("read"), big);
    // Only the final file, no temporaries left next to it.
    assert_eq!(std::fs::read_dir(tmp.path().join("out")).expect("dir").count(), 1);
    // Read in one pass as it arrives: every byte once, in order; a missing object is NotFound.
    let streamed = store.read_streamed("c/big.bin", read_all).await.expect("read_streamed");
    assert_eq!(streamed.expect("reading"), big);
    assert!(matches!(store.read_streamed("c/none.bin", read_all).await, Err(StorageError::NotFound { .. })));

    let mut keys = store.list("").await.expect("list");
    keys.sort();
    assert_eq!(keys, vec!["a/b.txt".to_string(), "c/big.bin".to_string()]);
    assert_eq!(store.list("c").await.expect("list"), vec!["c/big.bin".to_string()]);
    // Many objects read at once come back in the order asked (more than are read at a time);
    // one missing object fails the whole read, naming it.
    let many: Vec<String> = (0..40).map(|i| format!("many/{i}.txt")).collect();
    for (i, key) in many.iter().enumerate() {
        store.put(key, Bytes::from(i.to_string())).await.expect("put");
    }
    let read = store.get_many(&many).await.expect("get_many");
    assert_eq!(read, (0..40).map(|i| Bytes::from(i.to_string())).collect::<Vec<_>>());
    let mut with_missing = many.clone();
    with_missing.insert(7, "many/none.txt".to_string());
    match store.get_many(&with_missing).await {
        Err(StorageError::NotFound { key, .. }) => assert!(key.ends_with("many/none.txt"), "{key}"),
        other => panic!("expected NotFound for many/none.txt, got {other:?}"),
    }
    for key in &many {
        store.delete(key).await.expect("delete");
    }
    store.delete("a/b.txt").await.expect("delete");
    store.delete("a/b.txt").await.expect("deleting a missing object is fine");
    assert!(!store.exists("a/b.txt").await.expect("exists"));
    assert!(matches!(store.put("../escape", Bytes::new()).await, Err(StorageError::InvalidKey { .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_store_round_trips_objects() {
    let root = tempfile::tempdir().expect("tempdir");
    let ep = start_s3s(root.path()).await;
    exercise(&s3(&ep, "test-sk")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_store_round_trips_objects() {
    let root = tempfile::tempdir().expect("tempdir");
    exercise(&Store::local(root.path().join("remote"))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_gives_a_credentials_error_that_says_what_to_check() {
    let root = tempfile::tempdir().expect("tempdir");
    let ep = start_s3s(root.path()).await;
    let store = s3(&ep, "not-the-secret");
    for err in [
        store.put("x", Bytes::from_static(b"x")).await.expect_err("put must fail"),
        store.exists("x").await.expect_err("head must fail"),
    ] {
        assert!(matches!(err, StorageError::Credentials { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("rejected the credentials") && msg.contains("secret_access_key"), "{msg}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_credentials_are_reported_before_any_request() {
    let settings = S3Settings { endpoint_url: Some("http://127.0.0.1:9".into()), ..S3Settings::default() };
    let o = S3Options::resolve("s3://bucket", &settings, &AwsEnv::default()).expect("url");
    let err = Store::s3(o).expect_err("no credentials");
    assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
}
