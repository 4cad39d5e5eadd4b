//! Drift references: the training deciles and their shares, the population stability index
//! reading training-like input as stable and a shifted feature as shifted, and the reference
//! stored in the model (checked on load; absent in older models).

mod common;

use model_core::Frame;
use model_core::drift::{DRIFT_BINS, OUTSIDE, bin_rows, psi, reading, reference};

/// `n` rows of two features: a smooth pseudo-random value in [0, 10) and a discrete one.
fn frame(n: usize, seed: u64, shift: f64) -> Frame {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let values = (0..n).flat_map(|_| [next() * 10.0 + shift, (next() * 3.0).floor()]).collect();
    Frame { columns: vec!["a".into(), "b".into()], n_rows: n, values }
}

/// The bin shares of `frame`'s column `j` against reference `r`.
fn shares(r: &model_core::drift::FeatureReference, frame: &Frame, j: usize) -> Vec<f64> {
    let mut counts = [0.0; DRIFT_BINS];
    for v in frame.column(j) {
        counts[r.bin(v)] += 1.0;
    }
    counts.iter().map(|c| c / frame.n_rows as f64).collect()
}

#[test]
fn deciles_split_the_training_rows_in_tenths_and_repeated_values_keep_their_weight() {
    let refs = reference(&frame(5000, 1, 0.0));
    let a = &refs[0];
    assert_eq!(a.edges.len(), 9);
    assert!(a.shares.iter().all(|s| (s - 0.1).abs() < 0.002), "{:?}", a.shares);
    assert!(a.min >= 0.0 && a.max < 10.0);
    // Three distinct values: their shares sit in three bins and still sum to 1.
    let b = &refs[1];
    assert_eq!(b.shares.iter().filter(|s| **s > 0.0).count(), 3, "{:?}", b.shares);
    assert!((b.shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

#[test]
fn training_like_input_reads_stable_and_a_shifted_feature_reads_shifted() {
    let refs = reference(&frame(5000, 1, 0.0));
    let same = frame(2000, 2, 0.0);
    for (j, r) in refs.iter().enumerate() {
        let value = psi(&r.shares, &shares(r, &same, j));
        assert!(value < 0.1, "feature {j}: PSI {value} on training-like input");
        assert_eq!(reading(value), "stable");
    }
    let shifted = frame(2000, 2, 3.0);
    let value = psi(&refs[0].shares, &shares(&refs[0], &shifted, 0));
    assert!(value > 0.25, "PSI {value} after a shift of 30 % of the range");
    assert_eq!(reading(value), "shifted");
    let outside = shifted.column(0).iter().filter(|v| refs[0].out_of_range(**v)).count() as f64 / 2000.0;
    assert!((outside - 0.3).abs() < 0.05, "{outside} of the shifted values are above the training maximum");
}

#[test]
fn the_reference_is_stored_in_the_model_and_checked_on_load() {
    let mut model = common::toy_model(&["a", "b"], 1, vec![4, 2, 4]);
    model.meta.reference = reference(&frame(500, 1, 0.0));
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = model_core::Model::load(dir.path()).unwrap();
    // serde_json reads floats back within an ulp.
    for (a, b) in loaded.meta.reference.iter().zip(&model.meta.reference) {
        let close = |x: &[f64], y: &[f64]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| (p - q).abs() <= 1e-12);
        assert!(close(&a.edges, &b.edges) && close(&a.shares, &b.shares) && close(&[a.min, a.max], &[b.min, b.max]));
    }
    assert_eq!(loaded.meta.reference.len(), 2);

    // A reference of the wrong shape is refused, naming the feature.
    let path = dir.path().join(model_core::artifact::METADATA_FILE);
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["reference"][1]["edges"] = serde_json::json!([1.0, 0.0]);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = model_core::Model::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("reference of feature \"b\""), "{err}");
}

#[test]
fn a_row_at_a_time_binning_gives_each_value_its_bin_and_the_outside_mark() {
    // Ten features: a whole block of eight binned side by side, and two past it one by one.
    let wide = |n: usize, seed: u64, shift: f64| {
        let (a, b) = (frame(n, seed, shift), frame(n, seed + 1, -shift));
        let mut values = Vec::with_capacity(n * 10);
        for r in 0..n {
            values.extend((0..10).map(|j| [a.values[2 * r], b.values[2 * r + 1]][j % 2] + j as f64));
        }
        Frame { columns: (0..10).map(|j| format!("f{j}")).collect(), n_rows: n, values }
    };
    let refs = reference(&wide(3000, 1, 0.0));
    // Shifted values run past the maximum; the edges themselves, the extremes, infinities and
    // NaN are each placed as `bin` and `out_of_range` place them one by one.
    let mut values = wide(500, 7, 1.5).values;
    for k in 0..9 {
        values.extend(refs.iter().map(|r| r.edges[k]));
    }
    values.extend(refs.iter().map(|r| r.min));
    values.extend(refs.iter().map(|r| r.max));
    let odd = [f64::NEG_INFINITY, f64::INFINITY, f64::NAN, -0.0, 1e300, -1e300, 0.5, 2.5, 7.0, 11.0];
    for shift in 0..10 {
        values.extend((0..10).map(|j| odd[(j + shift) % 10]));
    }
    let bytes = bin_rows(&refs, &values);
    assert_eq!(bytes.len(), values.len());
    for (i, (b, v)) in bytes.iter().zip(&values).enumerate() {
        let r = &refs[i % 10];
        let expected = r.bin(*v) as u8 | if r.out_of_range(*v) { OUTSIDE } else { 0 };
        assert_eq!(*b, expected, "value {i} ({v}) of feature {}", i % 10);
    }
    assert!(bytes.iter().any(|b| b & OUTSIDE != 0) && bytes.iter().any(|b| b & !OUTSIDE == 9));
    assert!(bytes.contains(&0), "the first bin too");
}
