//! Loading the model at start-up, from MODEL_PATH (a local directory) or MODEL_URI (the two
//! files of a published model under an S3 prefix, read through `object_storage`). Errors name
//! the variable and the fix.

use std::path::Path;

use model_core::Model;
use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE};

use object_storage::Store;

use crate::config::ModelSource;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("MODEL_PATH={path}: {source}")]
    Path { path: String, source: model_core::ArtifactError },
    #[error("MODEL_URI={uri}: {message}")]
    Uri { uri: String, message: String },
}

pub async fn load(source: &ModelSource) -> Result<Model, LoadError> {
    match source {
        ModelSource::Path(dir) => {
            let dir = dir.clone();
            let path = dir.display().to_string();
            let loaded = tokio::task::spawn_blocking(move || Model::load(&dir)).await;
            match loaded {
                Ok(result) => result.map_err(|source| LoadError::Path { path, source }),
                Err(e) => Err(LoadError::Path {
                    path: path.clone(),
                    source: model_core::ArtifactError::Io { path: path.into(), source: std::io::Error::other(e) },
                }),
            }
        }
        ModelSource::S3(options) => {
            let uri = source.to_string();
            let fail = |message: String| LoadError::Uri { uri: uri.clone(), message };
            if options.access_key_id.is_none() || options.secret_access_key.is_none() {
                return Err(fail(
                    "loading from S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for \
                     MinIO or another S3-compatible server)"
                        .into(),
                ));
            }
            let store = Store::s3(options.as_ref().clone()).map_err(|e| fail(e.to_string()))?;
            let (meta, weights) = tokio::join!(store.get(METADATA_FILE), store.get(WEIGHTS_FILE));
            let hint = "; publish the model with `model-creation publish` or fix MODEL_URI";
            let meta = meta.map_err(|e| fail(format!("{e}{hint}")))?;
            let weights = weights.map_err(|e| fail(format!("{e}{hint}")))?;
            Model::from_bytes(&meta, &weights, Path::new(&uri)).map_err(|e| fail(e.to_string()))
        }
    }
}
