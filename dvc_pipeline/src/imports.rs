//! `import-url URL PATH` and `update PATH.dvc`, as dvc does them: S3 data (an object or every
//! object under a prefix) is copied into the workspace and the cache, and a frozen `.dvc` file
//! records its source with the ETag (or the listing's `.dir` md5) it had, so `update` fetches
//! again only when the source changed. The file is dvc's (docs/dvc-s3-dependencies.md, section
//! 3): real dvc updates what we import and the reverse.

use std::path::{Path, PathBuf};

use atomic_file::{AtomicDir, Durability};
use futures::TryStreamExt;
use md5::{Digest, Md5};
use object_storage::S3Settings;

use crate::checksum::{Algo, hex};
use crate::error::{Error, Result};
use crate::external::{self, Found, Location};
use crate::hashing::{self, listing_bytes};
use crate::lock::LockOut;
use crate::project::Project;
use crate::repo::write_file;
use crate::yaml::{self, Node, Value};

/// Objects of a prefix downloaded at once.
const PARALLEL_DOWNLOADS: usize = 8;

/// Keys dvc leaves out of a stage's md5 at any depth (`dvc/stage/utils.py`, `compute_md5`).
const NOT_HASHED: &[&str] =
    &["desc", "type", "labels", "meta", "frozen", "locked", "metric", "persist", "isexec", "size", "nfiles"];

/// What `import-url` or `update` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The `.dvc` file.
    pub dvc_file: PathBuf,
    /// The data in the workspace.
    pub out: PathBuf,
    /// False when `update` found the source unchanged and left everything as it was.
    pub changed: bool,
}

/// `import-url URL OUT`: copies the object or prefix at `url` to `out` (a path; an existing
/// directory receives the URL's last name inside it), caches it and writes `OUT.dvc`. An
/// existing `OUT.dvc` or `OUT` is an error unless `force`.
pub fn import_url(project: &Project, url: &str, out: &Path, force: bool) -> Result<Imported> {
    if !external::is_url(url) {
        return Err(Error::BadUrl {
            url: url.to_string(),
            message: "expected s3://bucket/key or remote://NAME/path".into(),
        });
    }
    let mut abs = crate::dvcfile::normalize(&std::path::absolute(out).map_err(|e| Error::io("resolving", out, e))?);
    if abs.is_dir() && !abs.join(".dvc").is_dir() {
        let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        abs = abs.join(name);
    }
    if !abs.starts_with(&project.repo.root) || abs == project.repo.root {
        return Err(Error::OutsideRepo { path: abs });
    }
    let dvc_file = dvc_file_of(&abs);
    if !force {
        for existing in [&dvc_file, &abs] {
            if std::fs::symlink_metadata(existing).is_ok() {
                return Err(Error::ImportTargetExists { path: existing.clone() });
            }
        }
    }
    let settings = S3Settings::default();
    let location = external::locate(Some(&project.repo), url, project.external.env(), &settings)?;
    let found = external::block_on(external::lookup(url, &location))?
        .ok_or_else(|| Error::MissingImportSource { url: url.to_string() })?;
    fetch_and_record(project, url, None, &location, &found, &abs, &dvc_file)?;
    Ok(Imported { dvc_file, out: abs, changed: true })
}

/// `update FILE.dvc`: looks the import's source up again and, when it changed (or the data is
/// missing from the workspace), copies it again and rewrites the file. A source that no longer
/// exists is an error, and the workspace and the file are left as they were.
pub fn update(project: &Project, dvc_file: &Path) -> Result<Imported> {
    let dvc_file =
        crate::dvcfile::normalize(&std::path::absolute(dvc_file).map_err(|e| Error::io("resolving", dvc_file, e))?);
    let doc = yaml::load_file(&dvc_file)?;
    let not_import = || Error::NotAnImport { file: dvc_file.clone() };
    let dep_node = match doc.get("deps").map(|d| &d.value) {
        Some(Value::Seq(deps)) if deps.len() == 1 => &deps[0],
        _ => return Err(not_import()),
    };
    let dep = crate::lock::parse_entry(dep_node, &dvc_file, "deps")?;
    if !external::is_url(&dep.path) {
        return Err(not_import());
    }
    let out = match doc.get("outs").map(|o| &o.value) {
        Some(Value::Seq(outs)) if outs.len() == 1 => crate::lock::parse_entry(&outs[0], &dvc_file, "outs")?,
        _ => return Err(not_import()),
    };
    let dir = dvc_file.parent().unwrap_or(Path::new("."));
    let abs = crate::dvcfile::normalize(&dir.join(&out.path));
    let fs_config = dep_node.get("fs_config").cloned();
    let settings = fs_config.as_ref().map(settings_of).unwrap_or_default();
    let location = external::locate(Some(&project.repo), &dep.path, project.external.env(), &settings)?;
    let found = external::block_on(external::lookup(&dep.path, &location))?
        .ok_or_else(|| Error::MissingImportSource { url: dep.path.clone() })?;
    let workspace_current = !out.md5.is_empty() && project.hash(&abs, out.algo)?.is_some_and(|h| h.md5 == out.md5);
    if dep.matches_found(&found) && workspace_current && doc.get("md5").is_some() {
        return Ok(Imported { dvc_file, out: abs, changed: false });
    }
    fetch_and_record(project, &dep.path, fs_config, &location, &found, &abs, &dvc_file)?;
    Ok(Imported { dvc_file, out: abs, changed: true })
}

