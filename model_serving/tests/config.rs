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
        // Credentials in a URL are secrets too.
        ("SERVICE_URL", "http://svc:urlpassw0rd@service:9090"),
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
    assert!(!logs.contains("urlpassw0rd") && line.contains("http://***@service:9090"), "{line}");
}

/// `model-serving` started with only `vars` (and no `.env`: it runs in an empty directory):
/// its exit code and what it printed (stderr, then its logs on stdout).
fn run_service(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_model-serving"))
        .current_dir(dir.path())
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    let printed = [out.stderr, out.stdout].concat();
    (out.status.code(), String::from_utf8_lossy(&printed).into_owned())
}

fn config_file(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

fn from_file(path: &str) -> Result<Config, String> {
    let vars: HashMap<String, String> = [("CONFIG_FILE".to_string(), path.to_string())].into();
    Config::from_vars(&vars).map_err(|e| e.to_string())
}

#[test]
fn upper_case_keys_of_the_file_are_the_settings_and_are_checked() {
    for (name, text) in [
        ("serving.yaml", "SERVICE_PORT: \"90a\"\n"),
        ("serving.toml", "SERVICE_PORT = \"90a\"\n"),
        ("serving.json", "{\"Service_Port\": \"90a\"}\n"),
    ] {
        let (_dir, path) = config_file(name, text);
        let err = from_file(&path).unwrap_err();
        assert!(err.starts_with("SERVICE_PORT=\"90a\": expected a port number"), "{name}: {err}");
        let (code, stderr) = run_service(&[("CONFIG_FILE", &path)]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains("SERVICE_PORT=\"90a\""), "{name}: {stderr}");
    }
    let (_dir, path) = config_file("serving.yaml", "SERVICE_PORT: 7002\nmax_tasks: 3\n");
    let config = from_file(&path).unwrap();
    assert_eq!((config.port, config.max_tasks), (7002, 3));
}

#[test]
fn a_misspelt_key_in_the_file_is_an_error_naming_the_closest_setting() {
    for (name, text, key, closest) in [
        ("serving.yaml", "SERVCE_PORT: 7000\n", "SERVCE_PORT", "SERVICE_PORT"),
        ("serving.toml", "max_task = 3\n", "max_task", "MAX_TASKS"),
        ("serving.json", "{\"AWS_ENDPONT_URL\": \"http://minio:9000\"}", "AWS_ENDPONT_URL", "AWS_ENDPOINT_URL"),
    ] {
        let (_dir, path) = config_file(name, text);
        let err = from_file(&path).unwrap_err();
        assert!(err.contains(&format!("unknown key {key:?}; did you mean {closest}?")), "{name}: {err}");
        assert!(err.starts_with("CONFIG_FILE="), "{err}");
        let (code, stderr) = run_service(&[("CONFIG_FILE", &path)]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&format!("did you mean {closest}?")), "{name}: {stderr}");
    }
    // Nothing close: the valid names are listed instead of a wild guess.
    let (_dir, path) = config_file("serving.yaml", "colour: blue\n");
    let err = from_file(&path).unwrap_err();
    assert!(err.contains("unknown key \"colour\"") && !err.contains("did you mean"), "{err}");
    assert!(err.contains("SERVICE_PORT") && err.contains("AWS_REGION"), "{err}");
}

#[test]
fn unknown_environment_variables_are_not_errors() {
    // The process environment holds every other program's variables; only the file is checked.
    let vars: HashMap<String, String> =
        [("SERVCE_PORT", "1"), ("HOME", "/root")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = Config::from_vars(&vars).unwrap();
    assert_eq!(config.port, 9090);
    let (_dir, path) = config_file("serving.yaml", "service_port: 7003\n");
    let (code, stderr) = run_service(&[("CONFIG_FILE", &path), ("SERVCE_PORT", "1"), ("SERVICE_PORT", "x")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("SERVICE_PORT=\"x\"") && !stderr.contains("SERVCE_PORT"), "{stderr}");
}

#[test]
fn configuration_errors_hide_url_credentials() {
    let secret = "s3cr3tpw";
    for (vars, named) in [
        (&[("SERVICE_URL", "ftp://svc:s3cr3tpw@service:9090")][..], "ftp://***@service:9090"),
        (&[("SERVICE_URL", "svc:s3cr3tpw@service:9090")][..], "***@service:9090"),
        (&[("ENGINE_URLS", r#"["http://e:s3cr3tpw@"]"#)][..], "http://***@"),
        (&[("MODEL_URI", "s3://AKIA:s3cr3tpw@models/ae/")][..], "s3://***@models/ae/"),
        (
            &[("MODEL_URI", "s3://models/ae/"), ("AWS_ENDPOINT_URL", "minio:s3cr3tpw@127.0.0.1:9000")][..],
            "***@127.0.0.1:9000",
        ),
        (&[("MODEL_URI", "s3://models/ae/"), ("AWS_ENDPOINT_URL_S3", "htp://u:s3cr3tpw@minio")][..], "htp://***@minio"),
    ] {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let err = Config::from_vars(&map).unwrap_err().to_string();
        assert!(!err.contains(secret) && err.contains(named), "{vars:?}: {err}");
        let (code, stderr) = run_service(vars);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(!stderr.contains(secret) && stderr.contains(named), "{vars:?}: {stderr}");
    }
}

#[test]
fn a_start_up_failure_at_an_endpoint_with_credentials_does_not_show_them() {
    // Valid settings, but nothing answers at the endpoint: loading the model fails, naming it.
    let (code, stderr) = run_service(&[
        ("MODEL_URI", "s3://models/ae/v1/"),
        ("AWS_ENDPOINT_URL", "http://minio:s3cr3tpw@127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ("SERVICE_PORT", "0"),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("http://***@127.0.0.1:9"), "{stderr}");
    assert!(!stderr.contains("s3cr3tpw") && !stderr.contains("wJalrXUtnFEMI"), "{stderr}");
}
