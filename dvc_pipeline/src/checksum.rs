//! md5 of bytes exactly as DVC computes it: raw md5 for DVC 3 entries (`hash: md5`) and
//! md5-dos2unix for DVC 2.x ones, for files read from disk ([`md5_file`]) and for bytes that
//! arrive in pieces ([`Md5Stream`]).

use std::io::Read;
use std::path::Path;

use md5::{Digest, Md5};

use crate::error::{Error, Result};

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
