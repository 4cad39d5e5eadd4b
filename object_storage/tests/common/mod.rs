//! The real S3 test server with one bucket, and options that sign for it: shared by the
//! object_storage integration tests.

use std::path::Path;

use object_storage::S3Options;

/// Starts the in-process S3 server over `root` with a bucket named `bucket`; returns its URL.
pub async fn start_s3s(root: &Path) -> String {
    std::fs::create_dir_all(root.join("bucket")).expect("bucket dir");
    s3_test_server::start(root).await
}

/// Options for `s3://bucket/<prefix>` at `endpoint`, signed with the test access key and `secret`.
pub fn s3_options(endpoint: &str, prefix: &str, secret: &str) -> S3Options {
    let mut o = S3Options::from_url(&format!("s3://bucket/{prefix}")).expect("url");
    o.endpoint_url = Some(endpoint.to_string());
    o.access_key_id = Some(s3_test_server::ACCESS_KEY.into());
    o.secret_access_key = Some(secret.into());
    o
}
