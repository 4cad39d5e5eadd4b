//! Each source's window of its last readings, in time-stamp order, and its alert state. A
//! reading's streaming score is the score of the window that ends at it (no look-ahead), smoothed
//! over the source's previous windows as the model says; a source's first window - 1 readings
//! warm it up. An alert opens when a score crosses the threshold and closes after
//! MQTT_ALERT_CLEAR consecutive normal readings: a long anomaly is one open and one close event.
//! Memory is bounded: idle sources are forgotten after MQTT_SOURCE_TTL, and at most
//! MQTT_MAX_SOURCES are kept. Knows nothing of MQTT.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::message::Reading;

/// The model shape the windows are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Readings per window.
    pub window: usize,
    pub features: usize,
    /// Window scores averaged into one (1 = none).
    pub smoothing: usize,
}

/// Limits of [`Sources`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub alert_clear: usize,
    pub ttl: Duration,
    pub max_sources: usize,
}

/// What became of a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Its window (ending at it) was appended to the batch; score it.
    Window,
    /// One of the source's first window - 1 readings: no score yet.
    WarmingUp,
    /// Not after the source's last time stamp: dropped.
    Late,
    /// A new source while MQTT_MAX_SOURCES are kept: dropped.
    NoRoom,
}

/// An alert event of one source.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertEvent {
    Open,
    /// With the largest score while it was open.
    Close {
        peak: f32,
    },
}

#[derive(Debug)]
struct Source {
    last_ts: f64,
    /// The last `window` readings' values, oldest first.
    values: VecDeque<f64>,
    readings: usize,
    /// The last `smoothing` raw window scores, oldest first.
    raw: VecDeque<f32>,
    open: bool,
    peak: f32,
    normal_run: usize,
    seen: Instant,
}

/// Every source's window and alert state.
#[derive(Debug)]
pub struct Sources {
    shape: Shape,
    limits: Limits,
    map: HashMap<String, Source>,
}

