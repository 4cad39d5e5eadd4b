//! Engine task load benchmark (issue 5): submits N tasks (default 1,000) to a running
//! `model-serving` binary through `POST /compute`, as the core engine would, against an
//! in-process S3 (s3s-fs, SigV4 checked) and a callback sink; a 503 (queue full) is retried.
//! Prints tasks/s end to end and checks that every accepted task got exactly one callback.
//!
//! Usage: `engine_load SERVICE_BINARY MODEL_DIR INPUT_CSV [TASKS]` (see scripts/bench_engine.sh).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::extract::{Path, State};
use axum::routing::patch;
use serde_json::{Value, json};
use tokio::sync::Notify;

const AK: &str = "bench-ak";
const SK: &str = "bench-sk";
const SUBMITTERS: usize = 16;

#[derive(Default)]
struct Sink {
    callbacks: Mutex<HashMap<String, Vec<String>>>,
    total: Mutex<usize>,
    done: Notify,
    expected: usize,
}

async fn callback(State(sink): State<Arc<Sink>>, Path(id): Path<String>, body: axum::Json<Value>) -> &'static str {
    let status = body["status"].as_str().unwrap_or("?").to_string();
    sink.callbacks.lock().unwrap_or_else(|p| p.into_inner()).entry(id).or_default().push(status);
    let mut total = sink.total.lock().unwrap_or_else(|p| p.into_inner());
    *total += 1;
    if *total >= sink.expected {
        sink.done.notify_one();
    }
    "{}"
}

async fn start_s3(root: &std::path::Path) -> anyhow::Result<String> {
    Ok(s3_test_server::serve(root, ([127, 0, 0, 1], 0).into(), AK, SK).await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        bail!("usage: engine_load SERVICE_BINARY MODEL_DIR INPUT_CSV [TASKS]");
    }
    let tasks: usize = args.get(4).map_or(Ok(1000), |n| n.parse()).context("TASKS must be a number")?;
    let input = std::fs::read(&args[3]).with_context(|| format!("reading {}", args[3]))?;

    let root = tempfile::tempdir()?;
    let s3 = start_s3(root.path()).await?;
    // s3s-fs keeps a bucket as a top-level directory.
    std::fs::create_dir(root.path().join("engine"))?;
    let settings = object_storage::S3Settings {
        endpoint_url: Some(s3.clone()),
        access_key_id: Some(AK.into()),
        secret_access_key: Some(SK.into()),
        ..Default::default()
    };
    let options = object_storage::S3Options::resolve("s3://engine", &settings, &object_storage::AwsEnv::default())?;
    let store = object_storage::Store::s3(options)?;
    store.put_with_type("input.csv", input.into(), "text/csv").await?;

    let sink = Arc::new(Sink { expected: tasks, ..Default::default() });
    let app = axum::Router::new().route("/tasks/{id}", patch(callback)).with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let engine = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut child = tokio::process::Command::new(&args[1])
        .env("MODEL_PATH", &args[2])
        .env("SERVICE_HOST", "127.0.0.1")
        .env("SERVICE_PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args[1]))?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    while http.get(format!("{base}/health/ready")).send().await.map(|r| !r.status().is_success()).unwrap_or(true) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let started = Instant::now();
    let next = Arc::new(Mutex::new(0usize));
    let retries = Arc::new(Mutex::new(0usize));
    let mut submitters = Vec::new();
    for _ in 0..SUBMITTERS {
        let (http, base, s3, engine, next, retries) =
            (http.clone(), base.clone(), s3.clone(), engine.clone(), next.clone(), retries.clone());
        submitters.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                    if *n >= tasks {
                        return Ok::<(), anyhow::Error>(());
                    }
                    *n += 1;
                    *n - 1
                };
                let id = format!("task-{i:05}");
                let msg = json!({
                    "s3_access_key_id": AK, "s3_secret_access_key": SK, "s3_region": "us-east-1",
                    "s3_host": s3, "s3_bucket": "engine",
                    "task": {"id": id, "data_in": ["input.csv"], "data_out": null, "status": "pending"},
                    "callback_url": format!("{engine}/tasks/{id}"),
                });
                loop {
                    let status = http.post(format!("{base}/compute")).json(&msg).send().await?.status();
                    if status.is_success() {
                        break;
                    }
                    if status.as_u16() != 503 {
                        bail!("task {id}: /compute answered {status}");
                    }
                    *retries.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
    }
    for s in submitters {
        s.await??;
    }
    let accepted_in = started.elapsed();
    tokio::time::timeout(Duration::from_secs(600), sink.done.notified())
        .await
        .context("not every task was called back within 600 s")?;
    let elapsed = started.elapsed();

    let (called_back, exactly_once, finished) = {
        let callbacks = sink.callbacks.lock().unwrap_or_else(|p| p.into_inner());
        let once = (0..tasks).all(|i| callbacks.get(&format!("task-{i:05}")).is_some_and(|v| v.len() == 1));
        let finished = callbacks.values().flatten().filter(|s| *s == "finished").count();
        (callbacks.len(), once, finished)
    };
    let rows = std::fs::read_to_string(&args[3])?.lines().count().saturating_sub(1);
    println!(
        "engine tasks: {tasks} tasks of {rows} rows each, {SUBMITTERS} concurrent submitters, MAX_TASKS default (50)"
    );
    println!(
        "  all accepted after {:.2} s ({} answers 503 retried)",
        accepted_in.as_secs_f64(),
        retries.lock().unwrap_or_else(|p| p.into_inner())
    );
    println!(
        "  all called back after {:.2} s: {:.0} tasks/s end to end",
        elapsed.as_secs_f64(),
        tasks as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  callbacks: {} tasks called back, exactly one callback each: {exactly_once}, finished: {finished}",
        called_back
    );
    let _ = tokio::process::Command::new("kill").arg("-TERM").arg(child.id().unwrap_or(0).to_string()).status().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    if !exactly_once || finished != tasks || called_back != tasks {
        bail!("some tasks were not called back exactly once with status finished");
    }
    Ok(())
}
