//! Conditional reads (`Store::get_if_none_match`): an unchanged object costs no body, a changed
//! one comes back with its new ETag, a missing one says so; the same on S3 and a directory.

mod common;

use bytes::Bytes;
use object_storage::{Conditional, Store};

/// The poller's cycle against one store: first read, unchanged read, change, missing.
async fn poll_cycle(store: &Store) {
    assert_eq!(store.get_if_none_match("m/aliases/champion.json", None).await.unwrap(), Conditional::Missing);
    store.put("m/aliases/champion.json", Bytes::from_static(b"{\"version\":\"a\"}")).await.unwrap();
    let Conditional::Found { bytes, etag: Some(etag) } =
        store.get_if_none_match("m/aliases/champion.json", None).await.unwrap()
    else {
        panic!("first read returns the object and an ETag")
    };
    assert_eq!(&bytes[..], b"{\"version\":\"a\"}");
    assert_eq!(
        store.get_if_none_match("m/aliases/champion.json", Some(&etag)).await.unwrap(),
        Conditional::NotModified
    );
    store.put("m/aliases/champion.json", Bytes::from_static(b"{\"version\":\"b\"}")).await.unwrap();
    let Conditional::Found { bytes, etag: Some(new_etag) } =
        store.get_if_none_match("m/aliases/champion.json", Some(&etag)).await.unwrap()
    else {
        panic!("a changed object is read again")
    };
    assert_eq!(&bytes[..], b"{\"version\":\"b\"}");
    assert_ne!(new_etag, etag);
    store.delete("m/aliases/champion.json").await.unwrap();
    assert_eq!(
        store.get_if_none_match("m/aliases/champion.json", Some(&new_etag)).await.unwrap(),
        Conditional::Missing
    );
}

#[tokio::test]
async fn local_directory_answers_conditional_reads() {
    let dir = tempfile::tempdir().unwrap();
    poll_cycle(&Store::local(dir.path())).await;
}

#[tokio::test]
async fn s3_answers_conditional_reads() {
    let root = tempfile::tempdir().unwrap();
    let endpoint = common::start_s3s(root.path()).await;
    let store = Store::s3(common::s3_options(&endpoint, "registry", s3_test_server::SECRET_KEY)).unwrap();
    poll_cycle(&store).await;
}

/// Observed at the server: the unchanged reads are 304 answers and carry no object bytes.
#[test]
fn an_unchanged_object_transfers_no_body() {
    let server = s3_test_server::S3Server::start(&["bucket"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = Store::s3(common::s3_options(&server.endpoint, "p", s3_test_server::SECRET_KEY)).unwrap();
    let body = Bytes::from(vec![b'x'; 4096]);
    rt.block_on(store.put("alias.json", body)).unwrap();
    let Conditional::Found { etag: Some(etag), .. } = rt.block_on(store.get_if_none_match("alias.json", None)).unwrap()
    else {
        panic!("first read returns the object")
    };
    assert_eq!(server.traffic.body_bytes(), 4096);
    for _ in 0..10 {
        assert_eq!(rt.block_on(store.get_if_none_match("alias.json", Some(&etag))).unwrap(), Conditional::NotModified);
    }
    assert_eq!(server.traffic.not_modified(), 10);
    assert_eq!(server.traffic.body_bytes(), 4096, "no object bytes after the first read");
}
