//! Content hashing exactly as DVC does it: raw md5 for files (`hash: md5`), md5-dos2unix for
//! DVC 2.x entries, and `.dir` manifests for directories. Files are streamed in large buffers,
//! directory members are hashed in parallel, and a [`HashState`] skips files whose
//! (inode, mtime, size) did not change.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ignore::DvcIgnore;
use crate::state::HashState;

/// dvc-data decides text vs binary per 1 MiB chunk, so dos2unix hashing reads in 1 MiB chunks.
const DOS2UNIX_CHUNK: usize = 1 << 20;
/// Read size. Measured on the benchmark machine (50 MB file in the page cache): 32-128 KiB
/// reads hash at the same speed, 256 KiB is ~15 % slower and 1 MiB ~25 % slower, because the
/// buffer no longer stays in the core's L2 cache between the kernel's copy and the hashing.
/// One thread reads and hashes: a second reading thread made the copy cross cores and cost
/// more CPU than it saved whenever the machine was busy.
const RAW_BUF: usize = 128 << 10;

/// Which md5 flavour an entry uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algo {
    /// DVC 3: md5 of the raw bytes.
    Md5,
    /// DVC 2.x: text chunks get CRLF -> LF before hashing.
    Dos2Unix,
}

/// Hash of a file or directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashInfo {
    /// md5 hex, with `.dir` for directories.
    pub md5: String,
    pub size: u64,
    /// Number of files, directories only.
    pub nfiles: Option<u64>,
    pub isexec: bool,
    /// Directory manifest: sorted `(relpath, md5, size)` of every file.
    pub entries: Option<Vec<DirEntry>>,
}

/// One file of a directory manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub relpath: String,
    pub md5: String,
    pub size: u64,
}

impl HashInfo {
    pub fn is_dir(&self) -> bool {
        self.md5.ends_with(".dir")
    }
}

/// md5 of a file's bytes (raw or dos2unix), streamed in large reads.
pub fn md5_file(path: &Path, algo: Algo) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut h = Md5Stream::new(algo);
    let mut buf = vec![0u8; RAW_BUF.min(len as usize + 1)];
    loop {
        let n = read_full(&mut f, &mut buf).map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    Ok(h.finish())
}

/// md5 (raw or dos2unix) of bytes that arrive in pieces of any size, e.g. from the network.
/// Gives the same hash as [`md5_file`] on the concatenated bytes.
pub struct Md5Stream {
    algo: Algo,
    h: Md5,
    /// dos2unix only: the current 1 MiB chunk, since the text test is made per chunk.
    pending: Vec<u8>,
}

impl Md5Stream {
    pub fn new(algo: Algo) -> Self {
        Md5Stream { algo, h: Md5::new(), pending: Vec::new() }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        if self.algo == Algo::Md5 {
            self.h.update(data);
            return;
        }
        while !data.is_empty() {
            let take = (DOS2UNIX_CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == DOS2UNIX_CHUNK {
                self.hash_pending();
            }
        }
    }

    fn hash_pending(&mut self) {
        if is_text(&self.pending) {
            self.h.update(dos2unix(&self.pending));
        } else {
            self.h.update(&self.pending);
        }
        self.pending.clear();
    }

    /// The md5 in hex.
    pub fn finish(mut self) -> String {
        if !self.pending.is_empty() {
            self.hash_pending();
        }
        hex(&self.h.finalize())
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// dvc-data's text test: first 512 bytes without NUL and at most 30 % non-text bytes.
fn is_text(chunk: &[u8]) -> bool {
    let head = &chunk[..chunk.len().min(512)];
    if head.is_empty() {
        return true;
    }
    if head.contains(&0) {
        return false;
    }
    let nontext = head
        .iter()
        .filter(|&&b| !((32..=126).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x08)))
        .count();
    nontext * 100 <= head.len() * 30
}

fn dos2unix(chunk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len());
    let mut i = 0;
    while i < chunk.len() {
        if chunk[i] == b'\r' && chunk.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(chunk[i]);
        i += 1;
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
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
pub fn hash_path(path: &Path, algo: Algo, state: &HashState, ignore: &DvcIgnore) -> Result<HashInfo> {
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
pub fn list_files(dir: &Path, ignore: &DvcIgnore) -> Result<Vec<(String, PathBuf)>> {
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
                    return Err(Error::Usage(format!(
                        "{}: a .dvcignore may not be inside a tracked directory ({}); move its patterns to \
                         a .dvcignore above it",
                        abs.display(),
                        dir.display()
                    )));
                }
                out.push((rel, abs));
            }
        }
    }
    Ok(out)
}

/// The `.dir` manifest exactly as Python's `json.dumps(entries, sort_keys=True)` writes it.
pub fn manifest_bytes(entries: &[DirEntry]) -> Vec<u8> {
    let mut s = String::with_capacity(entries.len() * 70 + 2);
    s.push('[');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str("{\"md5\": ");
        crate::pyjson::string(&mut s, &e.md5);
        s.push_str(", \"relpath\": ");
        crate::pyjson::string(&mut s, &e.relpath);
        s.push('}');
    }
    s.push(']');
    s.into_bytes()
}

/// Parses a `.dir` manifest (from the cache) into entries (sizes unknown: 0).
pub fn parse_manifest(bytes: &[u8]) -> Option<Vec<DirEntry>> {
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

/// (inode, mtime ns, size) of a file, the key of the hash state.
pub fn stat_key(meta: &std::fs::Metadata) -> (u64, i128, u64) {
    (meta.ino(), meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128, meta.len())
}
