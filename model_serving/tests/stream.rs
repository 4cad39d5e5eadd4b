//! Streaming against a real MQTT broker (Debian's mosquitto, started on a free 127.0.0.1 port):
//! readings of several sources published one per message come back as streaming scores equal to
//! model_core's window scores of each source's series, alert events open and close exactly as
//! the hysteresis rule says (and on the source with the injected fault), and a bad message is
//! reported on its error topic without stopping the stream; the scored readings feed `/drift` and
//! `/scores/recent`; with a model set served, each source is scored by its own machine's model
//! and drifts against its training data. Without mosquitto these tests skip
//! locally and fail in CI.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use model_core::Frame;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(30);
const CLEAR: usize = 5;

struct Broker {
    port: u16,
    program: PathBuf,
    conf: PathBuf,
    process: Option<tokio::process::Child>,
    _dir: tempfile::TempDir,
}

fn mosquitto() -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("mosquitto"))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(!common::in_ci(), "mosquitto is not installed; CI must install it (.ci/install-serving-tools.sh)");
        eprintln!("note: mosquitto is not installed; skipping the streaming test locally");
    }
    found
}

/// A mosquitto of its own on a free port, listening only on 127.0.0.1; with `persistence`, it
/// keeps sessions and queued messages across a restart (in its own directory).
async fn broker_with(persistence: bool) -> Option<Broker> {
    let program = mosquitto()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mosquitto.conf");
    // Started as root, mosquitto drops to its own user: its directory must be writable to it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let store = if persistence {
        format!("persistence true\npersistence_location {}/\n", dir.path().display())
    } else {
        "persistence false\n".to_string()
    };
    // No limit on unacknowledged messages in flight to a client: a burst reaches the service
    // all at once, as fast as the broker can send it.
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n{store}max_queued_messages 1000000\nmax_inflight_messages 0\n"),
    )
    .unwrap();
    let mut broker = Broker { port, program, conf, process: None, _dir: dir };
    broker.start().await;
    Some(broker)
}

async fn broker() -> Option<Broker> {
    broker_with(false).await
}

impl Broker {
    async fn start(&mut self) {
        let process = tokio::process::Command::new(&self.program)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.process = Some(process);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(started.elapsed() < WAIT, "mosquitto did not listen on {}", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, as an orderly restart sends: mosquitto saves its sessions and exits.
    async fn stop(&mut self) {
        let mut process = self.process.take().unwrap();
        let pid = process.id().unwrap();
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
        assert!(status.success());
        tokio::time::timeout(WAIT, process.wait()).await.unwrap().unwrap();
    }
}

/// A test client subscribed to `filters`; what it receives, as (topic, JSON).
async fn listener(port: u16, id: &str, filters: &[&str]) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Value)>) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, mut subscribed) = mpsc::unbounded_channel();
    let wanted = filters.len();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                    let _ = tx.send((p.topic.clone(), body));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = subscribed_tx.send(());
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    for f in filters {
        client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
    }
    for _ in 0..wanted {
        tokio::time::timeout(WAIT, subscribed.recv()).await.unwrap();
    }
    (client, rx)
}

/// A test publisher (its event loop driven in the background).
fn publisher(port: u16, id: &str) -> AsyncClient {
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(id, "127.0.0.1", port), 10_000);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client
}

