//! Scoring in chunks of windows (so a large input's window matrix and activations are never
//! materialised at once) gives bit for bit the scores of the whole-input pipeline: standardise
//! everything, window everything, one forward pass, per-feature error scale, trailing
//! smoothing, spread the window scores onto the rows.

mod common;

use model_core::features::{PointAggregation, inputs, scores_per_row};
use model_core::score::CHUNK_WINDOWS;
use model_core::{Frame, Model, Scoring};

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

/// The scoring definition written out once more, unchunked: every window of the input in one
/// matrix, one forward pass, each squared error divided by its feature's scale, the mean over
/// the window, the trailing mean over `smoothing` windows, spread onto the rows.
fn whole(model: &Model, frame: &Frame) -> Vec<f32> {
    let x = inputs(&model.meta.scaler, model.meta.window, frame, "rows", 1).expect("inputs");
    let y = model.network().expect("an autoencoder").reconstruct(&x.values, x.n);
    let d = FEATURES.len();
    let scale = &model.meta.scoring.error_scale;
    let window_scores: Vec<f32> = x
        .values
        .chunks_exact(x.dim)
        .zip(y.chunks_exact(x.dim))
        .map(|(xr, yr)| {
            let mut sum = 0.0f64;
            for (k, (a, b)) in xr.iter().zip(yr).enumerate() {
                let diff = f64::from(*a) - f64::from(*b);
                let weight = if scale.is_empty() { 1.0 } else { 1.0 / scale[k % d] };
                sum += diff * diff * weight;
            }
            (sum / x.dim as f64) as f32
        })
        .collect();
    let k = model.meta.scoring.smoothing;
    let smoothed: Vec<f32> = (0..window_scores.len())
        .map(|i| {
            let span = &window_scores[(i + 1).saturating_sub(k)..=i];
            (span.iter().map(|s| f64::from(*s)).sum::<f64>() / span.len() as f64) as f32
        })
        .collect();
    scores_per_row(&smoothed, &x.starts, model.meta.window.length, frame.n_rows, model.meta.point_aggregation)
}

