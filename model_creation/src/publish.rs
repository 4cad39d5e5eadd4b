//! Where `model-creation publish --to s3://...` uploads: the URL resolved with the standard AWS
//! variables by `object_storage`, the same resolution the serving service applies to
//! `MODEL_URI`, so a model published with some settings is loaded with the same ones.

use object_storage::{AwsEnv, S3Options, S3Settings, StorageError};

/// The S3 options `publish --to URL` connects with, given the AWS variables `env`.
pub fn destination(url: &str, env: &AwsEnv) -> Result<S3Options, StorageError> {
    S3Options::resolve(url, &S3Settings::default(), env)
}
