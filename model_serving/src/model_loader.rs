//! Loading a model: at start-up from MODEL_PATH (a local directory), MODEL_URI (the two files
//! of a published model, or a published model set, under an S3 prefix, read through
//! `object_storage`, which also retries S3) or a registry (MODEL_REGISTRY: a version,
//! downloaded, checked against its card's weights checksum, loaded and made to score a few rows
//! before it is served). Errors name the variable
//! or object and the fix; the cause is their `source()`.

use std::path::Path;
use std::sync::Arc;

use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE};
use model_core::set::SET_FILE;
use model_core::{ArtifactError, DataError, Frame, Model, ModelSet};
use model_registry::{AliasPoll, Registry, RegistryError};
use object_storage::{S3Options, StorageError, Store};

use crate::config::{ModelSource, RegistryPick, RegistryRoot};
use crate::served_model::{Artifact, ServedModel};

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
    #[error("MODEL_REGISTRY={root}: the registry cannot be opened")]
    RegistryOpen {
        root: String,
        #[source]
        source: StorageError,
    },
    #[error("{what}: reading the registry failed")]
    Registry {
        what: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("{what}: the model cannot be loaded")]
    Invalid {
        what: String,
        #[source]
        source: ArtifactError,
    },
    #[error("{what}: the model does not score (a check on {rows} rows of its training means)")]
    DoesNotScore {
        what: String,
        rows: usize,
        #[source]
        source: Box<DataError>,
    },
    #[error("{what}: the model gives a non-finite score on its own training means")]
    NonFinite { what: String },
    #[error("{what}: the loading task failed: {message}")]
    Task { what: String, message: String },
}

/// The model to serve at start-up, and what to follow afterwards.
pub struct Start {
    /// None only while a followed alias does not exist and MODEL_PATH holds no model.
    pub model: Option<ServedModel>,
    pub follow: Option<Follow>,
}

/// A registry alias to keep following, from what start-up saw of it.
pub struct Follow {
    pub registry: Arc<Registry>,
    pub root: String,
    pub name: String,
    pub alias: String,
    /// The alias object's ETag when start-up read it, for the first conditional poll.
    pub etag: Option<String>,
}

/// Opens MODEL_REGISTRY's store (the one owner of S3 settings resolved the options already).
pub fn open_registry(root: &RegistryRoot) -> Result<Registry, LoadError> {
    let store = match root {
        RegistryRoot::Local(dir) => Store::local(dir.clone()),
        RegistryRoot::S3(options) => Store::s3(options.as_ref().clone())
            .map_err(|source| LoadError::RegistryOpen { root: root.to_string(), source })?,
    };
    Ok(Registry::from_store(store))
}

/// What start-up serves. A followed alias that does not exist yet (or cannot be read now) is not
/// an error: MODEL_PATH is served meanwhile when it holds a model (`fallback_dir`), otherwise
/// nothing (unready). A pinned version that cannot be loaded is.
pub async fn start(source: &ModelSource, fallback_dir: &Path) -> Result<Start, LoadError> {
    let (root, name, pick) = match source {
        ModelSource::Path(dir) => {
            return Ok(Start {
                model: Some(ServedModel::plain(load_dir(dir).await?, source.to_string())),
                follow: None,
            });
        }
        ModelSource::S3(options) => {
            let artifact = load_s3(options, source.to_string()).await?;
            return Ok(Start { model: Some(ServedModel::plain(artifact, source.to_string())), follow: None });
        }
        ModelSource::Registry { root, name, pick } => (root, name, pick),
    };
    let registry = Arc::new(open_registry(root)?);
    let root_text = root.to_string();
    let alias = match pick {
        RegistryPick::Version(version) => {
            let model = from_registry(&registry, &root_text, name, version, None).await?;
            return Ok(Start { model: Some(model), follow: None });
        }
        RegistryPick::Alias(alias) => alias,
    };
    // Any failure to get the champion at start-up (the registry unreachable, a bad version)
    // falls back like a missing alias: the follower keeps checking and switches when it can,
    // so a registry outage never stops a pod from starting.
    let (model, follow) = first_of_alias(registry, root_text, name, alias).await;
    let model = match model {
        Some(model) => Some(model),
        None => fallback_model(fallback_dir, &format!("{} {name}@{alias}", follow.root)).await,
    };
    Ok(Start { model, follow: Some(follow) })
}