/// `<out>.dvc` next to `out`.
fn dvc_file_of(out: &Path) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    out.with_file_name(format!("{name}.dvc"))
}

/// The settings a `.dvc` file's `fs_config` gives (dvc's names: `endpointurl`, `region`,
/// `access_key_id`, `secret_access_key`, `session_token`).
fn settings_of(fs_config: &Node) -> S3Settings {
    let get = |k: &str| fs_config.get(k).and_then(Node::to_interp_string);
    S3Settings {
        endpoint_url: get("endpointurl"),
        region: get("region"),
        access_key_id: get("access_key_id"),
        secret_access_key: get("secret_access_key"),
        session_token: get("session_token"),
    }
}

/// Downloads what `found` describes into `abs` (replacing what was there only once the copy is
/// complete), caches it, and writes the `.dvc` file last.
fn fetch_and_record(
    project: &Project,
    url: &str,
    fs_config: Option<Node>,
    location: &Location,
    found: &Found,
    abs: &Path,
    dvc_file: &Path,
) -> Result<()> {
    download(location, found, abs)?;
    let h = hashing::hash_path(abs, Algo::Md5, &project.state, &project.ignore)?;
    project.cache.save(abs, &h, Algo::Md5)?;
    if let Found::Prefix { md5, entries, .. } = found {
        // As dvc: the source listing is kept in the cache too, under its own hash.
        let listing = listing_bytes(entries);
        debug_assert_eq!(format!("{}.dir", hex(&Md5::digest(&listing))), *md5);
        project.cache.save_bytes(&listing, md5, Algo::Md5)?;
    }
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dep = LockOut::from_found(url, found);
    let out = LockOut::from_hash(&name, &h);
    write_file(dvc_file, import_file_text(&dep, fs_config, &out).as_bytes(), Durability::Durable)?;
    project.gitignore_out(abs)?;
    project.state.save();
    Ok(())
}

/// Copies an object to `abs`, or every object of a prefix into a directory that replaces `abs`
/// once it is complete.
fn download(location: &Location, found: &Found, abs: &Path) -> Result<()> {
    match found {
        Found::Object { .. } => {
            if abs.is_dir() {
                std::fs::remove_dir_all(abs).map_err(|e| Error::io("removing", abs, e))?;
            }
            if let Some(parent) = abs.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
            }
            external::block_on(async { Ok(location.store.get_to_file(&location.key, abs).await?) })
        }
        Found::Prefix { entries, .. } => {
            let dir = AtomicDir::create(abs).map_err(|e| Error::io("creating a directory next to", abs, e))?;
            let root = dir.path().to_path_buf();
            let base = if location.key.is_empty() { String::new() } else { format!("{}/", location.key) };
            external::block_on(async {
                futures::stream::iter(entries.iter().map(Ok::<_, Error>))
                    .try_for_each_concurrent(PARALLEL_DOWNLOADS, |e| {
                        let (key, dest) = (format!("{base}{}", e.relpath), root.join(&e.relpath));
                        async move {
                            if let Some(parent) = dest.parent() {
                                tokio::fs::create_dir_all(parent)
                                    .await
                                    .map_err(|err| Error::io("creating", parent, err))?;
                            }
                            Ok(location.store.get_to_file(&key, &dest).await?)
                        }
                    })
                    .await
            })?;
            if abs.is_file() {
                std::fs::remove_file(abs).map_err(|e| Error::io("removing", abs, e))?;
            }
            dir.commit().map_err(|e| Error::io("moving the downloaded directory to", abs, e))
        }
    }
}

