//! Hashes of workspace paths as DVC records them: a file's md5 ([`crate::checksum`]), a
//! directory's `.dir` manifest and its md5. Directory members are hashed in parallel, and a
//! [`HashState`] skips files whose (inode, mtime, size) did not change.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rayon::prelude::*;

use crate::checksum::{Algo, hex, md5_file};
use crate::error::{Error, Result};
use crate::ignore::DvcIgnore;
use crate::state::HashState;

/// Hash of a file or directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HashInfo {
    /// md5 hex, with `.dir` for directories.
    pub(crate) md5: String,
    pub(crate) size: u64,
    /// Number of files, directories only.
    pub(crate) nfiles: Option<u64>,
    pub(crate) isexec: bool,
    /// Directory manifest: sorted `(relpath, md5, size)` of every file.
    pub(crate) entries: Option<Vec<DirEntry>>,
}

/// One file of a directory manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirEntry {
    pub(crate) relpath: String,
    pub(crate) md5: String,
    pub(crate) size: u64,
}

/// md5 of a file through the state cache.
fn file_md5_cached(path: &Path, meta: &std::fs::Metadata, algo: Algo, state: &HashState) -> Result<String> {
    if let Some(h) = state.get(path, meta, algo) {
        return Ok(h);
    }
    let h = md5_file(path, algo)?;
    state.put(path, meta, algo, &h);
    Ok(h)
}

/// Hashes a file or directory. Symlinks are followed; empty directories and what `.dvcignore`
/// ignores are left out.
pub(crate) fn hash_path(path: &Path, algo: Algo, state: &HashState, ignore: &DvcIgnore) -> Result<HashInfo> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
    if meta.is_dir() {
        let files = list_files(path, ignore)?;
        let mut entries: Vec<DirEntry> = files
            .par_iter()
            .map(|(rel, abs)| {
                let m = std::fs::metadata(abs).map_err(|e| Error::io("reading", abs, e))?;
                Ok(DirEntry { relpath: rel.clone(), md5: file_md5_cached(abs, &m, algo, state)?, size: m.len() })
            })
            .collect::<Result<_>>()?;
        entries.sort_by(|a, b| a.relpath.cmp(&b.relpath));
        let manifest = manifest_bytes(&entries);
        let md5 = format!("{}.dir", hex(&Md5::digest(&manifest)));
        Ok(HashInfo {
            md5,
            size: entries.iter().map(|e| e.size).sum(),
            nfiles: Some(entries.len() as u64),
            isexec: false,
            entries: Some(entries),
        })
    } else {
        Ok(HashInfo {
            md5: file_md5_cached(path, &meta, algo, state)?,
            size: meta.len(),
            nfiles: None,
            isexec: meta.permissions().mode() & 0o111 != 0,
            entries: None,
        })
    }
}

/// Every regular file below `dir` (following symlinks) as (relpath with '/', absolute path),
/// leaving out what `.dvcignore` ignores. A `.dvcignore` inside `dir` is an error, as in dvc.
pub(crate) fn list_files(dir: &Path, ignore: &DvcIgnore) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, d)) = stack.pop() {
        let rules = ignore.rules_in(&d)?;
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io("listing", &d, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("listing", &d, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let abs = entry.path();
            let ft = entry.file_type().map_err(|e| Error::io("reading", &abs, e))?;
            let is_dir = if ft.is_symlink() { abs.is_dir() } else { ft.is_dir() };
            if !rules.is_empty() && rules.ignores(&abs, is_dir) {
                continue;
            }
            if is_dir {
                stack.push((rel, abs));
            } else if ft.is_file() || abs.is_file() {
                if entry.file_name() == crate::ignore::FILE_NAME && ignore.applies() {
                    return Err(Error::IgnoreFileInside { file: abs, dir: dir.to_path_buf() });
                }
                out.push((rel, abs));
            }
        }
    }
    Ok(out)
}

/// The `.dir` manifest exactly as Python's `json.dumps(entries, sort_keys=True)` writes it.
pub(crate) fn manifest_bytes(entries: &[DirEntry]) -> Vec<u8> {
    json_list(entries, "md5")
}

/// An S3 prefix's listing as dvc hashes it: the same form as a manifest, with each entry's ETag
/// (held in `md5`) under the key `etag`.
pub(crate) fn listing_bytes(entries: &[DirEntry]) -> Vec<u8> {
    json_list(entries, "etag")
}

/// `[{"<hash_key>": .., "relpath": ..}, ..]`; `hash_key` sorts before `relpath`, as
/// `sort_keys=True` orders them.
fn json_list(entries: &[DirEntry], hash_key: &str) -> Vec<u8> {
    let mut s = String::with_capacity(entries.len() * 70 + 2);
    s.push('[');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str("{\"");
        s.push_str(hash_key);
        s.push_str("\": ");
        crate::pyjson::string(&mut s, &e.md5);
        s.push_str(", \"relpath\": ");
        crate::pyjson::string(&mut s, &e.relpath);
        s.push('}');
    }
    s.push(']');
    s.into_bytes()
}

/// Parses a `.dir` manifest (from the cache) into entries (sizes unknown: 0).
pub(crate) fn parse_manifest(bytes: &[u8]) -> Option<Vec<DirEntry>> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    v.as_array()?
        .iter()
        .map(|e| {
            Some(DirEntry {
                relpath: e.get("relpath")?.as_str()?.to_string(),
                md5: e.get("md5")?.as_str()?.to_string(),
                size: 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_manifest_matches_dvc_byte_for_byte() {
        // DVC-FORMAT.md ex2: the manifest dvc wrote, and its hash.
        let e = |md5: &str, rel: &str| DirEntry { relpath: rel.into(), md5: md5.into(), size: 0 };
        let mut entries = vec![
            e("b026324c6904b2a9cb4b88d6d61c81d1", "a/b"),
            e("1dcca23355272056f04fe8bf20edfce0", ".hidden/h"),
            e("84bc3da1b3e33a18e8d5e1bdd7a18d7a", "B.txt"),
            e("26ab0db90d72e28ad0ba1e22ee510510", "a-b/x"),
            e("d41d8cd98f00b204e9800998ecf8427e", "empty"),
            e("aab7e3691d8e56dbebe8c22e116a21f4", "link.txt"),
            e("48a24b70a0b376535542b996af517398", "q\"uote\\back.txt"),
            e("6d7fce9fee471194aa8b5b6e47267f03", "\u{e9} caf\u{e9}.txt"),
            e("9ae0ea9e3c9c6e1b9b6252c8395efdc1", "\u{1f600}.txt"),
        ];
        entries.sort_by(|a, b| a.relpath.cmp(&b.relpath));
        let bytes = manifest_bytes(&entries);
        let text = String::from_utf8(bytes.clone()).expect("ascii");
        assert!(
            text.contains(r#""relpath": "\u00e9 caf\u00e9.txt""#) && text.contains(r#"\ud83d\ude00.txt"#),
            "{text}"
        );
        assert!(
            text.starts_with(r#"[{"md5": "1dcca23355272056f04fe8bf20edfce0", "relpath": ".hidden/h"}, "#),
            "{text}"
        );
        let md5 = hex(&<md5::Md5 as md5::Digest>::digest(&bytes));
        assert_eq!(md5, "44a3d256efcec3fca0d2ce150bcf598f");
        assert_eq!(hex(&<md5::Md5 as md5::Digest>::digest(manifest_bytes(&[]))), "d751713988987e9331980363e24189ce");
    }
}