#[test]
fn chunked_scores_equal_whole_input_scores_bit_for_bit() {
    let scaled = Scoring { error_scale: vec![0.5, 2.0, 0.01], smoothing: 5 };
    for (window, aggregation, scoring) in [
        (1, PointAggregation::Max, Scoring::default()),
        (4, PointAggregation::Max, Scoring::default()),
        (4, PointAggregation::Mean, Scoring::default()),
        (7, PointAggregation::Mean, Scoring::default()),
        (1, PointAggregation::Max, scaled.clone()),
        (4, PointAggregation::Max, scaled.clone()),
        (7, PointAggregation::Mean, scaled.clone()),
    ] {
        let mut model = common::toy_model(&FEATURES, window, vec![8, 4, 8]);
        model.meta.point_aggregation = aggregation;
        model.meta.scoring = scoring.clone();
        // Several chunks of 50 windows, with a remainder under sgemm's minimum batch (3), one
        // over it (20), and exact multiples; window overlaps cross every chunk boundary.
        for n in [window, window + 5, 200 + window - 1, 203 + window - 1, 220 + window - 1, 1000] {
            let frame = frame(n);
            let reference = whole(&model, &frame);
            for chunk in [1, 7, 50, CHUNK_WINDOWS, usize::MAX] {
                let case = format!("window {window} {aggregation:?} {scoring:?}, {n} rows, chunks of {chunk}");
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

/// A stream scores the window ending at each reading as it arrives, alone or batched with other
/// sources' windows, then smooths with the raw scores it kept: bit for bit the window scores of
/// the whole series.
#[test]
fn windows_scored_one_at_a_time_as_a_stream_does_equal_the_series_window_scores() {
    let scaled = Scoring { error_scale: vec![0.5, 2.0, 0.01], smoothing: 5 };
    for (window, scoring) in [(1, Scoring::default()), (4, Scoring::default()), (4, scaled.clone()), (7, scaled)] {
        let mut model = common::toy_model(&FEATURES, window, vec![8, 4, 8]);
        model.meta.scoring = scoring.clone();
        let frame = frame(120);
        let series = model.window_scores(&frame, "rows").expect("window scores");
        assert_eq!(series.len(), 120 - window + 1);
        let d = FEATURES.len();
        let k = scoring.smoothing.max(1);
        let mut raw = Vec::new();
        for end in window..=frame.n_rows {
            // One window alone, and the same window in a batch of three.
            let values = &frame.values[(end - window) * d..end * d];
            let alone = model.score_windows(values, 1);
            let batch: Vec<f64> = [values, &frame.values[..window * d], values].concat();
            let batched = model.score_windows(&batch, 3);
            assert_eq!(alone[0].to_bits(), batched[0].to_bits());
            assert_eq!(alone[0].to_bits(), batched[2].to_bits());
            raw.push(alone[0]);
            let smoothed = model_core::score::trailing_mean(&raw[raw.len().saturating_sub(k)..]);
            let i = end - window;
            assert_eq!(smoothed.to_bits(), series[i].to_bits(), "window {window} {scoring:?}, window {i}");
        }
    }
}

/// Batch scoring reads a table a few rows at a time and hands each row's score on as soon as it
/// is known: whatever the pieces, the scores are `score_frame`'s bit for bit, in row order.
#[test]
fn rows_scored_as_they_arrive_equal_the_whole_inputs_scores() {
    let scaled = Scoring { error_scale: vec![0.5, 2.0, 0.01], smoothing: 5 };
    for (window, aggregation, scoring) in [
        (1, PointAggregation::Max, Scoring::default()),
        (4, PointAggregation::Mean, scaled.clone()),
        (7, PointAggregation::Max, scaled),
    ] {
        let mut model = common::toy_model(&FEATURES, window, vec![8, 4, 8]);
        model.meta.point_aggregation = aggregation;
        model.meta.scoring = scoring.clone();
        for n in [window, window + 3, 2 * CHUNK_WINDOWS + 9, 3 * CHUNK_WINDOWS + window + 20] {
            let frame = frame(n);
            let whole = model.score_frame(&frame, "rows").expect("scores").scores;
            for piece in [1, 5, 333, 4096, usize::MAX] {
                let case = format!("window {window} {aggregation:?} {scoring:?}, {n} rows in pieces of {piece}");
                let mut scorer = model_core::score::RowScorer::new(&model);
                let mut got = Vec::with_capacity(n);
                let d = FEATURES.len();
                for rows in frame.values.chunks(piece.saturating_mul(d).min(frame.values.len())) {
                    scorer.push(rows, &mut |s| got.push(s));
                    assert!(got.len() * d <= frame.values.len(), "{case}");
                }
                assert_eq!(scorer.finish("rows", &mut |s| got.push(s)).expect("finish"), n, "{case}");
                assert_eq!(got.len(), n, "{case}");
                assert!(got.iter().zip(&whole).all(|(a, b)| a.to_bits() == b.to_bits()), "{case}");
            }
        }
    }
    let model = common::toy_model(&FEATURES, 4, vec![8, 4, 8]);
    let mut scorer = model_core::score::RowScorer::new(&model);
    scorer.push(&frame(3).values, &mut |_| panic!("no row of a short input is scored"));
    let err = scorer.finish("short.csv", &mut |_| {}).expect_err("fewer rows than a window");
    assert!(err.to_string().contains("short.csv"), "{err}");
}

/// A CSV read a few rows at a time gives `read_csv`'s values, and its errors name the same line.
#[test]
fn a_csv_read_in_pieces_gives_the_whole_reads_values_and_errors() {
    use model_core::data::{CsvRows, read_csv};
    let names: Vec<String> = ["b", "a"].iter().map(|s| s.to_string()).collect();
    let text: String =
        "a,b,c\r\n".to_string() + &(0..1000).map(|i| format!("{i}.5, {},x\r\n", i * 3)).collect::<String>();
    let whole = read_csv(text.as_bytes(), "t.csv", model_core::Columns::Named(&names)).expect("csv");
    let mut rows = CsvRows::new(text.as_bytes(), "t.csv", model_core::Columns::Named(&names)).expect("header");
    assert_eq!(rows.columns(), names);
    let mut values = Vec::new();
    let mut total = 0;
    loop {
        let n = rows.read(77, &mut values).expect("rows");
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!((total, &values), (whole.n_rows, &whole.values));
    let bad = text.replace("700.5", "seven");
    let whole_err = read_csv(bad.as_bytes(), "t.csv", model_core::Columns::Named(&names)).expect_err("bad cell");
    let mut rows = CsvRows::new(bad.as_bytes(), "t.csv", model_core::Columns::Named(&names)).expect("header");
    let mut values = Vec::new();
    let piece_err = loop {
        match rows.read(64, &mut values) {
            Ok(0) => panic!("the bad cell was read"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(piece_err.to_string(), whole_err.to_string());
    assert!(piece_err.to_string().contains("702"), "{piece_err}");
}
