//! Shared test fixtures: a model trained in the test process (once per test binary), CSV
//! bodies from the simulated data, and the real service started on 127.0.0.1:0.
#![allow(dead_code)]

pub mod engine;
pub mod set;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use model_core::{Frame, Model};
use model_creation::params::Params;
use model_creation::simulate::{FEATURES, SimulateOptions, generate};
use model_creation::train::{DataInfo, train};
use model_serving::Service;
use model_serving::config::Config;

pub struct Fixture {
    pub model_dir: PathBuf,
    pub test_rows: Vec<[f64; 6]>,
}

/// Trains a small model (3 epochs on 1,500 simulated rows) once and saves it in a directory
/// that lives as long as the test process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ds = generate(&SimulateOptions { seed: 11, train_rows: 1500, test_rows: 400 });
        let frame = Frame {
            columns: FEATURES.iter().map(|s| s.to_string()).collect(),
            n_rows: ds.train.len(),
            values: ds.train.iter().flatten().copied().collect(),
        };
        let mut params = Params::default();
        params.train.epochs = 3;
        let info = DataInfo { md5: "0".repeat(32), ignored_columns: vec!["timestamp".into()] };
        let mut model = train(&frame, info, &params, "train.csv", &mut |_, _, _, _| {}).unwrap();
        let dir = tempfile::tempdir().unwrap().keep().join("model");
        model.save(&dir).unwrap();
        Fixture { model_dir: dir, test_rows: ds.test }
    })
}

pub fn load_model() -> Model {
    Model::load(&fixture().model_dir).unwrap()
}

/// CSV with a timestamp first, the features in reverse order and a label column: the service
/// must match columns by name and ignore the extras.
pub fn csv_body(rows: &[[f64; 6]]) -> String {
    let mut out = String::from("timestamp,");
    let reversed: Vec<&str> = FEATURES.iter().rev().copied().collect();
    out.push_str(&reversed.join(","));
    out.push_str(",label\n");
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!("2024-01-01T00:{:02}:{:02},", i / 60 % 60, i % 60));
        let vals: Vec<String> = r.iter().rev().map(|v| v.to_string()).collect();
        out.push_str(&vals.join(","));
        out.push_str(",0\n");
    }
    out
}

pub fn config_for(model_dir: &Path) -> Config {
    // A short drain keeps each test's shutdown quick; the shutdown tests set their own.
    let mut config = Config::from_vars(&HashMap::from([("SHUTDOWN_DRAIN".to_string(), "0.05".to_string())])).unwrap();
    config.model_path = model_dir.to_path_buf();
    config
}

/// The service on the test model with `vars` set, as an operator would write them.
pub async fn start_with(vars: &[(&str, &str)]) -> Running {
    let mut all: HashMap<String, String> = HashMap::from([
        ("MODEL_PATH".to_string(), fixture().model_dir.display().to_string()),
        ("SHUTDOWN_DRAIN".to_string(), "0.05".to_string()),
    ]);
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    start(Config::from_vars(&all).unwrap()).await
}

/// One HTTP/1.1 response as read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("the {} body is not JSON ({e}): {:?}", self.status, String::from_utf8_lossy(&self.body))
        })
    }
}

/// Reads the next Content-Length-framed response (as the service sends them) from `stream`;
/// `pending` carries bytes read past it to the next call. None when the connection closes first.
pub async fn read_response(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    pending: &mut Vec<u8>,
) -> Option<RawResponse> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().expect("a numeric content-length"));
    while pending.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    }
    let body = pending[head_end..head_end + length].to_vec();
    pending.drain(..head_end + length);
    Some(RawResponse { status, headers, body })
}

/// Waits for the service to close `stream` (EOF or reset), at most `limit`; the time it took.
pub async fn closed_within(stream: &mut tokio::net::TcpStream, limit: std::time::Duration) -> std::time::Duration {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut sink = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the service kept the connection open for {limit:?}");
    started.elapsed()
}

pub struct Running {
    pub service: Service,
    pub base: String,
    pub client: reqwest::Client,
}

pub async fn start(config: Config) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = model_serving::start(config, listener).await.unwrap();
    let base = format!("http://{}", service.local_addr());
    Running { service, base, client: reqwest::Client::new() }
}

pub async fn start_default() -> Running {
    start(config_for(&fixture().model_dir)).await
}

/// True in CI, where a missing external checker must fail the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Runs an external checker; `None` when it is not installed (and not in CI).
pub fn run_tool(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Option<std::process::Output> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(!in_ci(), "{program} is not installed; CI must install it (.ci/install-serving-tools.sh)");
            eprintln!("note: {program} is not installed; skipping this check locally");
            return None;
        }
        Err(e) => panic!("running {program}: {e}"),
    };
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    Some(child.wait_with_output().unwrap())
}

/// The model-serving binary, started with only `vars` (and SERVICE_HOST/PORT) in its
/// environment: the child (killed when dropped) and its base URL once it answers HTTP (not
/// necessarily ready).
pub async fn spawn_binary(vars: &[(&str, String)]) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_model-serving"));
    command
        .env_clear()
        .env("SERVICE_HOST", "127.0.0.1")
        .env("SERVICE_PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true);
    for (k, v) in vars {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start model-serving");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.get(format!("{base}/health/live")).send().await.is_err() {
        assert!(child.try_wait().unwrap().is_none(), "model-serving exited before it answered");
        assert!(std::time::Instant::now() < deadline, "model-serving did not answer within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (child, base)
}

pub use s3_test_server::{ACCESS_KEY as S3_ACCESS_KEY, SECRET_KEY as S3_SECRET_KEY};

/// An S3 server in-process (s3s-fs over a directory), SigV4 checked with the test keys.
pub async fn start_s3(root: &Path) -> String {
    s3_test_server::start(root).await
}

/// An S3 client of its own (not the service's object storage) for setting up and checking
/// the test server's buckets, path-style, signed with the test keys.
fn s3_client(url: &str) -> aws_sdk_s3::Client {
    let credentials = aws_sdk_s3::config::Credentials::new(S3_ACCESS_KEY, S3_SECRET_KEY, None, None, "tests");
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(url)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

pub async fn create_bucket(url: &str, bucket: &str) {
    s3_client(url).create_bucket().bucket(bucket).send().await.unwrap();
}

pub async fn put_object(url: &str, bucket: &str, key: &str, bytes: Vec<u8>) {
    let body = aws_sdk_s3::primitives::ByteStream::from(bytes);
    s3_client(url).put_object().bucket(bucket).key(key).body(body).send().await.unwrap();
}

pub async fn get_object(url: &str, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3_client(url).get_object().bucket(bucket).key(key).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}
