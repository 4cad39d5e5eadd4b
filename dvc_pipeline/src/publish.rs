//! `publish`: upload a model directory under `s3://bucket/models/<name>/<version>/` so that
//! it appears atomically to readers: every file first, `metadata.json` last. Readers (the
//! serving service) treat a prefix without `metadata.json` as not (yet) published.

use std::path::Path;

use futures::StreamExt;
use object_storage::Store;

use crate::error::{Error, Result};
use crate::hashing;
use crate::ignore::DvcIgnore;

/// The file whose presence marks a complete model.
pub(crate) const METADATA: &str = "metadata.json";

/// Uploads `model_dir` to `store` (rooted at the target prefix). Refuses to overwrite an
/// already published model unless `force`. Returns the number of files uploaded.
pub async fn publish(model_dir: &Path, store: &Store, force: bool, jobs: usize) -> Result<usize> {
    if !model_dir.join(METADATA).is_file() {
        return Err(Error::NotAModel { dir: model_dir.to_path_buf(), file: METADATA });
    }
    if !force && store.exists(METADATA).await? {
        return Err(Error::AlreadyPublished { location: store.describe() });
    }
    let files = hashing::list_files(model_dir, &DvcIgnore::none())?;
    let rest: Vec<_> = files.iter().filter(|(rel, _)| rel != METADATA).collect();
    let results: Vec<Result<()>> = futures::stream::iter(rest.iter())
        .map(|(rel, abs)| async move { store.put_file(rel, abs).await.map_err(Error::from) })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    for r in results {
        r?;
    }
    store.put_file(METADATA, &model_dir.join(METADATA)).await?;
    Ok(files.len())
}
