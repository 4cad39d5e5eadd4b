//! The streaming worker: takes the received messages in batches (all that wait, up to
//! [`BATCH_MESSAGES`]), checks them, puts each reading into its source's window, scores every
//! completed window of the batch in one pass of the served model, publishes alert events (and
//! scores, and errors), adds the scored readings to the drift windows, and acks the messages. A
//! bad message is counted, reported on MQTT_ERROR_TOPIC and logged at most once per source a
//! minute; it never stops the stream.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use model_core::Model;
use rumqttc::{AsyncClient, QoS};
use serde_json::json;
use tokio::sync::mpsc;

use super::connection::Received;
use super::message::{self, Reading};
use super::metrics::StreamMetrics;
use super::observed::Observed;
use super::sources::{Admitted, AlertEvent, Limits, Shape, Sources};
use crate::config::Partition;
use crate::inference::Scorer;
use crate::served_model::ServedModel;

/// Messages taken at once: enough to score many sources' windows in one pass.
pub const BATCH_MESSAGES: usize = 512;
/// Bad messages of one source are logged at most this often (all are counted and reported).
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Idle sources are looked for this often.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// Top features named by an open event.
const EVENT_FEATURES: usize = 3;

/// What the worker publishes where.
#[derive(Debug, Clone)]
pub struct Topics {
    pub filters: Vec<String>,
    pub alert: String,
    pub score: Option<String>,
    pub error: String,
}

pub struct Worker {
    pub client: AsyncClient,
    pub scorer: Scorer,
    pub topics: Topics,
    pub limits: Limits,
    pub max_message_bytes: usize,
    pub partition: Partition,
    pub metrics: StreamMetrics,
}

/// A reading whose window waits in the batch to be scored.
struct Pending {
    reading: Reading,
    arrived: Instant,
}

fn topic(template: &str, source: &str) -> String {
    template.replace("{source}", source)
}

fn now_epoch() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn shape_of(model: &ServedModel) -> Shape {
    let meta = model.model.meta();
    Shape { window: meta.window.length.max(1), features: meta.features.len(), smoothing: meta.scoring.smoothing.max(1) }
}