/// What `name@alias` names now, checked and ready to serve (`None` when the alias does not
/// exist, or the registry or the version cannot be read: logged), and the follower's start.
pub async fn first_of_alias(
    registry: Arc<Registry>,
    root: String,
    name: &str,
    alias: &str,
) -> (Option<ServedModel>, Follow) {
    let what = format!("{root} {name}@{alias}");
    let (model, etag) = match registry.poll_alias(name, alias, None).await {
        Ok(AliasPoll::Changed { record, etag }) => {
            match from_registry(&registry, &root, name, &record.version, Some(alias)).await {
                Ok(model) => (Some(model), etag),
                Err(e) => {
                    tracing::error!(alias = %what, error = %crate::error_text::chain(&e), "the aliased version cannot be served");
                    (None, None)
                }
            }
        }
        Ok(AliasPoll::Missing | AliasPoll::Unchanged) => (None, None),
        Err(e) => {
            tracing::error!(alias = %what, error = %crate::error_text::chain(&e), "reading the registry failed");
            (None, None)
        }
    };
    (model, Follow { registry, root, name: name.to_string(), alias: alias.to_string(), etag })
}

/// MODEL_PATH, served while the followed alias does not exist, if it holds a model.
async fn fallback_model(dir: &Path, awaited: &str) -> Option<ServedModel> {
    if !dir.join(METADATA_FILE).exists() && !model_core::model_set::is_set_dir(dir) {
        tracing::warn!(awaited, model_path = %dir.display(),
            "no champion to serve and MODEL_PATH holds no model: unready until the alias names a loadable version");
        return None;
    }
    match load_dir(dir).await {
        Ok(model) => {
            tracing::warn!(awaited, model_path = %dir.display(),
                "no champion to serve: serving MODEL_PATH until the alias names a loadable version");
            let mut served = ServedModel::plain(model, dir.display().to_string());
            served.fallback = true;
            Some(served)
        }
        Err(e) => {
            tracing::error!(awaited, error = %crate::error_text::chain(&e),
                "no champion to serve and MODEL_PATH cannot be loaded: unready until the alias names a loadable version");
            None
        }
    }
}

/// Downloads `name:version` from the registry, checks it (the card's weights checksum, the
/// model's own consistency checks, a few rows scored) and returns it ready to serve.
pub async fn from_registry(
    registry: &Registry,
    root: &str,
    name: &str,
    version: &str,
    alias: Option<&str>,
) -> Result<ServedModel, LoadError> {
    let what = format!("{root} {name}:{version}");
    let files = registry
        .fetch_version(name, version)
        .await
        .map_err(|source| LoadError::Registry { what: what.clone(), source: Box::new(source) })?;
    let checked_what = what.clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<Artifact, LoadError> {
        let what = checked_what;
        let invalid = |source| LoadError::Invalid { what: what.clone(), source };
        let artifact = files.load(Path::new(&what)).map_err(invalid)?;
        match &artifact {
            Artifact::Single(model) => check_scores(model, &what)?,
            Artifact::Set(set) => check_set(set, &what)?,
        }
        Ok(artifact)
    })
    .await
    .map_err(|e| LoadError::Task { what: what.clone(), message: e.to_string() })??;
    Ok(ServedModel::new(checked, name.to_string(), version.to_string(), what, alias.map(str::to_string)))
}

/// Scores one window of rows at the model's training means: a model that cannot, or gives a
/// non-finite score there, is not served.
fn check_scores(model: &Model, what: &str) -> Result<(), LoadError> {
    let meta = &model.meta;
    let rows = meta.window.length.max(1) + 1;
    let means: Vec<Vec<f64>> = vec![meta.scaler.mean.clone(); rows];
    let frame = Frame::from_rows(&means, &meta.features, "verification rows")
        .map_err(|source| LoadError::DoesNotScore { what: what.to_string(), rows, source: Box::new(source) })?;
    let scores = model.score_frame(&frame, "verification rows").map_err(|source| LoadError::DoesNotScore {
        what: what.to_string(),
        rows,
        source: Box::new(source),
    })?;
    if scores.scores.iter().all(|s| s.is_finite()) {
        Ok(())
    } else {
        Err(LoadError::NonFinite { what: what.to_string() })
    }
}

