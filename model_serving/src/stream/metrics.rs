//! The streaming metrics (prefix `model_serving_stream_`), registered only when MQTT_URL is set.

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts};

use crate::metrics::Metrics;

/// Delay buckets from 50 µs to a minute: fine below a millisecond, where a stream that keeps
/// up scores a reading (a histogram quantile is only as precise as the bucket it falls in).
const DELAY_BUCKETS: [f64; 21] = [
    0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 1.0, 10.0, 60.0,
];

#[derive(Debug, Clone)]
pub struct StreamMetrics {
    /// Messages received, by outcome (ok, bad).
    pub messages: IntCounterVec,
    /// Readings, by outcome (scored, warming_up, late, no_room, other_partition).
    pub readings: IntCounterVec,
    /// Alert events published, by event (open, close).
    pub alerts: IntCounterVec,
    pub sources: IntGauge,
    /// 1 while connected to the broker.
    pub connected: IntGauge,
    pub reconnects: IntCounter,
    /// Seconds from a reading's arrival, or its time stamp, to its score.
    pub delay: HistogramVec,
}

impl StreamMetrics {
    pub fn new(metrics: &Metrics) -> Result<StreamMetrics, prometheus::Error> {
        let m = StreamMetrics {
            messages: IntCounterVec::new(
                Opts::new("stream_messages_total", "MQTT messages of readings received, by outcome (ok; bad: refused, reported on MQTT_ERROR_TOPIC)"),
                &["outcome"],
            )?,
            readings: IntCounterVec::new(
                Opts::new(
                    "stream_readings_total",
                    "Readings received, by outcome (scored; warming_up: a source's first window - 1; late: not after the \
                     source's last time stamp; no_room: MQTT_MAX_SOURCES reached; other_partition: another replica's source, \
                     MQTT_PARTITION; no_model: a source the served model set has no model for)",
                ),
                &["outcome"],
            )?,
            alerts: IntCounterVec::new(Opts::new("stream_alerts_total", "Alert events published, by event (open, close)"), &["event"])?,
            sources: IntGauge::new("stream_sources", "Sources whose window is kept")?,
            connected: IntGauge::new("stream_connected", "1 while connected to the MQTT broker, else 0")?,
            reconnects: IntCounter::new("stream_reconnects_total", "Connections to the MQTT broker after the first")?,
            delay: HistogramVec::new(
                HistogramOpts::new(
                    "stream_delay_seconds",
                    "Seconds to a reading's score from its message's arrival (from=arrival) or its time stamp (from=timestamp, when within a day of the clock)",
                )
                .buckets(DELAY_BUCKETS.to_vec()),
                &["from"],
            )?,
        };
        for c in [
            Box::new(m.messages.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.readings.clone()),
            Box::new(m.alerts.clone()),
            Box::new(m.sources.clone()),
            Box::new(m.connected.clone()),
            Box::new(m.reconnects.clone()),
            Box::new(m.delay.clone()),
        ] {
            metrics.register(c)?;
        }
        Ok(m)
    }
}
