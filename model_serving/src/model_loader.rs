//! Loading the model at start-up, from MODEL_PATH (a local directory) or MODEL_URI (the two
//! files of a published model under an S3 prefix, read through `object_storage`, which also
//! retries S3). Errors name the variable and the fix; the cause is their `source()`.

use std::path::Path;

use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE};
use model_core::{ArtifactError, Model};
use object_storage::{StorageError, Store};

use crate::config::ModelSource;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("MODEL_PATH={path}: the model cannot be loaded")]
    Path {
        path: String,
        #[source]
        source: ArtifactError,
    },
    #[error(
        "MODEL_URI={uri}: loading from S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL_S3 \
         or AWS_ENDPOINT_URL for MinIO or another S3-compatible server)"
    )]
    MissingKeys { uri: String },
    #[error(
        "MODEL_URI={uri}: reading the published model failed (publish it with `model-creation publish` or fix MODEL_URI)"
    )]
    Read {
        uri: String,
        #[source]
        source: StorageError,
    },
    #[error("MODEL_URI={uri}: the published model cannot be loaded")]
    Model {
        uri: String,
        #[source]
        source: ArtifactError,
    },
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
                    source: ArtifactError::Io { path: path.into(), source: std::io::Error::other(e) },
                }),
            }
        }
        ModelSource::S3(options) => {
            let uri = source.to_string();
            if options.access_key_id.is_none() || options.secret_access_key.is_none() {
                return Err(LoadError::MissingKeys { uri });
            }
            let read = |source| LoadError::Read { uri: uri.clone(), source };
            let store = Store::s3(options.as_ref().clone()).map_err(read)?;
            let (meta, weights) = tokio::join!(store.get(METADATA_FILE), store.get(WEIGHTS_FILE));
            let (meta, weights) = (meta.map_err(read)?, weights.map_err(read)?);
            Model::from_bytes(&meta, &weights, Path::new(&uri)).map_err(|source| LoadError::Model { uri, source })
        }
    }
}
