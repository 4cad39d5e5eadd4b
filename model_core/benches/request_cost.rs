//! Where a large `/compute` request's library time goes: reading the CSV body into a frame
//! beside scoring it (scaling, windows, the network, per-feature error weights, aggregation),
//! for the serving benchmark's 10,000-row body of 32 features and a model of the default shape
//! (window 4, hidden 32-16-16-32). The share of scoring is what an ensemble of K networks would
//! multiply: docs/quality.md uses it to decide whether an ensemble fits in 1.5x of one model.
//! Then the per-feature explanation of the anomalous rows (1 % and 5 % of them, the threshold
//! set at that quantile of the body's scores) beside the request without it, and the drift
//! window's binning of every value of the request (docs/serving.md).
//!
//! Run: `cargo bench -p model_core --bench request_cost` (release). Prints medians of 51 runs.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write;
use std::time::Instant;

use model_core::data::{Columns, read_csv_bytes};
use model_core::features::PointAggregation;

fn body(rows: usize, features: &[String]) -> String {
    let mut state = 42u64;
    let mut csv = format!("timestamp,{}\n", features.join(","));
    for r in 0..rows {
        let _ = write!(csv, "{r}");
        for _ in features {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let value = ((state >> 11) as f64) / ((1u64 << 53) as f64) * 4.0 - 2.0;
            let _ = write!(csv, ",{value:.4}");
        }
        csv.push('\n');
    }
    csv
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let features: Vec<String> = (0..32).map(|i| format!("sensor_{i:02}")).collect();
    let names: Vec<&str> = features.iter().map(String::as_str).collect();
    // The defaults' scoring: mean aggregation and a per-feature error scale.
    let mut model = common::toy_model(&names, 4, vec![32, 16, 16, 32]);
    model.meta.point_aggregation = PointAggregation::Mean;
    model.meta.scoring.error_scale = (0..32).map(|i| 0.5 + i as f64 / 32.0).collect();
    let csv = body(10_000, &features);
    let (mut parse, mut score) = (Vec::new(), Vec::new());
    for _ in 0..51 {
        let start = Instant::now();
        let frame = match read_csv_bytes(csv.as_bytes(), "body", Columns::Named(&features)) {
            Ok(f) => f,
            Err(e) => panic!("the benchmark body reads: {e}"),
        };
        parse.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        std::hint::black_box(model.score_frame(&frame, "body").ok());
        score.push(start.elapsed().as_secs_f64());
    }
    let (p, s) = (median(parse), median(score));
    let frame = match read_csv_bytes(csv.as_bytes(), "body", Columns::Named(&features)) {
        Ok(f) => f,
        Err(e) => panic!("the benchmark body reads: {e}"),
    };
    let mut explain = Vec::new();
    for share in [0.01, 0.05] {
        let mut sorted = match model.score_frame(&frame, "body") {
            Ok(s) => s.scores,
            Err(e) => panic!("the benchmark body scores: {e}"),
        };
        sorted.sort_by(f32::total_cmp);
        model.meta.threshold.value = f64::from(sorted[((1.0 - share) * sorted.len() as f64) as usize]);
        let anomalies = match model.score_frame(&frame, "body") {
            Ok(s) => s.anomalies,
            Err(e) => panic!("the benchmark body scores: {e}"),
        };
        let times: Vec<f64> = (0..51)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(model.explain(&frame, &anomalies, 3));
                start.elapsed().as_secs_f64()
            })
            .collect();
        explain.push((share, anomalies.len(), median(times)));
    }
    println!("10,000 rows x 32 features on {}", cpu());
    println!("read the CSV body   {:8.3} ms", p * 1e3);
    println!("score (one model)   {:8.3} ms  ({:.0} % of the two)", s * 1e3, 100.0 * s / (p + s));
    // Drift tracking: each value of the request binned against the training deciles.
    model.meta.reference = model_core::drift::reference(&frame);
    let drift = median(
        (0..51)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(model_core::drift::bin_rows(&model.meta.reference, &frame.values));
                start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!("drift: bin the rows   {:8.3} ms  ({:.3}x the request without)", drift * 1e3, (p + s + drift) / (p + s));
    for (share, rows, e) in explain {
        println!(
            "explain {rows:>5} rows   {:8.3} ms  ({:.0} % anomalous: {:.3}x the request without)",
            e * 1e3,
            share * 100.0,
            (p + s + e) / (p + s)
        );
    }
    for k in [2, 3] {
        println!(
            "{k} networks (est.)   {:8.3} ms  ({:.2}x one model)",
            (p + k as f64 * s) * 1e3,
            (p + k as f64 * s) / (p + s)
        );
    }
}