async fn wait_ready(running: &common::Running) {
    let started = Instant::now();
    loop {
        let status = running.client.get(format!("{}/health/ready", running.base)).send().await.unwrap().status();
        if status == 200 {
            return;
        }
        assert!(started.elapsed() < WAIT, "the service did not become ready (broker connection): {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn frame(rows: &[[f64; 6]]) -> Frame {
    Frame {
        columns: model_creation::simulate::FEATURES.iter().map(|s| s.to_string()).collect(),
        n_rows: rows.len(),
        values: rows.iter().flatten().copied().collect(),
    }
}

fn reading(ts: usize, row: &[f64; 6]) -> Value {
    let values: serde_json::Map<String, Value> =
        model_creation::simulate::FEATURES.iter().zip(row).map(|(f, v)| (f.to_string(), json!(v))).collect();
    // Extra fields are ignored, as extra CSV columns are.
    json!({"ts": ts as f64, "values": values, "label": 0})
}

/// The events the hysteresis rule gives for `scores`: (open or close, index of the score).
fn expected_events(scores: &[f32], threshold: f64) -> Vec<(&'static str, usize)> {
    let (mut open, mut normal, mut out) = (false, 0, Vec::new());
    for (i, s) in scores.iter().enumerate() {
        if f64::from(*s) > threshold {
            normal = 0;
            if !open {
                open = true;
                out.push(("open", i));
            }
        } else if open {
            normal += 1;
            if normal >= CLEAR {
                open = false;
                normal = 0;
                out.push(("close", i));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_of_several_sources_are_scored_as_their_windows_and_alerts_open_and_close() {
    let Some(broker) = broker().await else { return };
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let running = common::start_with(&[
        ("MQTT_URL", &url),
        ("MQTT_CLIENT_ID", "stream-test-service"),
        ("MQTT_SCORE_TOPIC", "scores/{source}"),
        ("MQTT_ALERT_CLEAR", &CLEAR.to_string()),
    ])
    .await;
    wait_ready(&running).await;
    let (_listening, mut received) =
        listener(broker.port, "stream-test-listener", &["anomalies/#", "scores/#", "errors/#"]).await;
    let publisher = publisher(broker.port, "stream-test-publisher");

    // Three sources: pump-2's temperature reads 15 degrees high for 20 readings.
    let rows = &common::fixture().test_rows;
    let mut series: HashMap<&str, Vec<[f64; 6]>> = HashMap::new();
    series.insert("pump-1", rows[0..120].to_vec());
    series.insert("pump-3", rows[150..270].to_vec());
    let mut faulty = rows[280..400].to_vec();
    for r in &mut faulty[50..70] {
        r[0] += 15.0;
    }
    series.insert("pump-2", faulty);
    for i in 0..120 {
        for source in ["pump-1", "pump-2", "pump-3"] {
            let row = series[source].get(i).unwrap();
            let body = reading(i, row).to_string();
            publisher.publish(format!("sensors/{source}/readings"), QoS::AtLeastOnce, false, body).await.unwrap();
        }
        if i == 60 {
            // A bad message midway: reported, and the stream goes on.
            publisher.publish("sensors/pump-1/readings", QoS::AtLeastOnce, false, "not json").await.unwrap();
        }
    }

    let model = common::load_model();
    let window = model.meta.window.length;
    let threshold = model.meta.threshold.value;
    let expected: HashMap<&str, Vec<f32>> =
        series.iter().map(|(s, rows)| (*s, model.window_scores(&frame(rows), "series").unwrap())).collect();
    let total: usize = expected.values().map(Vec::len).sum();
    let mut scores: HashMap<String, Vec<(f64, f32)>> = HashMap::new();
    let mut alerts: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    let mut errors = Vec::new();
    let started = Instant::now();
    while scores.values().map(Vec::len).sum::<usize>() < total || errors.is_empty() {
        let left = WAIT.saturating_sub(started.elapsed());
        let Ok(Some((topic, body))) = tokio::time::timeout(left, received.recv()).await else {
            panic!(
                "{} of {total} scores and {} errors within {WAIT:?}",
                scores.values().map(Vec::len).sum::<usize>(),
                errors.len()
            )
        };
        let source = body["source"].as_str().unwrap_or_default().to_string();
        if topic.starts_with("scores/") {
            assert_eq!(topic, format!("scores/{source}"));
            scores
                .entry(source)
                .or_default()
                .push((body["ts"].as_f64().unwrap(), body["score"].as_f64().unwrap() as f32));
        } else if topic.starts_with("anomalies/") {
            assert_eq!(topic, format!("anomalies/{source}"));
            assert_eq!(body["threshold"].as_f64(), Some(threshold), "{body}");
            if body["event"] == "open" {
                let features = body["features"].as_array().unwrap();
                assert_eq!(features.len(), 3, "an open event names the top features: {body}");
            }
            alerts
                .entry(source)
                .or_default()
                .push((body["event"].as_str().unwrap().to_string(), body["ts"].as_f64().unwrap()));
        } else {
            errors.push((topic, body));
        }
    }
    // Alert events are published before the next batch's scores: wait for stragglers briefly.
    while let Ok(Some((topic, body))) = tokio::time::timeout(Duration::from_millis(500), received.recv()).await {
        if topic.starts_with("anomalies/") {
            let source = body["source"].as_str().unwrap().to_string();
            alerts
                .entry(source)
                .or_default()
                .push((body["event"].as_str().unwrap().to_string(), body["ts"].as_f64().unwrap()));
        }
    }

    for (source, want) in &expected {
        let got = &scores[*source];
        assert_eq!(got.len(), want.len(), "{source}: one score per reading after the first {}", window - 1);
        for (k, ((ts, score), w)) in got.iter().zip(want).enumerate() {
            assert_eq!(*ts, (k + window - 1) as f64, "{source}: in time order");
            assert_eq!(score.to_bits(), w.to_bits(), "{source}: the window ending at reading {ts}");
        }
        let events: Vec<(String, f64)> = expected_events(want, threshold)
            .into_iter()
            .map(|(e, i)| (e.to_string(), (i + window - 1) as f64))
            .collect();
        assert_eq!(alerts.get(*source).cloned().unwrap_or_default(), events, "{source}: alert events");
    }
    // An alert is open while the fault lasts (readings 50 to 69).
    let faulty_events = &alerts["pump-2"];
    let open_during_fault = faulty_events.chunks(2).any(|pair| match pair {
        [(open, from), (_, to)] => open == "open" && *from < 70.0 && *to > 50.0,
        [(open, from)] => open == "open" && *from < 70.0,
        _ => false,
    });
    assert!(open_during_fault, "the injected fault opens an alert: {faulty_events:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "errors/pump-1");
    assert!(errors[0].1["error"].as_str().unwrap().contains("not JSON"), "{:?}", errors[0]);

    let metrics = running.client.get(format!("{}/metrics", running.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("model_serving_stream_messages_total{outcome=\"bad\"} 1"), "{metrics}");
    assert!(metrics.contains(&format!("model_serving_stream_readings_total{{outcome=\"scored\"}} {total}")));
    assert!(metrics.contains("model_serving_stream_connected 1"));
    assert!(metrics.contains("model_serving_stream_sources 3"));

    // The scored readings are in the drift window and the recent scores, as a request's rows are.
    let drift = drift_once_it_has(&running, "", total).await;
    let anomalies = expected.values().flatten().filter(|s| f64::from(**s) > threshold).count();
    assert_eq!(drift["tracking"], true, "{drift}");
    assert!((drift["anomaly_rate"].as_f64().unwrap() - anomalies as f64 / total as f64).abs() < 1e-12, "{drift}");
    assert_eq!(drift["features"].as_array().unwrap().len(), 6, "{drift}");
    let recent: Value =
        running.client.get(format!("{}/scores/recent", running.base)).send().await.unwrap().json().await.unwrap();
    let mut got: Vec<u32> = recent["batches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["scores"].as_array().unwrap().iter().map(|s| (s.as_f64().unwrap() as f32).to_bits()))
        .collect();
    let mut want: Vec<u32> = expected.values().flatten().map(|s| s.to_bits()).collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "/scores/recent holds every streamed score");
}

/// `/drift` (for `?group=` when `query` is not empty) once it counts `rows` rows: the stream
/// adds a batch's readings right after publishing their scores.
async fn drift_once_it_has(running: &common::Running, query: &str, rows: usize) -> Value {
    let started = Instant::now();
    loop {
        let drift: Value =
            running.client.get(format!("{}/drift{query}", running.base)).send().await.unwrap().json().await.unwrap();
        if drift["rows"].as_u64() == Some(rows as u64) {
            return drift;
        }
        assert!(started.elapsed() < WAIT, "/drift{query} counts {} rows, expected {rows}", drift["rows"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_keeps_the_service_unready_and_a_malformed_url_stops_the_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let running = common::start_with(&[("MQTT_URL", &format!("mqtt://127.0.0.1:{port}"))]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = running.client.get(format!("{}/health/ready", running.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["error"]["code"], "broker_not_connected", "{body}");
    // Scoring over HTTP goes on meanwhile.
    let csv = common::csv_body(&common::fixture().test_rows[..20]);
    let scored = running.client.post(format!("{}/compute", running.base)).header("content-type", "text/csv").body(csv);
    assert_eq!(scored.send().await.unwrap().status(), 200);

    for (value, expected) in [
        ("broker:1883", "expected mqtt://HOST[:PORT]"),
        ("mqtt://user:secret@broker", "no credentials in the URL"),
        ("mqtt://broker:99999", "a port number"),
        ("mqtts://broker:0", "a port number"),
    ] {
        let vars = HashMap::from([("MQTT_URL".to_string(), value.to_string())]);
        let error = model_serving::config::Config::from_vars(&vars).unwrap_err().to_string();
        assert!(error.contains("MQTT_URL=") && error.contains(expected), "{value}: {error}");
        assert!(!error.contains("secret"), "{error}");
    }
    // TLS on the usual port unless one is given.
    for (value, port, tls) in
        [("mqtts://broker", 8883, true), ("ssl://broker:8884", 8884, true), ("mqtt://broker", 1883, false)]
    {
        let vars = HashMap::from([("MQTT_URL".to_string(), value.to_string())]);
        let url = model_serving::config::Config::from_vars(&vars).unwrap().mqtt_url.unwrap();
        assert_eq!((url.host.as_str(), url.port, url.tls), ("broker", port, tls), "{value}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partitions_split_the_sources_with_no_overlap() {
    let Some(broker) = broker().await else { return };
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let mut replicas = Vec::new();
    for i in 0..2 {
        let running = common::start_with(&[
            ("MQTT_URL", url.as_str()),
            ("MQTT_CLIENT_ID", &format!("partition-test-{i}")),
            ("MQTT_PARTITION", &format!("{i}/2")),
            ("MQTT_SCORE_TOPIC", &format!("scores/p{i}/{{source}}")),
        ])
        .await;
        wait_ready(&running).await;
        replicas.push(running);
    }
    let (_listening, mut received) = listener(broker.port, "partition-test-listener", &["scores/#"]).await;
    let publisher = publisher(broker.port, "partition-test-publisher");
    let rows = &common::fixture().test_rows;
    let sources: Vec<String> = (0..20).map(|k| format!("machine-{k}")).collect();
    let readings = 8;
    for (i, row) in rows.iter().enumerate().take(readings) {
        for source in &sources {
            let body = reading(i, row).to_string();
            publisher.publish(format!("sensors/{source}/readings"), QoS::AtLeastOnce, false, body).await.unwrap();
        }
    }
    let window = common::load_model().meta.window.length;
    let total = sources.len() * (readings - window + 1);
    let mut by_replica: [HashMap<String, usize>; 2] = Default::default();
    for _ in 0..total {
        let (topic, body) = tokio::time::timeout(WAIT, received.recv()).await.expect("all scores").unwrap();
        let replica = usize::from(topic.starts_with("scores/p1/"));
        *by_replica[replica].entry(body["source"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(tokio::time::timeout(Duration::from_millis(300), received.recv()).await.is_err(), "no score twice");
    let (zero, one) = (&by_replica[0], &by_replica[1]);
    assert!(!zero.is_empty() && !one.is_empty(), "both replicas own sources: {zero:?} {one:?}");
    assert!(zero.keys().all(|s| !one.contains_key(s)), "no source on both: {zero:?} {one:?}");
    assert_eq!(zero.len() + one.len(), sources.len());
    assert!(zero.values().chain(one.values()).all(|n| *n == readings - window + 1));
}

/// A metric's value from the service at `base` (0 when absent).
async fn metric(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

async fn wait_for_metric(running: &common::Running, name: &str, want: f64) {
    let started = Instant::now();
    loop {
        let have = metric(&running.base, name).await;
        if have == want {
            return;
        }
        assert!(started.elapsed() < WAIT, "{name} is {have}, expected {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_reconnects_after_a_broker_restart_and_no_reading_published_across_it_is_lost() {
    let Some(mut broker) = broker_with(true).await else { return };
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let running = common::start_with(&[("MQTT_URL", url.as_str()), ("MQTT_CLIENT_ID", "restart-test-service")]).await;
    wait_ready(&running).await;
    // A QoS 1 publisher with a persistent session of its own, which keeps trying while the
    // broker is away.
    let mut options = MqttOptions::new("restart-test-publisher", "127.0.0.1", broker.port);
    options.set_clean_session(false);
    let (publisher, mut publisher_loop) = AsyncClient::new(options, 10_000);
    tokio::spawn(async move {
        loop {
            if publisher_loop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let rows = &common::fixture().test_rows;
    let window = common::load_model().meta.window.length;
    let publish = |i: usize| {
        let body = reading(i, &rows[i]).to_string();
        let publisher = publisher.clone();
        async move { publisher.publish("sensors/restarted/readings", QoS::AtLeastOnce, false, body).await.unwrap() }
    };
    for i in 0..50 {
        publish(i).await;
    }
    let scored = "model_serving_stream_readings_total{outcome=\"scored\"}";
    wait_for_metric(&running, scored, (50 - window + 1) as f64).await;

    broker.stop().await;
    let ready = running.client.get(format!("{}/health/ready", running.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "unready while the broker is away");
    // Published while the broker is down: the publisher's session carries them.
    for i in 50..100 {
        publish(i).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.start().await;

    wait_for_metric(&running, scored, (100 - window + 1) as f64).await;
    wait_ready(&running).await;
    assert!(metric(&running.base, "model_serving_stream_reconnects_total").await >= 1.0);
    assert_eq!(metric(&running.base, "model_serving_stream_readings_total{outcome=\"late\"}").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_far_larger_than_the_queues_is_scored_whole_without_a_hang() {
    let Some(broker) = broker().await else { return };
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let running = common::start_with(&[
        ("MQTT_URL", url.as_str()),
        ("MQTT_CLIENT_ID", "burst-test-service"),
        // Every reading also publishes a score: the service's outgoing queue fills too.
        ("MQTT_SCORE_TOPIC", "scores/{source}"),
    ])
    .await;
    wait_ready(&running).await;
    let mut options = MqttOptions::new("burst-test-publisher", "127.0.0.1", broker.port);
    options.set_inflight(1000);
    let (publisher, mut publisher_loop) = AsyncClient::new(options, 10_000);
    tokio::spawn(async move { while publisher_loop.poll().await.is_ok() {} });
    let rows = &common::fixture().test_rows;
    let (sources, per_source) = (50, 400);
    for i in 0..per_source {
        for k in 0..sources {
            let body = reading(i, &rows[i % rows.len()]).to_string();
            publisher.publish(format!("sensors/burst-{k}/readings"), QoS::AtLeastOnce, false, body).await.unwrap();
        }
    }
    let window = common::load_model().meta.window.length;
    let scored = "model_serving_stream_readings_total{outcome=\"scored\"}";
    wait_for_metric(&running, scored, (sources * (per_source - window + 1)) as f64).await;
}

/// A test CA and a broker certificate it signed for 127.0.0.1 (openssl), in `dir`.
fn test_ca(dir: &std::path::Path) -> Option<()> {
    let path = |name: &str| dir.join(name).display().to_string();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let (ca_key, ca_crt) = (path("ca.key"), path("ca.crt"));
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=stream test CA", "-keyout", &ca_key, "-out", &ca_crt];
    ca.extend(ec);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    let (key, csr, crt, ext) = (path("broker.key"), path("broker.csr"), path("broker.crt"), path("ext.cnf"));
    let mut request = vec!["req", "-subj", "/CN=127.0.0.1", "-keyout", &key, "-out", &csr];
    request.extend(ec);
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        .unwrap();
    let sign = [
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &csr,
        "-CA",
        &ca_crt,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &crt,
        "-extfile",
        &ext,
    ];
    for args in [&ca[..], &request[..], &sign[..]] {
        let out = common::run_tool("openssl", args, None)?;
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // mosquitto drops to its own user: it must read its key.
    use std::os::unix::fs::PermissionsExt;
    for name in ["ca.crt", "broker.key", "broker.crt"] {
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    Some(())
}

/// A mosquitto with a plain listener (for the test's own clients) and a TLS one (for the
/// service), its certificate signed by a test CA: (broker, TLS port, the CA file).
async fn tls_broker() -> Option<(Broker, u16, PathBuf)> {
    let mut broker = broker().await?;
    let dir = broker._dir.path().to_path_buf();
    test_ca(&dir)?;
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut conf = std::fs::read_to_string(&broker.conf).unwrap();
    conf.push_str(&format!(
        "listener {tls_port} 127.0.0.1\ncafile {0}/ca.crt\ncertfile {0}/broker.crt\nkeyfile {0}/broker.key\n",
        dir.display()
    ));
    std::fs::write(&broker.conf, conf).unwrap();
    broker.stop().await;
    broker.start().await;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", tls_port)).await.is_err() {
        assert!(started.elapsed() < WAIT, "mosquitto did not listen on {tls_port} (TLS)");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some((broker, tls_port, dir.join("ca.crt")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_broker_certificate_is_checked_against_the_system_roots_and_mqtt_ca_file() {
    let Some((broker, tls_port, ca)) = tls_broker().await else { return };
    let url = format!("mqtts://127.0.0.1:{tls_port}");
    let ca = ca.display().to_string();

    // Trusting the broker's CA: connected over TLS, readings scored, scores published.
    let running = common::start_with(&[
        ("MQTT_URL", url.as_str()),
        ("MQTT_CA_FILE", ca.as_str()),
        ("MQTT_CLIENT_ID", "tls-test-service"),
        ("MQTT_SCORE_TOPIC", "scores/{source}"),
    ])
    .await;
    wait_ready(&running).await;
    let (_listening, mut received) = listener(broker.port, "tls-test-listener", &["scores/#"]).await;
    let publisher = publisher(broker.port, "tls-test-publisher");
    let rows = &common::fixture().test_rows;
    let window = common::load_model().meta.window.length;
    let readings = window + 4;
    for (i, row) in rows.iter().enumerate().take(readings) {
        publisher.publish("sensors/tls/readings", QoS::AtLeastOnce, false, reading(i, row).to_string()).await.unwrap();
    }
    for _ in 0..readings - window + 1 {
        let (topic, _) = tokio::time::timeout(WAIT, received.recv()).await.expect("a score over TLS").unwrap();
        assert_eq!(topic, "scores/tls");
    }
    running.service.shutdown().await.unwrap();

    // The system's roots alone do not know the test CA: the certificate is refused, the service
    // stays unready and keeps trying; HTTP scoring goes on.
    let untrusting = common::start_with(&[("MQTT_URL", url.as_str()), ("MQTT_CLIENT_ID", "tls-test-untrusting")]).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ready = untrusting.client.get(format!("{}/health/ready", untrusting.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(metric(&untrusting.base, "model_serving_stream_connected").await, 0.0);

    // A CA file that cannot be used stops the start, naming it.
    let empty = broker._dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for (file, expected) in
        [(broker._dir.path().join("missing.pem"), "cannot read its certificates"), (empty, "holds no certificate")]
    {
        let file = file.display().to_string();
        let vars = HashMap::from([
            ("MODEL_PATH".to_string(), common::fixture().model_dir.display().to_string()),
            ("MQTT_URL".to_string(), url.clone()),
            ("MQTT_CA_FILE".to_string(), file.clone()),
        ]);
        let config = model_serving::config::Config::from_vars(&vars).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let Err(error) = model_serving::start(config, listener).await else { panic!("{file}: started") };
        let error = format!("{:#}", anyhow::Error::from(error));
        assert!(error.contains(&format!("MQTT_CA_FILE {file}")) && error.contains(expected), "{error}");
    }
}

/// `kill -TERM`, then the exit status within `limit`.
async fn terminate(child: &mut tokio::process::Child, limit: Duration) -> std::process::ExitStatus {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::timeout(limit, child.wait()).await.expect("model-serving exits after SIGTERM").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_messages_in_hand_and_the_next_start_gets_the_rest() {
    let Some(broker) = broker().await else { return };
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let model_dir = common::fixture().model_dir.display().to_string();
    let service = |run: &str| {
        vec![
            ("MODEL_PATH", model_dir.clone()),
            ("MQTT_URL", url.clone()),
            ("MQTT_CLIENT_ID", "sigterm-test-service".to_string()),
            ("MQTT_SCORE_TOPIC", format!("scores/{run}/{{source}}")),
            ("SHUTDOWN_DRAIN", "0".to_string()),
        ]
    };
    let (_listening, mut received) = listener(broker.port, "sigterm-test-listener", &["scores/#"]).await;
    // A first start makes the broker keep a session (and its subscription) for the service.
    let (mut first, _) = common::spawn_binary(&service("first")).await;
    assert!(terminate(&mut first, WAIT).await.success());

    // A backlog waits for it at the broker.
    let mut options = MqttOptions::new("sigterm-test-publisher", "127.0.0.1", broker.port);
    options.set_inflight(1000);
    let (publisher, mut publisher_loop) = AsyncClient::new(options, 10_000);
    let (acked_tx, mut acked) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = publisher_loop.poll().await {
            if let Event::Incoming(Packet::PubAck(_)) = event {
                let _ = acked_tx.send(());
            }
        }
    });
    let rows = &common::fixture().test_rows;
    let (sources, per_source) = (100, 200);
    for i in 0..per_source {
        for k in 0..sources {
            let body = reading(i, &rows[i % rows.len()]).to_string();
            publisher.publish(format!("sensors/held-{k}/readings"), QoS::AtLeastOnce, false, body).await.unwrap();
        }
    }
    for _ in 0..sources * per_source {
        tokio::time::timeout(WAIT, acked.recv()).await.expect("the broker takes the backlog").unwrap();
    }

    // SIGTERM as soon as the backlog is being scored: it exits promptly and cleanly.
    let (mut second, base) = common::spawn_binary(&service("second")).await;
    let scored = "model_serving_stream_readings_total{outcome=\"scored\"}";
    let started = Instant::now();
    while metric(&base, scored).await == 0.0 {
        assert!(started.elapsed() < WAIT, "nothing scored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = Instant::now();
    let status = terminate(&mut second, WAIT).await;
    assert!(status.success(), "{status}");
    println!("stopped {:?} after SIGTERM", stopping.elapsed());

    // The next start gets every reading the second did not finish, and none it did.
    let (_third, _) = common::spawn_binary(&service("third")).await;
    let window = common::load_model().meta.window.length;
    let mut by_run: [HashMap<String, Vec<usize>>; 2] = Default::default();
    let mut finished = 0;
    while finished < sources {
        let (topic, body) = tokio::time::timeout(WAIT, received.recv()).await.expect("every reading scored").unwrap();
        let run = usize::from(topic.starts_with("scores/third/"));
        let ts = body["ts"].as_f64().unwrap() as usize;
        by_run[run].entry(body["source"].as_str().unwrap().to_string()).or_default().push(ts);
        finished += usize::from(ts == per_source - 1);
    }
    assert!(tokio::time::timeout(Duration::from_millis(300), received.recv()).await.is_err(), "no score twice");
    let [second_run, third_run] = &by_run;
    let count = |run: &HashMap<String, Vec<usize>>| run.values().map(Vec::len).sum::<usize>();
    println!("window {window}: scored by the second start {}, by the third {}", count(second_run), count(third_run));
    assert!(!second_run.is_empty(), "the second start scored readings before it stopped");
    assert!(!third_run.is_empty(), "SIGTERM came before the backlog was done: the third start gets the rest");
    for k in 0..sources {
        let source = format!("held-{k}");
        let done = second_run.get(&source).cloned().unwrap_or_default();
        let rest = third_run.get(&source).cloned().unwrap_or_default();
        let contiguous = |v: &[usize]| v.windows(2).all(|p| p[1] == p[0] + 1);
        assert!(contiguous(&done) && contiguous(&rest), "{source}: in order, none missing: {done:?} {rest:?}");
        if let Some(first) = done.first() {
            assert_eq!(*first, window - 1, "{source}");
        }
        // The third start warms the source's window up again (window - 1 readings), then scores
        // every reading the second one did not: nothing lost, nothing scored twice.
        match (done.last(), rest.first()) {
            (Some(last), Some(next)) => assert_eq!(*next, last + window, "{source}: {done:?} {rest:?}"),
            (None, Some(next)) => assert!(*next < 2 * window - 1, "{source}: {rest:?}"),
            (Some(last), None) => assert_eq!(*last, per_source - 1, "{source}"),
            (None, None) => panic!("{source}: never scored"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_model_with_the_same_features_takes_over_the_windows() {
    use model_registry::{PublishInfo, Registry};
    let Some(broker) = broker().await else { return };
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(object_storage::Store::local(root.path()));
    let info = || PublishInfo {
        published_by: "stream test".into(),
        git_commit: None,
        metrics: None,
        metrics_data: None,
        dvc_lock_md5: None,
    };
    let first = common::load_model();
    // The same features and window, other weights in effect: every score halves.
    let mut second = common::load_model();
    second.meta.version = "halved".into();
    for scale in &mut second.meta.scoring.error_scale {
        *scale *= 2.0;
    }
    second.meta.threshold.value /= 2.0;
    let second_dir = tempfile::tempdir().unwrap();
    second.save(second_dir.path()).unwrap();
    let v1 = registry.publish("ae", &common::fixture().model_dir, info()).await.unwrap().version;
    let v2 = registry.publish("ae", second_dir.path(), info()).await.unwrap().version;
    registry.set_alias("ae", "champion", &v1, "test").await.unwrap();

    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let registry_root = root.path().display().to_string();
    let running = common::start_with(&[
        ("MODEL_REGISTRY", registry_root.as_str()),
        ("MODEL_NAME", "ae"),
        ("MODEL_REFRESH_INTERVAL", "0"),
        ("MQTT_URL", url.as_str()),
        ("MQTT_CLIENT_ID", "reload-test-service"),
        ("MQTT_SCORE_TOPIC", "scores/{source}"),
    ])
    .await;
    wait_ready(&running).await;
    let (_listening, mut received) = listener(broker.port, "reload-test-listener", &["scores/#"]).await;
    let publisher = publisher(broker.port, "reload-test-publisher");
    let rows = &common::fixture().test_rows[..80];
    let window = first.meta.window.length;
    let publish = |range: std::ops::Range<usize>| {
        let publisher = publisher.clone();
        async move {
            for i in range {
                let body = reading(i, &rows[i]).to_string();
                publisher.publish("sensors/kept/readings", QoS::AtLeastOnce, false, body).await.unwrap();
            }
        }
    };
    let mut scores = Vec::new();
    let mut collect = async |until: usize| {
        while scores.len() < until {
            let (_, body) = tokio::time::timeout(WAIT, received.recv()).await.expect("scores").unwrap();
            let version = body["model_version"].as_str().unwrap().to_string();
            scores.push((body["ts"].as_f64().unwrap() as usize, body["score"].as_f64().unwrap() as f32, version));
        }
    };
    publish(0..40).await;
    collect(40 - window + 1).await;

    registry.set_alias("ae", "champion", &v2, "test").await.unwrap();
    running.service.check_model_now();
    let started = Instant::now();
    loop {
        let model: Value =
            running.client.get(format!("{}/model", running.base)).send().await.unwrap().json().await.unwrap();
        if model["version"] == v2.as_str() {
            break;
        }
        assert!(started.elapsed() < WAIT, "the promotion was not picked up: {model}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publish(40..80).await;
    collect(80 - window + 1).await;

    let series = frame(rows);
    let (before, after) =
        (first.window_scores(&series, "series").unwrap(), second.window_scores(&series, "series").unwrap());
    for (ts, score, version) in &scores {
        let (want, wanted_version) = if *ts < 40 { (&before, &v1) } else { (&after, &v2) };
        assert_eq!(version, wanted_version, "reading {ts}");
        // The window ending at the reading, kept across the reload: no warm-up again.
        assert_eq!(score.to_bits(), want[ts - (window - 1)].to_bits(), "reading {ts} ({version})");
    }
    assert_eq!(scores.iter().map(|s| s.0).collect::<Vec<_>>(), (window - 1..80).collect::<Vec<_>>());
    let warming = metric(&running.base, "model_serving_stream_readings_total{outcome=\"warming_up\"}").await;
    assert_eq!(warming, (window - 1) as f64, "warmed up once");
}

/// Every score message of `received` until `total` have come, by source: (ts, score, model
/// version, threshold).
async fn collect_scores(
    received: &mut mpsc::UnboundedReceiver<(String, Value)>,
    total: usize,
) -> HashMap<String, Vec<(f64, f32, String, f64)>> {
    let mut scores: HashMap<String, Vec<(f64, f32, String, f64)>> = HashMap::new();
    let started = Instant::now();
    while scores.values().map(Vec::len).sum::<usize>() < total {
        let left = WAIT.saturating_sub(started.elapsed());
        let Ok(Some((topic, body))) = tokio::time::timeout(left, received.recv()).await else {
            panic!("{} of {total} scores within {WAIT:?}", scores.values().map(Vec::len).sum::<usize>())
        };
        if !topic.starts_with("scores") {
            continue;
        }
        scores.entry(body["source"].as_str().unwrap().to_string()).or_default().push((
            body["ts"].as_f64().unwrap(),
            body["score"].as_f64().unwrap() as f32,
            body["model_version"].as_str().unwrap().to_string(),
            body["threshold"].as_f64().unwrap(),
        ));
    }
    scores
}

/// With a model set served, a source is a machine: its readings are scored by that machine's
/// model (a source the set has no model of by the fallback, or dropped and counted without one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_model_set_each_source_is_scored_by_its_own_machines_model() {
    let Some(broker) = broker().await else { return };
    let fixture = common::set::set_fixture();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let start = |dir: &std::path::Path, id: &str, topic: &str| {
        let (dir, id, topic, url) = (dir.display().to_string(), id.to_string(), topic.to_string(), url.clone());
        async move {
            common::start_with(&[
                ("MODEL_PATH", dir.as_str()),
                ("MQTT_URL", url.as_str()),
                ("MQTT_CLIENT_ID", id.as_str()),
                ("MQTT_SCORE_TOPIC", topic.as_str()),
            ])
            .await
        }
    };
    let with_fallback = start(&fixture.with_fallback, "set-stream-a", "scores/{source}").await;
    let without = start(&fixture.without_fallback, "set-stream-b", "scores-b/{source}").await;
    wait_ready(&with_fallback).await;
    wait_ready(&without).await;
    let (_a, mut received_a) = listener(broker.port, "set-stream-listener-a", &["scores/#"]).await;
    let (_b, mut received_b) = listener(broker.port, "set-stream-listener-b", &["scores-b/#"]).await;
    let publisher = publisher(broker.port, "set-stream-publisher");

    // m01 and m03 (the faulty machine) as themselves, and m02's readings from a machine the set
    // has no model of.
    let series_of = |machine: &str| -> Vec<[f64; 6]> {
        fixture.test.iter().filter(|(m, _)| m == machine).take(80).map(|(_, r)| *r).collect()
    };
    let series: Vec<(&str, Vec<[f64; 6]>)> =
        vec![("m01", series_of("m01")), ("m03", series_of("m03")), ("pump-9", series_of("m02"))];
    for i in 0..80 {
        for (source, rows) in &series {
            let body = reading(i, &rows[i]).to_string();
            publisher.publish(format!("sensors/{source}/readings"), QoS::AtLeastOnce, false, body).await.unwrap();
        }
    }

    let load = |dir: &str| model_core::Model::load(&fixture.with_fallback.join(dir)).unwrap();
    let models = [("m01", load("groups/m01")), ("m03", load("groups/m03")), ("pump-9", load("fallback"))];
    let expected: HashMap<&str, (Vec<f32>, &model_core::Model)> = series
        .iter()
        .zip(&models)
        .map(|((source, rows), (_, model))| (*source, (model.window_scores(&frame(rows), "series").unwrap(), model)))
        .collect();
    let total: usize = expected.values().map(|(s, _)| s.len()).sum();
    let scores = collect_scores(&mut received_a, total).await;
    for (source, (want, model)) in &expected {
        let got = &scores[*source];
        assert_eq!(got.len(), want.len(), "{source}");
        for ((_, score, version, threshold), w) in got.iter().zip(want) {
            assert_eq!(score.to_bits(), w.to_bits(), "{source}: scored by its own model");
            assert_eq!(version, &model.meta.version, "{source}");
            assert_eq!(*threshold, model.meta.threshold.value, "{source}");
        }
    }

    // Each machine's readings drift against its own model's training data; pump-9's are the
    // fallback's.
    let drift = drift_once_it_has(&with_fallback, "", total).await;
    for (source, (want, model)) in &expected {
        let group = if *source == "pump-9" { "(fallback)" } else { source };
        let drift = drift["groups"].as_array().unwrap().iter().find(|g| g["group"] == group).unwrap();
        assert_eq!(drift["rows"].as_u64(), Some(want.len() as u64), "{drift}");
        assert_eq!(drift["model_version"], model.meta.version.as_str(), "{drift}");
        let anomalies = want.iter().filter(|s| f64::from(**s) > model.meta.threshold.value).count();
        assert!((drift["anomaly_rate"].as_f64().unwrap() - anomalies as f64 / want.len() as f64).abs() < 1e-12);
    }
    let m03 = drift_once_it_has(&with_fallback, "?group=m03", expected["m03"].0.len()).await;
    assert_eq!(m03["groups"][0]["group"], "m03", "{m03}");

    // Without a fallback, pump-9's readings are dropped and counted; the machines are scored.
    let known: usize = expected.iter().filter(|(s, _)| **s != "pump-9").map(|(_, (s, _))| s.len()).sum();
    let scores = collect_scores(&mut received_b, known).await;
    assert!(!scores.contains_key("pump-9"), "{:?}", scores.keys());
    let metrics = without.client.get(format!("{}/metrics", without.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("model_serving_stream_readings_total{outcome=\"no_model\"} 80"), "{metrics}");
}