impl Sources {
    pub fn new(shape: Shape, limits: Limits) -> Sources {
        Sources { shape, limits, map: HashMap::new() }
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Takes `reading` into its source's window; when that completes a window, its values
    /// (window × features, oldest reading first) are appended to `batch`.
    pub fn admit(&mut self, reading: &Reading, now: Instant, batch: &mut Vec<f64>) -> Admitted {
        let Shape { window, features, .. } = self.shape;
        if !self.map.contains_key(&reading.source) {
            if self.map.len() >= self.limits.max_sources {
                return Admitted::NoRoom;
            }
            let source = Source {
                last_ts: f64::NEG_INFINITY,
                values: VecDeque::with_capacity(window * features),
                readings: 0,
                raw: VecDeque::new(),
                open: false,
                peak: 0.0,
                normal_run: 0,
                seen: now,
            };
            self.map.insert(reading.source.clone(), source);
        }
        let Some(source) = self.map.get_mut(&reading.source) else { return Admitted::NoRoom };
        source.seen = now;
        if reading.ts <= source.last_ts {
            return Admitted::Late;
        }
        source.last_ts = reading.ts;
        if source.values.len() == window * features {
            source.values.drain(..features);
        }
        source.values.extend(&reading.values);
        source.readings += 1;
        if source.readings < window {
            return Admitted::WarmingUp;
        }
        batch.extend(&source.values);
        Admitted::Window
    }

    /// The raw score of the window that ended at `source`'s reading: its streaming score
    /// (smoothed as the model says) and the alert event it causes, if any. Windows of one
    /// source must come in the order they were admitted.
    pub fn scored(&mut self, source: &str, raw: f32, threshold: f64) -> (f32, Option<AlertEvent>) {
        let smoothing = self.shape.smoothing.max(1);
        let clear = self.limits.alert_clear;
        let Some(s) = self.map.get_mut(source) else { return (raw, None) };
        if s.raw.len() == smoothing {
            s.raw.pop_front();
        }
        s.raw.push_back(raw);
        // In place (no copy per reading): at most `smoothing` scores to move, and only when the
        // ring has wrapped.
        let score = model_core::score::trailing_mean(s.raw.make_contiguous());
        let above = f64::from(score) > threshold;
        let event = if above {
            s.normal_run = 0;
            if s.open {
                s.peak = s.peak.max(score);
                None
            } else {
                s.open = true;
                s.peak = score;
                Some(AlertEvent::Open)
            }
        } else if s.open {
            s.normal_run += 1;
            (s.normal_run >= clear).then(|| {
                s.open = false;
                s.normal_run = 0;
                AlertEvent::Close { peak: s.peak }
            })
        } else {
            None
        };
        (score, event)
    }

    /// Forgets the sources silent for longer than MQTT_SOURCE_TTL; how many.
    pub fn forget_idle(&mut self, now: Instant) -> usize {
        let before = self.map.len();
        let ttl = self.limits.ttl;
        self.map.retain(|_, s| now.saturating_duration_since(s.seen) <= ttl);
        before - self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(source: &str, ts: f64, v: f64) -> Reading {
        Reading { source: source.into(), ts, values: vec![v, -v] }
    }

    fn sources(window: usize, smoothing: usize) -> Sources {
        Sources::new(
            Shape { window, features: 2, smoothing },
            Limits { alert_clear: 3, ttl: Duration::from_secs(60), max_sources: 2 },
        )
    }

    #[test]
    fn a_window_ends_at_each_reading_after_warming_up_and_late_readings_are_dropped() {
        let mut s = sources(3, 1);
        let now = Instant::now();
        let mut batch = Vec::new();
        assert_eq!(s.admit(&reading("a", 1.0, 1.0), now, &mut batch), Admitted::WarmingUp);
        assert_eq!(s.admit(&reading("a", 2.0, 2.0), now, &mut batch), Admitted::WarmingUp);
        assert_eq!(s.admit(&reading("a", 2.0, 9.0), now, &mut batch), Admitted::Late);
        assert_eq!(s.admit(&reading("a", 1.5, 9.0), now, &mut batch), Admitted::Late);
        assert_eq!(s.admit(&reading("a", 3.0, 3.0), now, &mut batch), Admitted::Window);
        assert_eq!(s.admit(&reading("a", 4.0, 4.0), now, &mut batch), Admitted::Window);
        assert_eq!(batch, vec![1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0]);
        // Sources are apart, and capped.
        assert_eq!(s.admit(&reading("b", 1.0, 1.0), now, &mut batch), Admitted::WarmingUp);
        assert_eq!(s.admit(&reading("c", 1.0, 1.0), now, &mut batch), Admitted::NoRoom);
        assert_eq!(s.forget_idle(now + Duration::from_secs(61)), 2);
        assert!(s.is_empty());
    }

    #[test]
    fn an_alert_opens_once_and_closes_after_enough_normal_readings() {
        let mut s = sources(1, 1);
        let mut batch = Vec::new();
        s.admit(&reading("a", 1.0, 0.0), Instant::now(), &mut batch);
        let events: Vec<Option<AlertEvent>> =
            [0.1, 2.0, 3.0, 0.1, 2.5, 0.1, 0.1, 0.1, 0.1].iter().map(|raw| s.scored("a", *raw, 1.0).1).collect();
        assert_eq!(
            events,
            vec![
                None,
                Some(AlertEvent::Open),
                None,
                None,
                None,
                None,
                None,
                Some(AlertEvent::Close { peak: 3.0 }),
                None
            ]
        );
    }

    #[test]
    fn scores_are_smoothed_over_the_sources_previous_windows() {
        let mut s = sources(1, 2);
        s.admit(&reading("a", 1.0, 0.0), Instant::now(), &mut Vec::new());
        assert_eq!(s.scored("a", 1.0, 10.0).0, 1.0);
        assert_eq!(s.scored("a", 3.0, 10.0).0, 2.0);
        assert_eq!(s.scored("a", 5.0, 10.0).0, 4.0);
    }
}
