//! Downloads with a check (what the pipeline's fetch uses to verify hashes on the way in): the
//! check sees every byte, a refused object never appears under its final name, and no
//! temporary file is left behind. Small objects (received whole) and large ones (written
//! while they arrive) take different paths, so both sizes are tried on S3 and local stores.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_storage::{ObjectCheck, StorageError, Store};

mod common;

/// Records what it saw; accepts only objects of `want_len` bytes.
struct Recorder {
    seen: Arc<Mutex<Vec<u8>>>,
    want_len: usize,
}

impl ObjectCheck for Recorder {
    fn update(&mut self, data: &[u8]) {
        self.seen.lock().expect("lock").extend_from_slice(data);
    }
    fn finish(self, _file: &File) -> Result<(), String> {
        let n = self.seen.lock().expect("lock").len();
        if n == self.want_len { Ok(()) } else { Err(format!("expected {} bytes, saw {n}", self.want_len)) }
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

async fn exercise(store: &Store) {
    let small = Bytes::from_static(b"row 1\nrow 2\n");
    let large: Bytes = (0..5_000_000u32).map(|i| (i % 253) as u8).collect::<Vec<u8>>().into();
    store.put("o/small", small.clone()).await.expect("put");
    store.put("o/large", large.clone()).await.expect("put");
    let out = tempfile::tempdir().expect("tempdir");

    for (key, bytes) in [("o/small", &small), ("o/large", &large)] {
        let dest = out.path().join("cache").join(key.replace('/', "_"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let check = || Recorder { seen: seen.clone(), want_len: bytes.len() };
        store.get_to_file_checked(key, &dest, check).await.expect("accepted download");
        assert_eq!(&std::fs::read(&dest).expect("stored"), bytes, "{key}: file content");
        assert_eq!(&*seen.lock().expect("lock"), bytes, "{key}: the check saw every byte once, in order");

        // Refused: nothing under the final name, no temporary file either.
        let refused = out.path().join("refused").join(key.replace('/', "_"));
        let check = || Recorder { seen: Arc::new(Mutex::new(Vec::new())), want_len: bytes.len() + 1 };
        let err = store.get_to_file_checked(key, &refused, check).await.expect_err("refused download");
        match &err {
            StorageError::Rejected { key: k, reason, .. } => {
                assert_eq!(k, key);
                assert!(reason.contains("expected"), "{reason}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert!(err.to_string().contains("it was not stored"), "{err}");
        assert!(!refused.exists(), "{key}: a refused object must not be stored");
        assert_eq!(entries(&out.path().join("refused")), Vec::<String>::new(), "{key}: temporaries left");
    }
    assert_eq!(entries(&out.path().join("cache")), vec!["o_large".to_string(), "o_small".to_string()]);

    let missing = out.path().join("missing");
    let check = || Recorder { seen: Arc::new(Mutex::new(Vec::new())), want_len: 0 };
    let err = store.get_to_file_checked("o/absent", &missing, check).await.expect_err("absent");
    assert!(matches!(err, StorageError::NotFound { .. }), "{err:?}");
    assert!(!missing.exists());
}

async fn s3_store(root: &Path) -> Store {
    let ep = common::start_s3s(root).await;
    Store::s3(common::s3_options(&ep, "p", s3_test_server::SECRET_KEY)).expect("client")
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_checked_downloads_store_only_accepted_objects() {
    let root = tempfile::tempdir().expect("tempdir");
    exercise(&s3_store(root.path()).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_checked_downloads_store_only_accepted_objects() {
    let root = tempfile::tempdir().expect("tempdir");
    exercise(&Store::local(root.path().join("remote"))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn s3_checked_downloads_work_on_a_single_threaded_runtime() {
    let root = tempfile::tempdir().expect("tempdir");
    exercise(&s3_store(root.path()).await).await;
}
