//! The real S3 test server with one bucket, and options that sign for it: shared by the
//! object_storage integration tests.

use std::path::Path;

use object_storage::{AwsEnv, S3Options, S3Settings};

/// Starts the in-process S3 server over `root` with a bucket named `bucket`; returns its URL.
pub async fn start_s3s(root: &Path) -> String {
    std::fs::create_dir_all(root.join("bucket")).expect("bucket dir");
    s3_test_server::start(root).await
}

/// Options for `s3://bucket/<prefix>` at `endpoint`, signed with the test access key and `secret`.
pub fn s3_options(endpoint: &str, prefix: &str, secret: &str) -> S3Options {
    let settings = S3Settings {
        endpoint_url: Some(endpoint.to_string()),
        access_key_id: Some(s3_test_server::ACCESS_KEY.into()),
        secret_access_key: Some(secret.into()),
        ..S3Settings::default()
    };
    S3Options::resolve(&format!("s3://bucket/{prefix}"), &settings, &AwsEnv::default()).expect("url")
}
