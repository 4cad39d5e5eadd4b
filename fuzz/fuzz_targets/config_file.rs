//! model_serving's CONFIG_FILE: the input's first line names the format (`toml`, `yaml` or
//! `json`; anything else is TOML) and the rest is the file, read with `Config::from_vars` as
//! the service reads it at start-up (keys in any case, unknown keys, every setting's checks).
//! Any file must give a configuration or an error.
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use model_serving::config::Config;

/// One scratch directory per fuzzing process, in memory where there is a tmpfs (a file write
/// on disk costs more than the parsing).
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() { shm } else { std::env::temp_dir() };
    let dir = base.join(format!("fuzz-config-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
});

fuzz_target!(|data: &[u8]| {
    let (format, text) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let extension = match format {
        b"yaml" | b"yml" => "yaml",
        b"json" => "json",
        _ => "toml",
    };
    let path = DIR.join(format!("service.{extension}"));
    std::fs::write(&path, text).expect("writing the scratch file");
    let vars = HashMap::from([("CONFIG_FILE".to_string(), path.display().to_string())]);
    if let Err(e) = Config::from_vars(&vars) {
        assert!(!e.to_string().is_empty());
    }
});