/// [`check_scores`] for every model of a set.
fn check_set(set: &ModelSet, what: &str) -> Result<(), LoadError> {
    for (member, model) in set.members() {
        check_scores(model, &format!("{what}, group {:?}", member.group))?;
    }
    match set.fallback() {
        Some(fallback) => check_scores(fallback, &format!("{what}, the fallback model")),
        None => Ok(()),
    }
}

/// Loads MODEL_PATH, a local model directory or model set (`set.json`), each model of a set made
/// to score a few rows as a registry version is.
async fn load_dir(dir: &Path) -> Result<Artifact, LoadError> {
    let dir = dir.to_path_buf();
    let path = dir.display().to_string();
    let what = format!("MODEL_PATH={path}");
    let loaded = tokio::task::spawn_blocking(move || -> Result<Result<Artifact, LoadError>, ArtifactError> {
        let artifact = Artifact::load(&dir)?;
        if let Artifact::Set(set) = &artifact
            && let Err(e) = check_set(set, &what)
        {
            return Ok(Err(e));
        }
        Ok(Ok(artifact))
    })
    .await;
    match loaded {
        Ok(Ok(result)) => result,
        Ok(Err(source)) => Err(LoadError::Path { path, source }),
        Err(e) => Err(LoadError::Path {
            path: path.clone(),
            source: ArtifactError::Io { path: path.into(), source: std::io::Error::other(e) },
        }),
    }
}

/// Loads MODEL_URI, the two files of a model published under an S3 prefix, or a model set
/// published there (`set.json` beside its members' directories: downloaded whole, then loaded
/// and checked as MODEL_PATH's).
async fn load_s3(options: &S3Options, uri: String) -> Result<Artifact, LoadError> {
    if options.access_key_id.is_none() || options.secret_access_key.is_none() {
        return Err(LoadError::MissingKeys { uri });
    }
    let read = |source| LoadError::Read { uri: uri.clone(), source };
    let store = Store::s3(options.clone()).map_err(read)?;
    let (meta, weights) = tokio::join!(store.get(METADATA_FILE), store.get(WEIGHTS_FILE));
    if let Err(StorageError::NotFound { .. }) = meta
        && store.exists(SET_FILE).await.map_err(read)?
    {
        return load_s3_set(&store, uri).await;
    }
    let (meta, weights) = (meta.map_err(read)?, weights.map_err(read)?);
    Model::from_bytes(&meta, &weights, Path::new(&uri))
        .map(Artifact::Single)
        .map_err(|source| LoadError::Model { uri, source })
}

/// A model set under MODEL_URI: `set.json` and the members' files it names, read into memory
/// and loaded and checked as MODEL_PATH's.
async fn load_s3_set(store: &Store, uri: String) -> Result<Artifact, LoadError> {
    let read = |source| LoadError::Read { uri: uri.clone(), source };
    let keys = store.list("").await.map_err(read)?;
    let contents = store.get_many(&keys).await.map_err(read)?;
    let files: std::collections::BTreeMap<String, bytes::Bytes> = keys.into_iter().zip(contents).collect();
    let what = format!("MODEL_URI={uri}");
    let task_what = what.clone();
    tokio::task::spawn_blocking(move || -> Result<Artifact, LoadError> {
        let at = Path::new(&what);
        let manifest = files.get(SET_FILE).cloned().unwrap_or_default();
        let set = ModelSet::from_reader(&manifest, at, &mut |rel| match files.get(rel) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => Err(ArtifactError::Inconsistent {
                path: at.join(SET_FILE),
                message: format!("names {rel}, which is not under the prefix"),
            }),
        })
        .map_err(|source| LoadError::Model { uri, source })?;
        check_set(&set, &what)?;
        Ok(Artifact::Set(set))
    })
    .await
    .map_err(|e| LoadError::Task { what: task_what, message: e.to_string() })?
}
