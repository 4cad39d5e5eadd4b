//! `publish`: upload a model directory (or a model set's) under
//! `s3://bucket/models/<name>/<version>/` so that it appears atomically to readers: every file
//! first, the marker last (`metadata.json` for a model, `set.json` for a set). Readers (the
//! serving service's MODEL_URI) treat a prefix without its marker as not (yet) published.

use std::path::Path;

use futures::StreamExt;
use object_storage::Store;

use crate::error::{Error, Result};
use crate::hashing;
use crate::ignore::DvcIgnore;

/// The file whose presence marks a complete model.
pub(crate) const METADATA: &str = "metadata.json";
/// The file whose presence marks a complete model set (`model_core::set::SET_FILE`).
const SET: &str = "set.json";

/// Uploads `model_dir` (a model, or a model set: `set.json` beside its members' directories) to
/// `store` (rooted at the target prefix). Refuses to overwrite an already published model or
/// set unless `force`. Returns the number of files uploaded.
pub async fn publish(model_dir: &Path, store: &Store, force: bool, jobs: usize) -> Result<usize> {
    let marker = if model_dir.join(SET).is_file() { SET } else { METADATA };
    if !model_dir.join(marker).is_file() {
        return Err(Error::NotAModel { dir: model_dir.to_path_buf(), file: METADATA });
    }
    if !force {
        for published in [METADATA, SET] {
            if store.exists(published).await? {
                return Err(Error::AlreadyPublished { location: store.describe() });
            }
        }
    }
    let files = hashing::list_files(model_dir, &DvcIgnore::none())?;
    let rest: Vec<_> = files.iter().filter(|(rel, _)| rel != marker).collect();
    let results: Vec<Result<()>> = futures::stream::iter(rest.iter())
        .map(|(rel, abs)| async move { store.put_file(rel, abs).await.map_err(Error::from) })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    for r in results {
        r?;
    }
    store.put_file(marker, &model_dir.join(marker)).await?;
    Ok(files.len())
}
