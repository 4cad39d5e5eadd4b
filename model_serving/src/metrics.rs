//! Prometheus metrics of the service, rendered as text exposition format on `/metrics`.
//!
//! One registry per running service (not the global default), so several servers in one test
//! process keep separate counts.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Latency buckets from 0.5 ms (a small CSV) to 30 s (the default request timeout).
const LATENCY_BUCKETS: [f64; 16] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    /// Time a CPU-bound job (scoring, a large JSON body, a task's plot) waited for a CPU slot.
    pub queue_wait: Histogram,
    /// Time the model took on one input (parsing and scoring, failures included).
    pub scoring_duration: Histogram,
    pub in_flight: IntGauge,
    /// Client connections open (at most MAX_CONNECTIONS).
    pub connections_open: IntGauge,
    pub rows_scored: IntCounter,
    pub anomalies_flagged: IntCounter,
    pub model_info: IntGaugeVec,
    /// Registry model swaps, by outcome (swapped, refused, error).
    pub model_reloads: IntCounterVec,
    /// Seconds since the followed alias was last checked (set when scraped).
    pub alias_check_age: Gauge,
    /// Bytes of MEMORY_BUDGET held by large requests and engine tasks (set when scraped).
    pub memory_reserved: IntGauge,
    pub task_queue_depth: IntGauge,
    pub tasks: IntCounterVec,
    pub callback_retries: IntCounter,
    pub task_duration: Histogram,
    pub engine_announces: IntCounterVec,
    /// Population stability index of the drift window against the training data, per feature
    /// (set when scraped).
    pub drift_psi: GaugeVec,
    /// Share of the drift window's values outside the training range, per feature.
    pub drift_out_of_range: GaugeVec,
    /// Rows in the drift window.
    pub drift_window_rows: IntGauge,
    /// Inputs offered to the shadow model, by outcome (scored, dropped, error).
    pub shadow_jobs: IntCounterVec,
    /// The shadow model's version (value always 1).
    pub shadow_model_info: IntGaugeVec,
    pub shadow_rows_scored: IntCounter,
    pub shadow_anomalies_flagged: IntCounter,
    /// Rows scored by both, by each model's flag: agreement is the diagonal.
    pub shadow_flags: IntCounterVec,
    /// Correlation of the two models' scores over the last input the shadow model scored.
    pub shadow_score_correlation: Gauge,
    /// When the served model was swapped in, Unix seconds.
    pub model_loaded: Gauge,
    /// The share of rows the served model's threshold flags on data like its held-out rows.
    pub expected_anomaly_rate: Gauge,
    /// Share of the drift window's rows above the threshold.
    pub window_anomaly_rate: Gauge,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("model_serving".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered, by route template, method and status code"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time from request to response, by route template")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let queue_wait = Histogram::with_opts(
            HistogramOpts::new(
                "queue_wait_seconds",
                "Time a CPU-bound job larger than 32 KiB waited for a CPU slot (smaller ones run inline, without waiting)",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let scoring_duration = Histogram::with_opts(
            HistogramOpts::new("scoring_duration_seconds", "Time to parse and score one input, failures included")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being handled right now")?;
        let connections_open =
            IntGauge::new("http_connections_open", "Client connections open right now (at most MAX_CONNECTIONS)")?;
        let rows_scored = IntCounter::new("rows_scored_total", "Input rows scored by the model")?;
        let anomalies_flagged = IntCounter::new("anomalies_flagged_total", "Scored rows above the model's threshold")?;
        let model_info = IntGaugeVec::new(
            Opts::new("model_info", "The loaded model (value is always 1)"),
            &["name", "version", "features", "window", "source"],
        )?;
        let model_reloads = IntCounterVec::new(
            Opts::new(
                "model_reloads_total",
                "New versions of the followed registry alias, by outcome (swapped: now served; refused: failed its \
                 checks, the old model keeps serving; error: the registry could not be read, tried again)",
            ),
            &["outcome"],
        )?;
        let alias_check_age = Gauge::new(
            "model_alias_check_age_seconds",
            "Seconds since the followed registry alias (MODEL_ALIAS) was last checked; absent when no alias is followed",
        )?;
        let memory_reserved = IntGauge::new(
            "memory_reserved_bytes",
            "Bytes of MEMORY_BUDGET held right now by large requests and engine tasks, until their last job ends",
        )?;
        let task_queue_depth = IntGauge::new("engine_task_queue_depth", "Engine tasks accepted and not yet finished")?;
        let tasks = IntCounterVec::new(
            Opts::new(
                "engine_tasks_total",
                "Engine tasks ended, by outcome (finished, error, rejected: queue full, refused: a host or ENGINE_URLS rule)",
            ),
            &["outcome"],
        )?;
        let callback_retries = IntCounter::new(
            "engine_callback_retries_total",
            "Task callbacks to the engine sent again after a failure",
        )?;
        let task_duration = Histogram::with_opts(
            HistogramOpts::new("engine_task_duration_seconds", "Time from accepting an engine task to its callback")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let engine_announces = IntCounterVec::new(
            Opts::new("engine_announces_total", "Announcements to an engine, by outcome"),
            &["outcome"],
        )?;
        let drift_psi = GaugeVec::new(
            Opts::new(
                "drift_psi",
                "Population stability index of the last DRIFT_WINDOW input rows against the model's training data, \
                 per feature (< 0.1 stable, > 0.25 shifted); per group for a model set (group empty for one model)",
            ),
            &["feature", "group"],
        )?;
        let drift_out_of_range = GaugeVec::new(
            Opts::new(
                "drift_out_of_range_ratio",
                "Share of the last DRIFT_WINDOW input rows whose value lies outside the training range, per feature; \
                 per group for a model set (group empty for one model)",
            ),
            &["feature", "group"],
        )?;
        let drift_window_rows = IntGauge::new(
            "drift_window_rows",
            "Input rows in the drift window (at most DRIFT_WINDOW; for a model set, all groups' windows together)",
        )?;
        let window_anomaly_rate = Gauge::new(
            "window_anomaly_rate",
            "Share of the last DRIFT_WINDOW input rows that scored above the threshold",
        )?;
        let model_loaded =
            Gauge::new("model_loaded_timestamp_seconds", "When the served model was swapped in, in Unix seconds")?;
        let expected_anomaly_rate = Gauge::new(
            "model_expected_anomaly_rate",
            "Share of rows the served model's threshold flags on data like its held-out training rows (1 - q for a \
             quantile threshold, the Cantelli bound 1 / (1 + k^2) for mean + k std, 0 for the maximum)",
        )?;
        let shadow_jobs = IntCounterVec::new(
            Opts::new(
                "shadow_jobs_total",
                "Inputs offered to the shadow model (SHADOW_MODEL_URI), by outcome (scored; dropped: SHADOW_QUEUE full or \
                 no shadow model yet; error)",
            ),
            &["outcome"],
        )?;
        let shadow_model_info =
            IntGaugeVec::new(Opts::new("shadow_model_info", "The shadow model (value is always 1)"), &["version"])?;
        let shadow_rows_scored = IntCounter::new("shadow_rows_scored_total", "Input rows scored by the shadow model")?;
        let shadow_anomalies_flagged =
            IntCounter::new("shadow_anomalies_flagged_total", "Rows the shadow model scored above its threshold")?;
        let shadow_flags = IntCounterVec::new(
            Opts::new(
                "shadow_flags_total",
                "Rows scored by both models, by the served model's flag and the shadow model's (anomalous or normal): \
                 agreement is where they are equal",
            ),
            &["served", "shadow"],
        )?;
        let shadow_score_correlation = Gauge::new(
            "shadow_score_correlation",
            "Pearson correlation of the served and shadow models' scores over the last input both scored",
        )?;
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(shadow_jobs.clone()),
            Box::new(shadow_model_info.clone()),
            Box::new(shadow_rows_scored.clone()),
            Box::new(shadow_anomalies_flagged.clone()),
            Box::new(shadow_flags.clone()),
            Box::new(shadow_score_correlation.clone()),
            Box::new(model_loaded.clone()),
            Box::new(expected_anomaly_rate.clone()),
            Box::new(drift_psi.clone()),
            Box::new(drift_out_of_range.clone()),
            Box::new(drift_window_rows.clone()),
            Box::new(window_anomaly_rate.clone()),
            Box::new(latency.clone()),
            Box::new(queue_wait.clone()),
            Box::new(scoring_duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(connections_open.clone()),
            Box::new(rows_scored.clone()),
            Box::new(anomalies_flagged.clone()),
            Box::new(model_info.clone()),
            Box::new(memory_reserved.clone()),
            Box::new(model_reloads.clone()),
            Box::new(task_queue_depth.clone()),
            Box::new(tasks.clone()),
            Box::new(callback_retries.clone()),
            Box::new(task_duration.clone()),
            Box::new(engine_announces.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Metrics {
            registry,
            requests,
            latency,
            queue_wait,
            scoring_duration,
            in_flight,
            connections_open,
            rows_scored,
            anomalies_flagged,
            model_info,
            model_reloads,
            alias_check_age,
            memory_reserved,
            task_queue_depth,
            tasks,
            callback_retries,
            task_duration,
            engine_announces,
            drift_psi,
            drift_out_of_range,
            drift_window_rows,
            window_anomaly_rate,
            model_loaded,
            expected_anomaly_rate,
            shadow_jobs,
            shadow_model_info,
            shadow_rows_scored,
            shadow_anomalies_flagged,
            shadow_flags,
            shadow_score_correlation,
        })
    }

    /// Registers metrics of a part that is not always on (streaming).
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// Registers the alias check age: only a service that follows an alias has it.
    pub fn follow_alias(&self) -> Result<(), prometheus::Error> {
        self.registry.register(Box::new(self.alias_check_age.clone()))
    }

    /// Sets the drift gauges from `report` (features of another model are dropped).
    pub fn set_drift(&self, report: &crate::drift::DriftReport) {
        self.drift_psi.reset();
        self.drift_out_of_range.reset();
        // A report that does not track drift has no features.
        let groups = report.groups.iter().flatten().map(|g| (g.group.as_str(), &g.features));
        for (group, features) in std::iter::once(("", &report.features)).chain(groups) {
            for f in features {
                self.drift_psi.with_label_values(&[f.name.as_str(), group]).set(f.psi);
                self.drift_out_of_range.with_label_values(&[f.name.as_str(), group]).set(f.out_of_range);
            }
        }
        self.drift_window_rows.set(i64::try_from(report.rows).unwrap_or(i64::MAX));
        self.window_anomaly_rate.set(report.anomaly_rate);
    }

    /// Text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on metric families that break the format's rules, which
        // the fixed set above never does.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// One more on a gauge while it lives: the count stays right however the thing counted ends
/// (a client that disconnects drops its request or connection future midway).
pub struct GaugeGuard(IntGauge);

impl GaugeGuard {
    pub fn up(gauge: &IntGauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