/// An import's `.dvc` file as dvc writes it: the stage md5, `frozen: true`, the dependency
/// (`etag, size, hash, path` or a prefix's `md5, size, nfiles, hash, path`, then `fs_config`)
/// and the out.
fn import_file_text(dep: &LockOut, fs_config: Option<Node>, out: &LockOut) -> String {
    let mut dep_node = dep.to_dvc_node();
    if let (Some(cfg), Value::Map(m)) = (fs_config, &mut dep_node.value) {
        m.push(("fs_config".into(), cfg));
    }
    let body = vec![
        ("frozen".to_string(), Node::new(Value::Bool(true))),
        ("deps".to_string(), Node::new(Value::Seq(vec![dep_node]))),
        ("outs".to_string(), Node::new(Value::Seq(vec![out.to_dvc_node()]))),
    ];
    let md5 = hex(&Md5::digest(crate::pyjson::dumps_sorted(&Node::new(Value::Map(body.clone())), NOT_HASHED)));
    let mut doc = vec![("md5".to_string(), Node::str(md5))];
    doc.extend(body);
    yaml::emit(&Node::new(Value::Map(doc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_file_is_dvcs_byte_for_byte() {
        // docs/dvc-s3-dependencies.md 3.1: what dvc 3.67.1 wrote for `import-url
        // s3://bucket/raw/a.csv data/a.csv`.
        let dep = LockOut::from_found(
            "s3://bucket/raw/a.csv",
            &Found::Object { etag: "fd2468f8f906b69ac28aaf65ea855e94".into(), size: 12 },
        );
        let out = LockOut {
            path: "a.csv".into(),
            algo: Algo::Md5,
            md5: "fd2468f8f906b69ac28aaf65ea855e94".into(),
            etag: None,
            size: Some(12),
            nfiles: None,
            isexec: false,
        };
        assert_eq!(
            import_file_text(&dep, None, &out),
            "md5: ac1d5ab615eff17845426ae8ee1154ec\nfrozen: true\ndeps:\n- etag: fd2468f8f906b69ac28aaf65ea855e94\n  \
             size: 12\n  hash: md5\n  path: s3://bucket/raw/a.csv\nouts:\n- md5: fd2468f8f906b69ac28aaf65ea855e94\n  \
             size: 12\n  hash: md5\n  path: a.csv\n"
        );
        // 3.6: fs_config is part of the stage md5.
        let cfg = Node::new(Value::Map(vec![("endpointurl".into(), Node::str("http://127.0.0.1:9124"))]));
        let dep = LockOut::from_found(
            "s3://bucket/raw/b.csv",
            &Found::Object { etag: "02fd4b95d6698283dc2dc4e19425a829".into(), size: 12 },
        );
        let out = LockOut { path: "b_fs.csv".into(), md5: "02fd4b95d6698283dc2dc4e19425a829".into(), ..out };
        let text = import_file_text(&dep, Some(cfg), &out);
        assert!(text.starts_with("md5: 28af720b02a766e30a7e9da38c27b943\n"), "{text}");
        assert!(text.contains("  fs_config:\n    endpointurl: http://127.0.0.1:9124\n"), "{text}");
    }

    #[test]
    fn a_prefix_import_file_is_dvcs() {
        // 3.3: `import-url s3://bucket/raw/ data/rawdir`.
        let dep = LockOut {
            path: "s3://bucket/raw/".into(),
            algo: Algo::Md5,
            md5: "9ad5cf00b05c54778b36327a2ab5a0f1.dir".into(),
            etag: None,
            size: Some(26),
            nfiles: Some(3),
            isexec: false,
        };
        let out = LockOut { path: "rawdir".into(), md5: "c21674a89c37f4f9e06cdb8a56215729.dir".into(), ..dep.clone() };
        assert_eq!(
            import_file_text(&dep, None, &out),
            "md5: a18198d3b74d85d649d2691c08b3e274\nfrozen: true\ndeps:\n- md5: 9ad5cf00b05c54778b36327a2ab5a0f1.dir\n  \
             size: 26\n  nfiles: 3\n  hash: md5\n  path: s3://bucket/raw/\nouts:\n- md5: \
             c21674a89c37f4f9e06cdb8a56215729.dir\n  size: 26\n  nfiles: 3\n  hash: md5\n  path: rawdir\n"
        );
    }
}
