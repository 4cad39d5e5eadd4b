//! Per-feature explanations: a row's shares sum to its score for every window length,
//! aggregation and smoothing, the reconstructed values are in the features' units, and the
//! features come largest share first.

mod common;

use model_core::features::PointAggregation;
use model_core::{Columns, Model};

fn csv(rows: usize) -> String {
    let mut out = String::from("a,b,c\n");
    for r in 0..rows {
        let t = r as f64;
        // A spike in "b" at row 20.
        let b = if r == 20 { 40.0 } else { (t * 0.3).cos() };
        out.push_str(&format!("{},{},{}\n", (t * 0.2).sin() * 3.0 + 1.0, b, 0.5 * t.sqrt()));
    }
    out
}

fn variants() -> Vec<(String, Model)> {
    let mut out = Vec::new();
    for window in [1, 4] {
        for aggregation in [PointAggregation::Max, PointAggregation::Mean] {
            for (scale, smoothing) in [(vec![], 1), (vec![0.5, 2.0, 1.0], 1), (vec![0.5, 2.0, 1.0], 3)] {
                let mut model = common::toy_model(&["a", "b", "c"], window, vec![6, 2, 6]);
                model.meta.point_aggregation = aggregation;
                model.meta.scoring.error_scale = scale.clone();
                model.meta.scoring.smoothing = smoothing;
                out.push((format!("window {window}, {aggregation:?}, scale {scale:?}, smoothing {smoothing}"), model));
            }
        }
    }
    out
}

#[test]
fn a_rows_shares_sum_to_its_score_for_every_window_aggregation_and_smoothing() {
    for (name, model) in variants() {
        let (frame, scores) = model.score_csv(csv(60).as_bytes(), "x").unwrap();
        let all: Vec<usize> = (0..frame.n_rows).collect();
        let explained = model.explain(&frame, &all, 3).unwrap();
        assert_eq!(explained.len(), 60, "{name}");
        for e in &explained {
            assert_eq!(e.features.len(), 3, "{name}");
            let sum: f64 = e.features.iter().map(|f| f.share).sum();
            let score = f64::from(scores.scores[e.row]);
            assert!((sum - score).abs() <= 1e-4 * score.abs().max(1e-6), "{name}: row {}: {sum} != {score}", e.row);
            assert!(e.features.windows(2).all(|p| p[0].share >= p[1].share), "{name}: not largest first");
            assert!(e.features.iter().all(|f| f.share >= 0.0), "{name}");
        }
        // The spike's row is explained by "b", with its observed value in the data's units.
        let spike = &explained[20].features[0];
        assert_eq!((spike.feature, spike.observed), (1, 40.0), "{name}");
        // Asking for a few rows gives the same as asking for all of them (up to rounding: few
        // windows go through the network's per-row loops, many through sgemm).
        let some = model.explain(&frame, &[3, 20, 59], 2).unwrap();
        for e in &some {
            for (a, b) in e.features.iter().zip(&explained[e.row].features[..2]) {
                assert_eq!((a.feature, a.observed), (b.feature, b.observed), "{name}");
                assert!((a.share - b.share).abs() <= 1e-5 * b.share.abs().max(1e-6), "{name}: {a:?} {b:?}");
                assert!((a.reconstructed - b.reconstructed).abs() <= 1e-4, "{name}: {a:?} {b:?}");
            }
        }
    }
}

#[test]
fn the_reconstructed_value_is_the_networks_output_in_the_features_units() {
    let model = common::toy_model(&["a", "b", "c"], 1, vec![6, 2, 6]);
    let frame =
        model_core::data::read_csv_bytes(csv(30).as_bytes(), "x", Columns::Named(&model.meta.features)).unwrap();
    let network = model.network().unwrap();
    let (m, s) = (&model.meta.scaler.mean, &model.meta.scaler.std);
    let x: Vec<f32> = frame.values[..3].iter().enumerate().map(|(f, v)| ((v - m[f]) / s[f]) as f32).collect();
    let y = network.reconstruct(&x, 1);
    let e = model.explain(&frame, &[0], 3).unwrap();
    for share in &e[0].features {
        let f = share.feature;
        let want = f64::from(y[f]) * s[f] + m[f];
        assert!((share.reconstructed - want).abs() < 1e-5, "{share:?} != {want}");
        assert_eq!(share.observed, frame.values[f]);
    }
}

#[test]
fn rows_out_of_range_are_skipped_and_top_is_capped_by_the_feature_count() {
    let model = common::toy_model(&["a", "b", "c"], 4, vec![6, 2, 6]);
    let (frame, _) = model.score_csv(csv(10).as_bytes(), "x").unwrap();
    let e = model.explain(&frame, &[9, 10, 500], 10).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].features.len(), 3);
}
