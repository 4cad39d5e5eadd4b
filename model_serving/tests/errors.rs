//! Errors say their cause once: no error of model_serving puts its source's message in its own
//! (anyhow's `{:#}` prints the chain). Checked on an instance of every error type with a source,
//! and on the source text, so a new error type cannot slip by.

use std::error::Error;

use model_serving::StartError;
use model_serving::config::{Config, ConfigError};
use model_serving::model_loader::LoadError;

/// Every link of the chain leaves the next link's message out of its own.
fn assert_says_its_cause_once(e: &(dyn Error + 'static)) {
    let mut current = e;
    let mut depth = 0;
    while let Some(source) = current.source() {
        let (message, cause) = (current.to_string(), source.to_string());
        assert!(!cause.is_empty() && !message.contains(&cause), "{message:?} repeats its source {cause:?}");
        current = source;
        depth += 1;
    }
    assert!(depth > 0, "{e} has no source: pick an instance with one");
}

#[test]
fn no_error_message_contains_its_source_message() {
    let io = || std::io::Error::other("No space left on device");
    let artifact = || model_core::ArtifactError::Io { path: "/models/ae/metadata.json".into(), source: io() };
    let storage = || object_storage::StorageError::Io { op: "reading", path: "/tmp/x".into(), source: io() };
    let http = reqwest::Client::new().get("not a url").build().unwrap_err();
    let prometheus = prometheus::Error::Msg("duplicate metrics collector registration attempted".into());
    let mut vars = std::collections::HashMap::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "service_port = [[[").unwrap();
    vars.insert("CONFIG_FILE".to_string(), file.display().to_string());
    let config = Config::from_vars(&vars).unwrap_err();
    assert!(matches!(config, ConfigError::File { .. }), "{config:?}");

    let errors: Vec<Box<dyn Error>> = vec![
        Box::new(LoadError::Path { path: "/models/ae".into(), source: artifact() }),
        Box::new(LoadError::Read { uri: "s3://models/ae/".into(), source: storage() }),
        Box::new(LoadError::Model { uri: "s3://models/ae/".into(), source: artifact() }),
        Box::new(StartError::Model(LoadError::Path { path: "/models/ae".into(), source: artifact() })),
        Box::new(StartError::Metrics(prometheus)),
        Box::new(StartError::Listener(io())),
        Box::new(StartError::HttpClient(http)),
        Box::new(config),
    ];
    for e in &errors {
        assert_says_its_cause_once(e.as_ref());
    }
}

#[test]
fn no_error_attribute_interpolates_its_source_field() {
    // `#[error("... {source}")]` or `{0}` on a variant whose field is its `#[source]`/`#[from]`.
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut checked = 0;
    for path in rust_files(std::path::Path::new(src)) {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[error(") {
            let attr_end = at + rest[at..].find(")]").unwrap();
            let message = &rest[at..attr_end];
            let after = &rest[attr_end..];
            // The variant: up to the next attribute of the enum or its end.
            let variant_end = after[2..]
                .find("#[error(")
                .map_or(after.len(), |i| i + 2)
                .min(after.find("\n}").unwrap_or(after.len()));
            let variant = &after[..variant_end];
            let tuple_source = variant.contains("(#[from]") || variant.contains("(#[source]");
            let named_source =
                variant.contains("source:") || variant.contains("#[source]") || variant.contains("#[from]");
            if tuple_source {
                assert!(!message.contains("{0"), "{}: {message} prints its source", path.display());
            } else if named_source {
                assert!(!message.contains("{source"), "{}: {message} prints its source", path.display());
            }
            checked += 1;
            rest = &after[2..];
        }
    }
    assert!(checked >= 10, "only {checked} error messages found under src/");
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}
