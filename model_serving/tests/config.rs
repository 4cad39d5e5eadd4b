//! The configuration as people see it: the settings table of docs/serving.md is the one the
//! declarations render, and the service logs its effective configuration once at start-up,
//! without the secret key.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{S3_ACCESS_KEY, S3_SECRET_KEY, create_bucket, fixture, put_object, start_s3};
use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE};
use model_serving::config::{Config, settings_table};

const BEGIN: &str =
    "<!-- settings table: rendered by model_serving::config::settings_table; tests/config.rs keeps it equal -->\n";
const END: &str = "<!-- end of settings table -->";

#[test]
fn the_docs_settings_table_is_the_declared_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/serving.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find(BEGIN).unwrap_or_else(|| panic!("docs/serving.md lacks the line {BEGIN:?}")) + BEGIN.len();
    let end = start + doc[start..].find(END).unwrap_or_else(|| panic!("docs/serving.md lacks {END:?}"));
    let table = settings_table();
    assert!(
        doc[start..end] == table,
        "docs/serving.md's settings table differs from the declarations; paste this between the markers:\n\n{table}"
    );
}

/// Everything logged on this thread while it is alive.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread, so the subscriber set for this thread sees every task of the service.
#[tokio::test(flavor = "current_thread")]
async fn start_up_logs_the_effective_configuration_once_without_the_secret() {
    let root = tempfile::tempdir().unwrap();
    let s3 = start_s3(root.path()).await;
    create_bucket(&s3, "models").await;
    for file in [METADATA_FILE, WEIGHTS_FILE] {
        let bytes = std::fs::read(fixture().model_dir.join(file)).unwrap();
        put_object(&s3, "models", &format!("ae/v1/{file}"), bytes).await;
    }
    let vars: HashMap<String, String> = [
        ("MODEL_URI", "s3://models/ae/v1/"),
        ("AWS_ENDPOINT_URL_S3", s3.as_str()),
        ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY),
        ("MAX_TASKS", "7"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::from_vars(&vars).unwrap();

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = model_serving::start(config, listener).await.unwrap();
    service.shutdown().await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("effective configuration")).collect();
    assert_eq!(lines.len(), 1, "one configuration line at start-up:\n{logs}");
    let line = lines[0];
    assert!(line.contains("max_tasks: 7") && line.contains("bucket: \"models\""), "{line}");
    assert!(line.contains(S3_ACCESS_KEY) && line.contains("<redacted>"), "{line}");
    assert!(!logs.contains(S3_SECRET_KEY), "the secret key was logged:\n{logs}");
}
