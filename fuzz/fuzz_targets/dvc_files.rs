//! dvc_pipeline's reading of `dvc.yaml`, `params.yaml` and `dvc.lock`: the input is the three
//! files separated by NUL bytes (a missing part means no such file), written to a scratch
//! directory and read with `read_pipeline_files` (stages with vars, foreach, matrix and
//! interpolation, each stage's params, the lock entries). Any input must give stages or an error.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

/// One scratch directory per fuzzing process, in memory where there is a tmpfs (a file write
/// on disk costs more than the parsing).
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() { shm } else { std::env::temp_dir() };
    let dir = base.join(format!("fuzz-dvc-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
});

fuzz_target!(|data: &[u8]| {
    // Paths are the input's to choose: keep the reading inside the scratch directory, away from
    // device files that never end (/dev/zero) and other parts of the machine.
    if [&b".."[..], b"/dev", b"/proc", b"/sys", b"~"].iter().any(|p| data.windows(p.len()).any(|w| w == *p))
        || data.first() == Some(&b'/')
        || data
            .windows(2)
            .any(|w| w[1] == b'/' && matches!(w[0], b' ' | b'\'' | b'"' | b'[' | b',' | b'{' | b'\n' | b':' | b'-'))
    {
        return;
    }
    let dir: &PathBuf = &DIR;
    let mut parts = data.splitn(3, |&b| b == 0);
    for name in ["dvc.yaml", "params.yaml", "dvc.lock"] {
        let path = dir.join(name);
        match parts.next() {
            Some(text) => std::fs::write(&path, text).expect("writing a scratch file"),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    if let Err(e) = dvc_pipeline::read_pipeline_files(dir) {
        assert!(!e.to_string().is_empty());
    }
});
