//! The one way this workspace writes a file: into a temporary file next to the destination,
//! then a rename, so a reader (or a crash) sees the old content or the new, never half of it.
//! A write that fails or is dropped removes its temporary file.
//!
//! Every temporary file is named `.<final name>.<random>.tmp` in the destination's directory
//! (the same file system, so the rename is atomic); [`is_temp_name`] recognises them, for
//! listings that must skip writes in progress. [`Durability::Durable`] also flushes the file and
//! its directory to the disk, for what must survive a power cut once the write returns
//! (`dvc.lock`, cache objects, model files); plots and reports skip the cost.
//!
//! Built on [`tempfile::NamedTempFile::persist`]. Errors are plain [`std::io::Error`]s: every
//! caller names the destination in its own error type.

use std::fs::{File, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// Whether a committed write must be on the disk before `commit` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` the file before the rename and its directory after it.
    Durable,
    /// Rename only: atomic for readers, but a power cut may lose the last write.
    Fast,
}

/// A file being written under a temporary name; [`AtomicFile::commit`] gives it its final name.
/// Dropped without a commit, the temporary file is removed.
#[derive(Debug)]
pub struct AtomicFile {
    temp: NamedTempFile,
    dest: PathBuf,
    durability: Durability,
}

impl AtomicFile {
    /// Creates the destination's directory (when missing) and a temporary file in it. The file
    /// gets the permissions a new file would get (`0666` less the umask), not tempfile's `0600`.
    pub fn create(dest: &Path, durability: Durability) -> io::Result<AtomicFile> {
        AtomicFile::create_with_mode(dest, durability, 0o666)
    }

    /// As [`AtomicFile::create`], the file created with `mode` (less the umask) from its first
    /// byte: `0o600` for a file of secrets is never readable by others, not even for a moment.
    /// The rename keeps the mode, whatever the file it replaces had.
    pub fn create_with_mode(dest: &Path, durability: Durability, mode: u32) -> io::Result<AtomicFile> {
        let dir = parent_dir(dest);
        let prefix = temp_prefix(dest);
        let make = || {
            tempfile::Builder::new()
                .prefix(&prefix)
                .suffix(TEMP_SUFFIX)
                .permissions(Permissions::from_mode(mode))
                .tempfile_in(dir)
        };
        let temp = match make() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                make()?
            }
            other => other?,
        };
        Ok(AtomicFile { temp, dest: dest.to_path_buf(), durability })
    }

    /// The open temporary file (to set permissions, read its metadata, write).
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// The destination this file will replace.
    pub fn destination(&self) -> &Path {
        &self.dest
    }

    /// Renames the temporary file to the destination, replacing what was there.
    pub fn commit(self) -> io::Result<()> {
        let durable = self.durability == Durability::Durable;
        if durable {
            self.temp.as_file().sync_all()?;
        }
        self.temp.persist(&self.dest).map_err(|e| e.error)?;
        if durable {
            sync_dir(parent_dir(&self.dest))?;
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Writes `data` to `dest` atomically.
pub fn write(dest: &Path, data: &[u8], durability: Durability) -> io::Result<()> {
    let mut file = AtomicFile::create(dest, durability)?;
    file.write_all(data)?;
    file.commit()
}

/// Writes `data` to `dest` atomically, readable and writable by its owner only (`0600`), for a
/// file holding secrets (keys in DVC's `config.local`). An existing `dest` of looser mode is
/// replaced by a `0600` one.
pub fn write_private(dest: &Path, data: &[u8], durability: Durability) -> io::Result<()> {
    let mut file = AtomicFile::create_with_mode(dest, durability, 0o600)?;
    file.write_all(data)?;
    file.commit()
}

/// Writes `dest` atomically through a buffered writer handed to `body` (many small writes).
pub fn write_with(
    dest: &Path,
    durability: Durability,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut writer = BufWriter::new(AtomicFile::create(dest, durability)?);
    body(&mut writer)?;
    writer.into_inner().map_err(io::IntoInnerError::into_error)?.commit()
}

/// Copies `src` to `dest` atomically (an in-kernel copy where the system has one). The copy is
/// writable whatever `src`'s permissions, so it can be replaced later (DVC cache objects are
/// read-only). Returns the number of bytes copied.
pub fn copy(src: &Path, dest: &Path, durability: Durability) -> io::Result<u64> {
    let mut from = File::open(src)?;
    let mut file = AtomicFile::create(dest, durability)?;
    let n = io::copy(&mut from, file.temp.as_file_mut())?;
    file.commit()?;
    Ok(n)
}

/// A directory being filled under a temporary name; [`AtomicDir::commit`] swaps it in for the
/// destination directory, which is replaced only once the new one is complete. Dropped without
/// a commit, the temporary directory is removed. Fill it with [`write`] and [`Durability::Durable`]
/// when its files must survive a power cut.
#[derive(Debug)]
pub struct AtomicDir {
    temp: tempfile::TempDir,
    dest: PathBuf,
}

impl AtomicDir {
    /// Creates a temporary directory next to `dest` (and `dest`'s parent when missing).
    pub fn create(dest: &Path) -> io::Result<AtomicDir> {
        let parent = parent_dir(dest);
        std::fs::create_dir_all(parent)?;
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(dest))
            .suffix(TEMP_SUFFIX)
            .permissions(Permissions::from_mode(0o777))
            .tempdir_in(parent)?;
        Ok(AtomicDir { temp, dest: dest.to_path_buf() })
    }

    /// The temporary directory to fill.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Puts the filled directory in place of the destination: the old one (if any) is moved
    /// aside, the new one renamed in, the old one removed. If the second rename fails, the old
    /// directory is put back.
    pub fn commit(self) -> io::Result<()> {
        let parent = parent_dir(&self.dest).to_path_buf();
        let had_old = self.dest.exists();
        let old = tempfile::Builder::new().prefix(&temp_prefix(&self.dest)).suffix(TEMP_SUFFIX).tempdir_in(&parent)?;
        let old_path = old.path().join("old");
        if had_old {
            std::fs::rename(&self.dest, &old_path)?;
        }
        let new = self.temp.keep();
        if let Err(e) = std::fs::rename(&new, &self.dest) {
            if had_old {
                let _ = std::fs::rename(&old_path, &self.dest);
            }
            let _ = std::fs::remove_dir_all(&new);
            return Err(e);
        }
        sync_dir(&parent)?;
        // `old` (and the replaced directory inside it) is removed on drop.
        drop(old);
        Ok(())
    }
}

/// Whether a file or directory name is a temporary one of a write in progress (or of one a crash
/// broke off).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

const TEMP_SUFFIX: &str = ".tmp";

fn temp_prefix(dest: &Path) -> String {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!(".{name}.")
}

fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
