//! The live page `/ui`, in a real headless browser (Debian's chromium, driven by its chromedriver
//! over WebDriver) against the real service: a person uploads a CSV and sees as many marked
//! points as the answer has anomalies, the threshold line, the model version and the service's
//! recent scores; with API_KEY set the page asks for the key and sends it. Screenshots go to
//! `target/tmp/ui/` (CI keeps them as artifacts). Without chromium the browser tests skip
//! locally and fail in CI.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// A headless chromium session; the driver process dies with it.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn program(env: &str, default: &str) -> Option<PathBuf> {
    let name = std::env::var(env).unwrap_or_else(|_| default.to_string());
    let found = if name.contains('/') {
        Some(PathBuf::from(&name)).filter(|p| p.exists())
    } else {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join(&name)).find(|p| p.exists())
    };
    if found.is_none() {
        assert!(!common::in_ci(), "{name} is not installed; CI must install it (.ci/install-serving-tools.sh)");
        eprintln!("note: {name} is not installed (set {env}); skipping the browser test locally");
    }
    found
}

/// Starts chromedriver on a free port and a headless chromium session through it; None when
/// they are not installed (outside CI).
async fn browser() -> Option<Browser> {
    let driver_bin = program("CHROMEDRIVER", "chromedriver")?;
    let chromium = program("CHROMIUM", "chromium")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = tokio::process::Command::new(driver_bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let capabilities = json!({"goog:chromeOptions": {
        "binary": chromium,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
            "--window-size=1400,1300", format!("--user-data-dir={}", profile.path().display())],
    }});
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    let url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let client = loop {
        match ClientBuilder::new(HttpConnector::new()).capabilities(capabilities.clone()).connect(&url).await {
            Ok(client) => break client,
            Err(e) if started.elapsed() < WAIT => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no WebDriver session from chromedriver within {WAIT:?}: {e}"),
        }
    };
    Some(Browser { client, _driver: driver, _profile: profile })
}

fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let path = artifact(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn text(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

async fn count(client: &Client, css: &str) -> usize {
    client.find_all(Locator::Css(css)).await.unwrap().len()
}

/// Polls `check` until it holds, at most [`WAIT`]; what it saw last, if it never did.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let started = std::time::Instant::now();
    loop {
        match check().await {
            Ok(()) => return,
            Err(seen) if started.elapsed() > WAIT => panic!("{what} did not happen within {WAIT:?}; last seen: {seen}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn attr(client: &Client, css: &str, name: &str) -> Option<String> {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.attr(name).await.unwrap(),
        Err(_) => None,
    }
}

/// What `/compute` answers for `csv`, as the page will be shown it.
async fn computed(running: &common::Running, csv: &str, key: Option<&str>) -> Value {
    let mut request = running.client.post(format!("{}/compute", running.base)).header("content-type", "text/csv");
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.body(csv.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_csv_is_plotted_with_its_anomalies_marked_the_threshold_and_the_model_version() {
    let running = common::start_default().await;
    let Some(browser) = browser().await else { return };
    let client = &browser.client;
    let csv = common::csv_body(&common::fixture().test_rows);
    let file = tempfile::tempdir().unwrap();
    let path = file.path().join("readings.csv");
    std::fs::write(&path, &csv).unwrap();
    let answer = computed(&running, &csv, None).await;
    let anomalies = answer["anomaly_count"].as_u64().unwrap() as usize;
    let rows = answer["rows"].as_u64().unwrap() as usize;
    let version = answer["model_version"].as_str().unwrap().to_string();
    assert!(anomalies > 0 && anomalies < rows, "the test data should hold some anomalies: {anomalies} of {rows}");

    client.goto(&format!("{}/ui", running.base)).await.unwrap();
    eventually("the model version shown", || async {
        let shown = text(client, "#model-version").await;
        if shown == version { Ok(()) } else { Err(shown) }
    })
    .await;

    // The file input as a person's file chooser would fill it.
    client.find(Locator::Css("#file")).await.unwrap().send_keys(&path.display().to_string()).await.unwrap();
    client.wait().at_most(WAIT).for_element(Locator::Css("#result:not([hidden]) #score-chart circle")).await.unwrap();

    assert_eq!(count(client, "#score-chart circle.anomaly").await, anomalies, "one marked point per anomalous row");
    let summary = text(client, "#summary").await;
    assert!(
        summary.contains(&format!("{rows} rows")) && summary.contains(&format!("{anomalies} anomalous")),
        "{summary}"
    );
    // The threshold line spans the chart at the threshold's height, with its label.
    let y1: f64 = attr(client, "#score-chart line.threshold", "y1").await.unwrap().parse().unwrap();
    let y2: f64 = attr(client, "#score-chart line.threshold", "y2").await.unwrap().parse().unwrap();
    assert!(y1 == y2 && y1 > 0.0, "the threshold line is horizontal inside the chart: {y1} {y2}");
    assert!(text(client, "#score-chart text.threshold-label").await.starts_with("threshold "));
    // The anomalous rows are listed with their top features.
    assert_eq!(count(client, "#anomalies tbody tr").await, anomalies.min(200));
    let first_features = text(client, "#anomalies tbody tr td:nth-child(4)").await;
    let explained = answer["explanations"][0]["features"][0]["name"].as_str().unwrap();
    assert!(first_features.starts_with(explained), "the top feature of the first anomaly: {first_features}");
    // The series strip chart shades the anomalous rows.
    assert!(count(client, "#series-chart rect.band").await > 0);
    assert_eq!(count(client, "#series-chart path.series").await, 6);

    // The live part shows both scorings (the test's own request and the page's) from the drift
    // window, refreshed right after the upload.
    eventually("the live chart with both requests", || async {
        let seen =
            (attr(client, "#live-summary", "data-rows").await, attr(client, "#live-summary", "data-anomalies").await);
        if seen == (Some((2 * rows).to_string()), Some((2 * anomalies).to_string())) {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await;
    assert_eq!(count(client, "#live-chart line.threshold").await, 1);
    assert!(count(client, "#drift tbody tr").await == 6, "a drift row per feature");

    screenshot(client, "scored.png").await;
    browser.client.close().await.unwrap();
}

/// With a model set served, the live chart shows every machine's rows against their own
/// thresholds (scores relative to them) and the drift table each machine's features.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_model_set_the_live_part_shows_each_machine_against_its_own_model() {
    let fixture = common::set::set_fixture();
    let running = common::start(common::config_for(&fixture.without_fallback)).await;
    let Some(browser) = browser().await else { return };
    let client = &browser.client;
    let mut csv = format!("timestamp,machine,{}\n", model_creation::simulate::FEATURES.join(","));
    let machines = fixture.test.iter().filter(|(m, _)| m == "m01" || m == "m03");
    for (i, (machine, row)) in machines.enumerate() {
        let values: Vec<String> = row.iter().map(f64::to_string).collect();
        csv.push_str(&format!("{i},{machine},{}\n", values.join(",")));
    }
    let answer = computed(&running, &csv, None).await;
    let rows = answer["rows"].as_u64().unwrap();
    let anomalies = answer["anomaly_count"].as_u64().unwrap();
    assert!(anomalies > 0, "the faulty machine m03 has anomalies: {answer}");

    client.goto(&format!("{}/ui", running.base)).await.unwrap();
    eventually("the live chart with every machine's rows", || async {
        let seen =
            (attr(client, "#live-summary", "data-rows").await, attr(client, "#live-summary", "data-anomalies").await);
        if seen == (Some(rows.to_string()), Some(anomalies.to_string())) { Ok(()) } else { Err(format!("{seen:?}")) }
    })
    .await;
    assert!(text(client, "#live-chart text.threshold-label").await.contains("each group's threshold"));
    let summary = text(client, "#live-summary").await;
    assert!(summary.contains(&format!("{rows} rows from 1 request")), "{summary}");
    assert_eq!(text(client, "#model-threshold").await, "per group (3 groups by machine)");
    // Six features of each of the two machines scored, named by machine.
    assert_eq!(count(client, "#drift tbody tr").await, 12);
    let names: Vec<String> = {
        let cells = client.find_all(Locator::Css("#drift tbody tr td:first-child")).await.unwrap();
        let mut names = Vec::new();
        for cell in cells {
            names.push(cell.text().await.unwrap());
        }
        names
    };
    assert!(names.iter().any(|n| n == "m03 · temperature") && names.iter().any(|n| n == "m01 · pressure"), "{names:?}");
    assert!(text(client, "#drift-hint").await.contains("Per group (2 scored lately)"));
    screenshot(client, "model-set.png").await;
    browser.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_api_key_set_the_page_asks_for_the_key_and_sends_it() {
    let running = common::start_with(&[("API_KEY", "k3y-for-the-page")]).await;
    let Some(browser) = browser().await else { return };
    let client = &browser.client;
    let rows = &common::fixture().test_rows;
    let csv = common::csv_body(&rows[rows.len() - 40..]);
    let answer = computed(&running, &csv, Some("k3y-for-the-page")).await;

    client.goto(&format!("{}/ui", running.base)).await.unwrap();
    client.find(Locator::Css("#paste")).await.unwrap().send_keys(&csv).await.unwrap();
    client.find(Locator::Css("#score-button")).await.unwrap().click().await.unwrap();
    client.wait().at_most(WAIT).for_element(Locator::Css("#key-form:not([hidden])")).await.unwrap();
    assert!(text(client, "#key-message").await.contains("API key"));

    // A wrong key: asked again, with the service's reason.
    client.find(Locator::Css("#api-key")).await.unwrap().send_keys("wrong").await.unwrap();
    client.find(Locator::Css("#key-save")).await.unwrap().click().await.unwrap();
    eventually("the wrong key refused", || async {
        let message = text(client, "#key-message").await;
        if message.contains("does not hold") { Ok(()) } else { Err(message) }
    })
    .await;
    screenshot(client, "asks-for-key.png").await;

    let input = client.find(Locator::Css("#api-key")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("k3y-for-the-page").await.unwrap();
    client.find(Locator::Css("#key-save")).await.unwrap().click().await.unwrap();
    client.wait().at_most(WAIT).for_element(Locator::Css("#result:not([hidden])")).await.unwrap();
    let marked = count(client, "#score-chart circle.anomaly").await;
    assert_eq!(marked as u64, answer["anomaly_count"].as_u64().unwrap());
    assert_eq!(attr(client, "#summary", "data-anomalies").await, Some(answer["anomaly_count"].to_string()));
    assert!(client.find(Locator::Css("#key-form[hidden]")).await.is_ok(), "the key form is gone once the key works");
    browser.client.close().await.unwrap();
}

/// The page without a browser: compiled-in files with their types and a strict content security
/// policy, only relative URLs (so it works behind a path prefix), and clear answers off the map.
#[tokio::test]
async fn the_page_is_served_from_the_binary_with_relative_urls_only() {
    let running = common::start_default().await;
    let get = |path: &str| running.client.get(format!("{}{path}", running.base)).send();
    let page = get("/ui").await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    let script = get("/ui/app.js").await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let script = script.text().await.unwrap();
    let style = get("/ui/style.css").await.unwrap();
    assert_eq!(style.headers()["content-type"], "text/css; charset=utf-8");
    for (name, body) in [("index.html", &html), ("app.js", &script)] {
        // The SVG namespace is a name, not a URL the page loads.
        let body = body.replace("http://www.w3.org/2000/svg", "");
        for absolute in ["src=\"/", "href=\"/", "call('/", "fetch('/", "http://", "https://"] {
            assert!(!body.contains(absolute), "{name} holds a non-relative URL ({absolute})");
        }
    }
    for route in ["compute", "model", "scores/recent", "drift"] {
        assert!(script.contains(&format!("'{route}'")), "app.js calls {route}");
    }

    let missing = get("/ui/nothing.js").await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("/ui/nothing.js"));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let slash = client.get(format!("{}/ui/", running.base)).send().await.unwrap();
    assert_eq!(slash.status(), 303);
    assert_eq!(slash.headers()["location"], "../ui");
}
