//! Scoring in chunks of windows (so a large input's window matrix and activations are never
//! materialised at once) gives bit for bit the scores of the whole-input pipeline: standardise
//! everything, window everything, one forward pass, spread the window scores onto the rows.

mod common;

use model_core::features::{PointAggregation, inputs, scores_per_row};
use model_core::score::CHUNK_WINDOWS;
use model_core::{Frame, Model};

const FEATURES: [&str; 3] = ["a", "b", "c"];

fn frame(n: usize) -> Frame {
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let x = i as f64 * 0.037;
            // Spikes now and then so neighbouring windows differ and max/mean really aggregate.
            let spike = if i % 97 == 13 { 25.0 } else { 0.0 };
            vec![1.0 + x.sin() + spike, 1.0 + (3.0 * x).cos(), 0.5 * x.sin() * x.cos() - spike]
        })
        .collect();
    let names: Vec<String> = FEATURES.iter().map(|s| s.to_string()).collect();
    Frame::from_rows(&rows, &names, "rows").expect("frame")
}

/// The scores as computed before chunking: every window of the input in one matrix.
fn whole(model: &Model, frame: &Frame) -> Vec<f32> {
    let x = inputs(&model.meta.scaler, model.meta.window, frame, "rows", 1).expect("inputs");
    let window_scores = model.network.score(&x.values, x.n);
    scores_per_row(&window_scores, &x.starts, model.meta.window.length, frame.n_rows, model.meta.point_aggregation)
}

#[test]
fn chunked_scores_equal_whole_input_scores_bit_for_bit() {
    for (window, aggregation) in [
        (1, PointAggregation::Max),
        (4, PointAggregation::Max),
        (4, PointAggregation::Mean),
        (7, PointAggregation::Mean),
    ] {
        let mut model = common::toy_model(&FEATURES, window, vec![8, 4, 8]);
        model.meta.point_aggregation = aggregation;
        // Several chunks of 50 windows, with a remainder under sgemm's minimum batch (3), one
        // over it (20), and exact multiples; window overlaps cross every chunk boundary.
        for n in [window, window + 5, 200 + window - 1, 203 + window - 1, 220 + window - 1, 1000] {
            let frame = frame(n);
            let reference = whole(&model, &frame);
            for chunk in [1, 7, 50, CHUNK_WINDOWS, usize::MAX] {
                let case = format!("window {window} {aggregation:?}, {n} rows, chunks of {chunk}");
                let scores = model.score_frame_chunked(&frame, "rows", chunk).expect("scores");
                assert_eq!(scores.scores.len(), n, "{case}");
                let same = scores.scores.iter().zip(&reference).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{case}: {:?} != {:?}", scores.scores, reference);
                let expected: Vec<usize> = (0..n).filter(|&i| f64::from(reference[i]) > scores.threshold).collect();
                assert_eq!(scores.anomalies, expected, "{case}");
            }
        }
    }
}

#[test]
fn an_input_of_many_default_chunks_scores_as_one() {
    let model = common::toy_model(&FEATURES, 4, vec![8, 4, 8]);
    let frame = frame(3 * CHUNK_WINDOWS + 5);
    let scores = model.score_frame(&frame, "rows").expect("scores");
    let reference = whole(&model, &frame);
    assert!(scores.scores.iter().zip(&reference).all(|(a, b)| a.to_bits() == b.to_bits()));
}