impl Worker {
    /// Runs until the connection stops handing messages over, then disconnects.
    pub async fn run(self, mut from_connection: mpsc::Receiver<Received>) {
        // The features the windows were kept for, and the windows.
        let mut sources: Option<(Vec<String>, Sources)> = None;
        let mut logged: HashMap<String, Instant> = HashMap::new();
        let mut swept = Instant::now();
        let mut batch = Vec::with_capacity(BATCH_MESSAGES);
        while from_connection.recv_many(&mut batch, BATCH_MESSAGES).await > 0 {
            // No model yet: the batch is held (unacknowledged, so the broker sends no more than
            // its in-flight limit meanwhile) and scored once one is loaded.
            let served = loop {
                if let Some(served) = self.scorer.current() {
                    break served;
                }
                tracing::warn!(messages = batch.len(), "no model to score streamed readings with yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            };
            let shape = shape_of(&served);
            let features = &served.model.meta().features;
            // A new model takes over the windows when it reads them alike; else they warm up again.
            let reusable = sources.as_ref().is_some_and(|(kept, s)| s.shape() == shape && kept == features);
            if !reusable {
                sources = Some((features.clone(), Sources::new(shape, self.limits)));
            }
            let Some((_, sources)) = sources.as_mut() else { continue };
            self.handle(&served, sources, &mut batch, &mut logged).await;
            if swept.elapsed() >= SWEEP_EVERY {
                let forgotten = sources.forget_idle(Instant::now());
                if forgotten > 0 {
                    tracing::info!(forgotten, "forgot sources silent for longer than MQTT_SOURCE_TTL");
                }
                logged.retain(|_, at| at.elapsed() < LOG_EVERY);
                swept = Instant::now();
            }
            self.metrics.sources.set(i64::try_from(sources.len()).unwrap_or(i64::MAX));
        }
        if let Err(e) = self.client.disconnect().await {
            tracing::debug!(error = %e, "the MQTT connection had already ended");
        }
    }

    async fn handle(
        &self,
        served: &ServedModel,
        sources: &mut Sources,
        batch: &mut Vec<Received>,
        logged: &mut HashMap<String, Instant>,
    ) {
        // With a model set, a source is a group: its readings are scored by the set's model of it.
        let features = &served.model.meta().features;
        let now = Instant::now();
        let mut windows = Vec::new();
        let mut pending = Vec::new();
        let mut full_logged = false;
        for received in batch.iter() {
            let publish = &received.publish;
            let from_topic =
                self.topics.filters.iter().find_map(|f| message::topic_source(f, &publish.topic)).map(str::to_string);
            match message::parse(&publish.payload, from_topic.as_deref(), features, self.max_message_bytes) {
                Ok(readings) => {
                    self.metrics.messages.with_label_values(&["ok"]).inc();
                    for reading in readings {
                        if !self.partition.owns(&reading.source) {
                            self.metrics.readings.with_label_values(&["other_partition"]).inc();
                            continue;
                        }
                        if served.model.model_for(&reading.source).is_none() {
                            self.metrics.readings.with_label_values(&["no_model"]).inc();
                            if logged.get(&reading.source).is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                                logged.insert(reading.source.clone(), Instant::now());
                                tracing::warn!(source = %reading.source,
                                    "the served model set has no model of this source and no fallback: its readings are dropped (logged once a minute per source)");
                            }
                            continue;
                        }
                        let outcome = sources.admit(&reading, now, &mut windows);
                        let label = match outcome {
                            Admitted::Window => "scored",
                            Admitted::WarmingUp => "warming_up",
                            Admitted::Late => "late",
                            Admitted::NoRoom => "no_room",
                        };
                        self.metrics.readings.with_label_values(&[label]).inc();
                        if outcome == Admitted::Window {
                            pending.push(Pending { reading, arrived: received.arrived });
                        } else if outcome == Admitted::NoRoom && !full_logged {
                            full_logged = true;
                            if logged.get("").is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                                logged.insert(String::new(), Instant::now());
                                tracing::warn!(source = %reading.source, max = sources.len(),
                                    "MQTT_MAX_SOURCES sources are kept: readings of new sources are dropped until one is forgotten (MQTT_SOURCE_TTL)");
                            }
                        }
                    }
                }
                Err(error) => {
                    // Reported once, by the replica that owns the topic's source (partition 0
                    // when the topic names none).
                    let reporter = from_topic.as_deref().map_or(self.partition.index == 0, |s| self.partition.owns(s));
                    if !reporter {
                        continue;
                    }
                    self.metrics.messages.with_label_values(&["bad"]).inc();
                    let source = from_topic.unwrap_or_else(|| "unknown".into());
                    if logged.get(&source).is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                        logged.insert(source.clone(), Instant::now());
                        tracing::warn!(%source, topic = %publish.topic, %error, "bad message (reported on MQTT_ERROR_TOPIC; logged once a minute per source)");
                    }
                    let body = json!({"error": error.to_string(), "topic": publish.topic, "source": source});
                    self.publish(&topic(&self.topics.error, &source), QoS::AtMostOnce, body).await;
                }
            }
        }
        if !pending.is_empty() {
            let width = windows.len() / pending.len();
            let models: Vec<Option<&Model>> =
                pending.iter().map(|p| served.model.model_for(&p.reading.source)).collect();
            let raw = score_by_model(&models, &windows, width);
            let epoch = now_epoch();
            let d = features.len();
            let mut observed = Observed::with_capacity(pending.len(), d);
            for (i, (p, raw)) in pending.iter().zip(raw).enumerate() {
                // Admitted only with a model (checked above).
                let Some(model) = models[i] else { continue };
                let threshold = model.meta.threshold.value;
                let version = if served.model.set().is_some() { &model.meta.version } else { &served.version };
                let (score, event) = sources.scored(&p.reading.source, raw, threshold);
                self.metrics.delay.with_label_values(&["arrival"]).observe(p.arrived.elapsed().as_secs_f64());
                if (epoch - p.reading.ts).abs() < 86_400.0 {
                    self.metrics.delay.with_label_values(&["timestamp"]).observe((epoch - p.reading.ts).max(0.0));
                }
                let source = &p.reading.source;
                observed.push(&served.model, source, model, &windows[(i + 1) * width - d..(i + 1) * width], score);
                let base = json!({"source": source, "ts": p.reading.ts, "score": score, "threshold": threshold,
                    "model_version": version});
                if let Some(score_topic) = &self.topics.score {
                    let mut body = base.clone();
                    body["anomalous"] = json!(f64::from(score) > threshold);
                    self.publish(&topic(score_topic, source), QoS::AtMostOnce, body).await;
                }
                if let Some(event) = event {
                    let mut body = base;
                    match event {
                        AlertEvent::Open => {
                            body["event"] = json!("open");
                            body["features"] = json!(explain(model, &windows[i * width..(i + 1) * width]));
                            self.metrics.alerts.with_label_values(&["open"]).inc();
                        }
                        AlertEvent::Close { peak } => {
                            body["event"] = json!("close");
                            body["peak"] = json!(peak);
                            self.metrics.alerts.with_label_values(&["close"]).inc();
                        }
                    }
                    self.publish(&topic(&self.topics.alert, source), QoS::AtLeastOnce, body).await;
                }
            }
            let (frame, scores, groups) = observed.into_parts(&served.model, features);
            self.scorer.observe_drift(served, &frame, &scores, groups.as_deref());
        }
        for received in batch.drain(..) {
            if let Err(e) = self.client.ack(&received.publish).await {
                tracing::debug!(error = %e, "acknowledging a message failed (the broker sends it again)");
            }
        }
    }

    async fn publish(&self, topic: &str, qos: QoS, body: serde_json::Value) {
        if let Err(e) = self.client.publish(topic, qos, false, body.to_string()).await {
            tracing::warn!(%topic, error = %e, "publishing failed");
        }
    }
}

