//! What a caller of the isolation forest relies on: seeded determinism, outliers scoring high,
//! lossless persistence through flat arrays, refusal of corrupt arrays, and odd training sets
//! (constant columns, a single row) that still fit and score.

use isolation_forest::{ForestArrays, ForestError, IsolationForest, IsolationForestConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` points of a standard 2-D Gaussian blob (Box-Muller), row-major.
fn blob(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .flat_map(|_| {
            let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            let r = (-2.0 * u.ln()).sqrt();
            let a = std::f64::consts::TAU * v;
            [(r * a.cos()) as f32, (r * a.sin()) as f32]
        })
        .collect()
}

fn config(seed: u64) -> IsolationForestConfig {
    IsolationForestConfig { n_estimators: 50, max_samples: 128, seed }
}

#[test]
fn same_seed_gives_identical_scores_and_another_seed_different_ones() {
    let x = blob(300, 1);
    let a = IsolationForest::fit(&x, 300, 2, &config(7)).unwrap();
    let b = IsolationForest::fit(&x, 300, 2, &config(7)).unwrap();
    let c = IsolationForest::fit(&x, 300, 2, &config(8)).unwrap();
    let (sa, sb, sc) = (a.score(&x, 300), b.score(&x, 300), c.score(&x, 300));
    assert_eq!(a.to_arrays(), b.to_arrays());
    assert_eq!(sa.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), sb.iter().map(|s| s.to_bits()).collect::<Vec<_>>());
    assert_ne!(sa, sc);
}

#[test]
fn an_obvious_outlier_scores_above_every_inlier() {
    let mut x = blob(500, 2);
    x.extend([6.0, -6.0]);
    let forest = IsolationForest::fit(&x, 501, 2, &config(0)).unwrap();
    let scores = forest.score(&x, 501);
    let outlier = scores[500];
    let max_inlier = scores[..500].iter().cloned().fold(f32::MIN, f32::max);
    assert!(outlier > max_inlier, "outlier {outlier} vs highest inlier {max_inlier}");
    assert!(outlier > 0.6, "outlier score {outlier}");
    assert!(scores.iter().all(|s| s.is_finite() && *s > 0.0 && *s <= 1.0));
}

#[test]
fn round_trip_through_arrays_scores_identically() {
    let x = blob(400, 3);
    let forest = IsolationForest::fit(&x, 400, 2, &config(5)).unwrap();
    let arrays = forest.to_arrays();
    assert_eq!(arrays.tree_offsets.len(), 51);
    assert_eq!(arrays.psi, 128);
    let back = IsolationForest::from_arrays(arrays.clone(), 2).unwrap();
    assert_eq!(back.to_arrays(), arrays);
    let probe = blob(1000, 4);
    assert_eq!(forest.score(&probe, 1000), back.score(&probe, 1000));
    assert_eq!((back.n_trees(), back.n_features(), back.psi()), (50, 2, 128));
}

/// The error `from_arrays` gives after `corrupt` edits the arrays of a small fitted forest.
fn corrupt_error(corrupt: impl FnOnce(&mut ForestArrays)) -> String {
    let x = blob(64, 5);
    let forest = IsolationForest::fit(&x, 64, 2, &config(1)).unwrap();
    let mut arrays = forest.to_arrays();
    corrupt(&mut arrays);
    match IsolationForest::from_arrays(arrays, 2) {
        Err(e @ ForestError::Corrupt(_)) => e.to_string(),
        other => panic!("expected a corrupt-arrays error, got {other:?}"),
    }
}

#[test]
fn corrupt_arrays_are_refused_with_an_error_naming_the_fault() {
    // The root's left child points back at the root: a cycle.
    let e = corrupt_error(|a| a.left[0] = 0);
    assert!(e.contains("tree 0 node 0") && e.contains("left child 0 is not after its parent"), "{e}");
    // A child outside its tree.
    let e = corrupt_error(|a| a.right[0] = 10_000);
    assert!(e.contains("right child 10000"), "{e}");
    // A feature the rows do not have.
    let e = corrupt_error(|a| a.feature[0] = 2);
    assert!(e.contains("feature 2 is not a column index below 2"), "{e}");
    let e = corrupt_error(|a| a.threshold[0] = f32::NAN);
    assert!(e.contains("threshold is NaN"), "{e}");
    let e = corrupt_error(|a| {
        a.samples.pop();
    });
    assert!(e.contains("`samples` has"), "{e}");
    let e = corrupt_error(|a| *a.tree_offsets.last_mut().unwrap() += 1);
    assert!(e.contains("`tree_offsets` ends at"), "{e}");
    let e = corrupt_error(|a| a.tree_offsets = vec![0]);
    assert!(e.contains("expected n_trees + 1 >= 2"), "{e}");
    let e = corrupt_error(|a| a.psi = 0);
    assert!(e.contains("psi is 0"), "{e}");
    // Two parents share a subtree: the root's right child becomes its left one.
    let e = corrupt_error(|a| a.right[0] = a.left[0]);
    assert!(e.contains("is the child of 2 nodes"), "{e}");
    // Sample counts that do not add up.
    let e = corrupt_error(|a| a.samples[0] += 1);
    assert!(e.contains("not the sum of its children"), "{e}");
    // The forest's feature count must match the rows it will score.
    let forest = IsolationForest::fit(&blob(64, 5), 64, 2, &config(1)).unwrap();
    let e = IsolationForest::from_arrays(forest.to_arrays(), 1).unwrap_err().to_string();
    assert!(e.contains("not a column index below 1"), "{e}");
}

#[test]
fn constant_columns_fit_and_score() {
    // Column 0 constant, column 1 varying with one outlier.
    let mut x: Vec<f32> = (0..200).flat_map(|i| [3.0, (i % 20) as f32 * 0.1]).collect();
    x.extend([3.0, 50.0]);
    let forest = IsolationForest::fit(&x, 201, 2, &config(2)).unwrap();
    let scores = forest.score(&x, 201);
    assert!(scores.iter().all(|s| s.is_finite()));
    assert!(scores[200] > scores[..200].iter().cloned().fold(f32::MIN, f32::max));
    // Every column constant: no tree can split, every row scores alike.
    let flat = vec![1.5f32; 40 * 3];
    let forest = IsolationForest::fit(&flat, 40, 3, &config(2)).unwrap();
    let scores = forest.score(&[1.5, 1.5, 1.5, 9.0, -9.0, 0.0], 2);
    assert!(scores[0].is_finite() && scores[0] == scores[1], "{scores:?}");
}

#[test]
fn a_single_training_row_fits_and_scores_like_sklearn() {
    let forest = IsolationForest::fit(&[1.0, 2.0], 1, 2, &IsolationForestConfig::default()).unwrap();
    assert_eq!(forest.psi(), 1);
    // sklearn: c(1) = 0 makes the normalised depth 1, so every score is 2^-1.
    assert_eq!(forest.score(&[1.0, 2.0, 100.0, -100.0], 2), vec![0.5, 0.5]);
    let back = IsolationForest::from_arrays(forest.to_arrays(), 2).unwrap();
    assert_eq!(back.score(&[0.0, 0.0], 1), vec![0.5]);
}

#[test]
fn a_row_scores_the_same_alone_or_in_any_batch() {
    let x = blob(300, 6);
    let forest = IsolationForest::fit(&x, 300, 2, &config(3)).unwrap();
    // 21 rows: two full interleaved blocks and a remainder walked row by row.
    let probe = blob(21, 7);
    let batch = forest.score(&probe, 21);
    let alone: Vec<f32> = probe.chunks(2).flat_map(|row| forest.score(row, 1)).collect();
    assert_eq!(batch, alone);
    // Non-finite values at scoring time still give finite scores.
    let odd = [f32::NAN, 0.0, f32::INFINITY, f32::NEG_INFINITY];
    assert!(forest.score(&odd, 2).iter().all(|s| s.is_finite()));
}
