//! Opening a configured remote as an [`object_storage::Store`]: S3 (endpointurl, region,
//! credentials from config.local, over the AWS variables the caller passes) or a local directory
//! (relative to `.dvc/`).

use object_storage::{AwsEnv, S3Options, S3Settings, Store};

use crate::config::RemoteConfig;
use crate::error::{Error, Result};
use crate::repo::Repo;

/// Opens `remote`; an S3 remote's own settings win over `env` (`AwsEnv::from_process()` in the
/// command line, an explicit set in tests), resolved by `object_storage` as everywhere else.
pub fn open(repo: &Repo, remote: &RemoteConfig, env: &AwsEnv) -> Result<Store> {
    let opt = |k: &str| remote.options.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if remote.url.starts_with("s3://") {
        let settings = S3Settings {
            endpoint_url: opt("endpointurl"),
            region: opt("region"),
            access_key_id: opt("access_key_id"),
            secret_access_key: opt("secret_access_key"),
            session_token: opt("session_token"),
        };
        return Ok(Store::s3(S3Options::resolve(&remote.url, &settings, env)?)?);
    }
    if let Some((scheme, _)) = remote.url.split_once("://")
        && scheme != "file"
    {
        return Err(Error::UnsupportedRemote { name: remote.name.clone(), scheme: scheme.to_string() });
    }
    let path = remote.url.strip_prefix("file://").unwrap_or(&remote.url);
    let p = std::path::Path::new(path);
    let abs = if p.is_absolute() { p.to_path_buf() } else { crate::dvcfile::normalize(&repo.dvc_dir().join(p)) };
    Ok(Store::local(abs))
}
