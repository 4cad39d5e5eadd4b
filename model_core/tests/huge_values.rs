//! A finite input always gets a finite score, and a value far out of range is always an
//! anomaly. Before, a cell of about 1e20 (whose standardised square overflows f32) made every
//! row whose window covered it score 0.0 and count as normal.

mod common;

use model_core::features::PointAggregation;
use model_core::{Frame, Model};

const FEATURES: [&str; 3] = ["a", "b", "c"];

fn model(window: usize, aggregation: PointAggregation) -> Model {
    let mut m = common::toy_model(&FEATURES, window, vec![8, 4, 8]);
    m.meta.point_aggregation = aggregation;
    m
}

/// 40 ordinary rows, with `value` in column b of row 20.
fn frame(value: f64) -> Frame {
    let rows: Vec<Vec<f64>> = (0..40)
        .map(|i| {
            let x = f64::from(i) * 0.05;
            vec![1.0 + x.sin(), if i == 20 { value } else { 1.0 + x.cos() }, 1.0 + 0.5 * x.sin()]
        })
        .collect();
    let names: Vec<String> = FEATURES.iter().map(|s| s.to_string()).collect();
    Frame::from_rows(&rows, &names, "test rows").expect("frame")
}

#[test]
fn a_huge_finite_value_scores_finite_and_anomalous_in_every_window_it_touches() {
    for (window, aggregation) in [(1, PointAggregation::Max), (4, PointAggregation::Max), (4, PointAggregation::Mean)] {
        let model = model(window, aggregation);
        let clean = model.score_frame(&frame(1.0), "clean").expect("scores");
        for value in [1e18, 1e20, 1e30, 1e38, 1e300, -1e300, f64::MAX] {
            let case = format!("window {window} {aggregation:?}, value {value:e}");
            let scores = model.score_frame(&frame(value), "huge").expect("scores");
            assert!(scores.scores.iter().all(|s| s.is_finite()), "{case}: {:?}", scores.scores);
            let touched = 20usize.saturating_sub(window - 1)..=20 + (window - 1);
            for row in touched.clone() {
                assert!(
                    f64::from(scores.scores[row]) > scores.threshold,
                    "{case}: row {row} scores {} under the threshold {}",
                    scores.scores[row],
                    scores.threshold
                );
                assert!(scores.anomalies.contains(&row), "{case}: row {row} is not reported anomalous");
            }
            for row in (0..40).filter(|r| !touched.contains(r)) {
                assert_eq!(scores.scores[row], clean.scores[row], "{case}: row {row} is untouched");
            }
        }
    }
}

#[test]
fn the_same_through_the_csv_reader_and_as_json() {
    let model = model(4, PointAggregation::Max);
    let mut csv = String::from("a,b,c\n");
    for i in 0..10 {
        csv.push_str(if i == 5 { "1,1e30,1\n" } else { "1,1,1\n" });
    }
    let (_, scores) = model.score_csv(csv.as_bytes(), "request body").expect("scores");
    assert!(scores.anomalies.contains(&5), "{scores:?}");
    assert_eq!(scores.scores[5], f32::MAX, "an overflowing error is clamped to the largest finite score");
    let json = serde_json::to_string(&scores).expect("json");
    let back: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert!(back["scores"][5].as_f64().is_some_and(f64::is_finite), "{json}");
}

#[test]
fn a_model_with_non_finite_scaler_statistics_is_refused_naming_the_column() {
    let good = model(1, PointAggregation::Max);
    let weights: Vec<(Vec<f32>, Vec<f32>)> =
        good.network().expect("an autoencoder").layers().iter().map(|l| (l.weight.clone(), l.bias.clone())).collect();
    for (mean, std) in [(f64::INFINITY, 1.0), (0.0, f64::NAN), (0.0, 0.0)] {
        let mut meta = good.meta.clone();
        meta.scaler.mean[1] = mean;
        meta.scaler.std[1] = std;
        let err = Model::from_parts(meta, weights.clone()).expect_err("refused").to_string();
        assert!(err.contains("feature \"b\""), "{err}");
    }
}