/// The raw scores of the windows (`width` values each, one per entry of `models`), each scored
/// by its own model in one pass per model (a set's members; one pass in all for one model).
fn score_by_model(models: &[Option<&Model>], windows: &[f64], width: usize) -> Vec<f32> {
    // One model for every window (a single model served): one pass over the windows as they are.
    if let Some(first) = models.first().copied().flatten()
        && models.iter().all(|m| m.is_some_and(|m| std::ptr::eq(m, first)))
    {
        return first.score_windows(windows, models.len());
    }
    let mut raw = vec![0.0f32; models.len()];
    let mut done = vec![false; models.len()];
    for i in 0..models.len() {
        let Some(model) = models[i].filter(|_| !done[i]) else { continue };
        let same: Vec<usize> =
            (i..models.len()).filter(|&j| !done[j] && models[j].is_some_and(|m| std::ptr::eq(m, model))).collect();
        let mut values = Vec::with_capacity(same.len() * width);
        for &j in &same {
            values.extend_from_slice(&windows[j * width..(j + 1) * width]);
            done[j] = true;
        }
        for (&j, score) in same.iter().zip(model.score_windows(&values, same.len())) {
            raw[j] = score;
        }
    }
    raw
}

/// The top features of the window that ended at a reading, for its last row (the reading):
/// the same explanation `/compute` gives a row covered by this window alone.
fn explain(model: &Model, window: &[f64]) -> serde_json::Value {
    let features = &model.meta.features;
    let frame = model_core::Frame {
        columns: features.clone(),
        n_rows: window.len() / features.len().max(1),
        values: window.to_vec(),
    };
    let last = frame.n_rows.saturating_sub(1);
    let Some(rows) = model.explain(&frame, &[last], EVENT_FEATURES) else { return json!([]) };
    rows.into_iter()
        .flat_map(|r| r.features)
        .map(|f| {
            let name = features.get(f.feature).map_or("", String::as_str);
            // Null when the network overflowed on a value far out of range, as in /compute.
            let reconstructed = f.reconstructed.is_finite().then_some(f.reconstructed);
            json!({"name": name, "share": f.share, "observed": f.observed, "reconstructed": reconstructed})
        })
        .collect()
}
