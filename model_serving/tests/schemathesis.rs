//! schemathesis against the real `model-serving` binary: every operation of the served OpenAPI
//! document, all checks, at least 50 generated cases each (examples, coverage and fuzzing
//! phases), zero failures. The document and the service must agree: a declared status the
//! service never gives, an answer that does not match its schema, a 5xx or an accepted invalid
//! body all fail it. CI installs `st` (.ci/install-serving-tools.sh); locally the test is
//! skipped with a note when it is missing (in CI it fails).

mod common;

use std::time::{Duration, Instant};

/// `SCHEMATHESIS_BIN`, else `st` on PATH, else `$HOME/.venv-schemathesis/bin/st` (where the CI
/// script installs it).
fn st() -> String {
    if let Ok(bin) = std::env::var("SCHEMATHESIS_BIN") {
        return bin;
    }
    let on_path = std::process::Command::new("st").arg("--version").output().is_ok_and(|o| o.status.success());
    let in_home = std::env::var("HOME").map(|home| format!("{home}/.venv-schemathesis/bin/st"));
    match in_home {
        Ok(bin) if !on_path && std::path::Path::new(&bin).is_file() => bin,
        _ => "st".into(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_in_any_operation() {
    let st = st();
    if common::run_tool(&st, &["--version"], None).is_none() {
        return;
    }
    let port = free_port();
    let mut service = tokio::process::Command::new(env!("CARGO_BIN_EXE_model-serving"))
        .env_clear()
        .env("MODEL_PATH", &common::fixture().model_dir)
        .env("SERVICE_HOST", "127.0.0.1")
        .env("SERVICE_PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("start model-serving");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reqwest::get(format!("{base}/health/ready")).await.is_ok_and(|r| r.status().is_success()) {
        assert!(service.try_wait().unwrap().is_none(), "model-serving exited before it was ready");
        assert!(Instant::now() < deadline, "model-serving was not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let schema = format!("{base}/openapi.json");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let args: Vec<String> = [
        "--config-file",
        config,
        "run",
        schema.as_str(),
        "--checks",
        "all",
        "--max-examples",
        "50",
        "--seed",
        "20261201",
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--no-color",
    ]
    .map(String::from)
    .into();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_tool(&st, &args, None)
    })
    .await
    .unwrap()
    .expect("st was found above");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    service.start_kill().expect("stop model-serving");
    let _ = service.wait().await;
    assert!(out.status.success(), "schemathesis found failures:\n{stdout}\n{stderr}");
    println!("{stdout}");
}
