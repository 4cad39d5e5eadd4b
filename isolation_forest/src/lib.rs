//! Isolation Forest anomaly detection in pure Rust, following scikit-learn's `IsolationForest`
//! (sklearn 1.9): subsamples of `min(max_samples, n_rows)` rows drawn without replacement, trees
//! of random splits (a uniformly drawn non-constant feature, a uniform threshold between its
//! node minimum and maximum) down to `ceil(log2(psi))`, and the anomaly score
//! `2^(-E[h(x)] / c(psi))`, which equals sklearn's `-score_samples` (higher = more anomalous).
//!
//! Fitting is deterministic: the same seed and data give a bit-identical forest and scores. The
//! algorithm is sklearn's but the random generator is not (ChaCha8, one stream per tree), so
//! single scores differ from sklearn's while their distribution over seeds, and so the detection
//! quality (ROC-AUC), is the same; see `scripts/iforest_vs_sklearn.sh`.
//!
//! ```
//! use isolation_forest::{IsolationForest, IsolationForestConfig};
//! let x = [0.0f32, 0.1, 0.2, 0.1, 0.05, 0.15, 9.0]; // 7 rows x 1 feature
//! let config = IsolationForestConfig { n_estimators: 50, ..Default::default() };
//! let forest = IsolationForest::fit(&x, 7, 1, &config)?;
//! let scores = forest.score(&x, 7);
//! assert!(scores[6] > scores[0]);
//! # Ok::<(), isolation_forest::ForestError>(())
//! ```

mod arrays;
mod flat;
mod tree;

pub use arrays::ForestArrays;
use flat::Flat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tree::{Arena, Node, average_path_length, grow_tree};

/// How to fit a forest. Missing fields take their defaults when deserialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IsolationForestConfig {
    /// Number of trees (sklearn default 100).
    pub n_estimators: usize,
    /// Rows per tree; fitting uses `min(max_samples, n_rows)` (sklearn's `"auto"` is 256).
    pub max_samples: usize,
    /// Seed of the random streams; the same seed and data give the same forest.
    pub seed: u64,
}

impl Default for IsolationForestConfig {
    fn default() -> Self {
        IsolationForestConfig { n_estimators: 100, max_samples: 256, seed: 0 }
    }
}

/// Why a forest could not be fitted or rebuilt from arrays.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForestError {
    #[error("the training set has no rows")]
    NoRows,
    #[error("the training set has no feature columns")]
    NoFeatures,
    #[error("the training data has {actual} values, expected {n_rows} rows x {n_features} columns")]
    Shape { actual: usize, n_rows: usize, n_features: usize },
    #[error("training value at row {row}, column {column} (0-based) is {value}: expected a finite number")]
    NonFinite { row: usize, column: usize, value: f32 },
    #[error("invalid isolation forest config: {0}")]
    Config(String),
    #[error("corrupt isolation forest arrays: {0}")]
    Corrupt(String),
}

/// A fitted forest. Trees live in one flat node arena laid out for branch-free walks, so
/// scoring is a tight loop.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    n_features: usize,
    psi: usize,
    flat: Flat,
}

impl IsolationForest {
    /// Fits a forest to `n_rows` rows of `n_features` values, row-major in `x`.
    ///
    /// Errors for an empty set, a length that is not `n_rows * n_features`, a non-finite value
    /// (naming its row and column), or a config with no trees or `max_samples == 0`.
    pub fn fit(
        x: &[f32],
        n_rows: usize,
        n_features: usize,
        config: &IsolationForestConfig,
    ) -> Result<IsolationForest, ForestError> {
        if n_rows == 0 {
            return Err(ForestError::NoRows);
        }
        if n_features == 0 {
            return Err(ForestError::NoFeatures);
        }
        if n_rows.checked_mul(n_features) != Some(x.len()) {
            return Err(ForestError::Shape { actual: x.len(), n_rows, n_features });
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(ForestError::NonFinite { row: i / n_features, column: i % n_features, value: x[i] });
        }
        if config.n_estimators == 0 {
            return Err(ForestError::Config("n_estimators is 0: expected at least one tree".into()));
        }
        if config.max_samples == 0 {
            return Err(ForestError::Config("max_samples is 0: expected at least one row per tree".into()));
        }
        let psi = config.max_samples.min(n_rows);
        // A tree has at most 2 psi - 1 nodes; ForestArrays indexes them with i32.
        let max_nodes = (2 * psi as u128 - 1) * config.n_estimators as u128;
        if max_nodes > i32::MAX as u128 {
            return Err(ForestError::Config(format!(
                "{} trees of {psi} samples could need {max_nodes} nodes, more than a model file's i32 indices hold",
                config.n_estimators
            )));
        }
        let max_depth = (psi.max(2) as f64).log2().ceil() as u32;

        let mut nodes = Vec::new();
        let mut samples = Vec::new();
        let mut tree_offsets = vec![0];
        for t in 0..config.n_estimators {
            // One stream per tree: a tree depends only on (seed, its index, data).
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(t as u64);
            let mut rows = rand::seq::index::sample(&mut rng, n_rows, psi).into_vec();
            grow_tree(
                x,
                n_features,
                &mut rows,
                max_depth,
                &mut rng,
                Arena { nodes: &mut nodes, samples: &mut samples },
            );
            tree_offsets.push(nodes.len());
        }
        Ok(Self::from_parts(n_features, psi, nodes, samples, tree_offsets))
    }

    /// Builds the scoring layout from trees whose children all come after their parent (fit and
    /// `from_arrays` guarantee it).
    fn from_parts(
        n_features: usize,
        psi: usize,
        nodes: Vec<Node>,
        samples: Vec<u32>,
        tree_offsets: Vec<usize>,
    ) -> IsolationForest {
        IsolationForest { n_features, psi, flat: flat::compile(&nodes, &samples, &tree_offsets) }
    }

    /// Anomaly scores of `n_rows` rows, row-major in `x`, each in `(0, 1]`: higher is more
    /// anomalous, `0.5` and below is typical (sklearn's `-score_samples`).
    ///
    /// A NaN value follows the left branch; scores are always finite.
    ///
    /// # Panics
    /// If `x.len() != n_rows * self.n_features()`: the caller shapes the batch.
    pub fn score(&self, x: &[f32], n_rows: usize) -> Vec<f32> {
        let nf = self.n_features;
        assert_eq!(Some(x.len()), n_rows.checked_mul(nf), "score: x must hold n_rows * n_features values");
        let denominator = self.n_trees() as f64 * average_path_length(self.psi as u64);
        self.flat
            .path_sums(x, nf)
            .into_iter()
            .map(|sum| {
                // sklearn: a zero denominator (psi = 1) makes the ratio 1.
                let ratio = if denominator > 0.0 { sum / denominator } else { 1.0 };
                (-ratio).exp2() as f32
            })
            .collect()
    }

    /// The number of feature columns the forest was fitted on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The number of trees.
    pub fn n_trees(&self) -> usize {
        self.flat.tree_depth.len()
    }

    /// The subsample size each tree was grown from (sklearn's `max_samples_`).
    pub fn psi(&self) -> usize {
        self.psi
    }

    /// The forest as flat arrays for a model file.
    pub fn to_arrays(&self) -> ForestArrays {
        arrays::to_arrays(&self.flat, self.psi)
    }

    /// Rebuilds a forest from arrays (as read from a model file, which may be corrupt) for
    /// rows of `n_features` columns. Validates lengths, offsets, feature indices, thresholds,
    /// child links (inside the tree, after the parent, one parent each) and sample counts; the
    /// error names the tree, node and field at fault.
    pub fn from_arrays(arrays: ForestArrays, n_features: usize) -> Result<IsolationForest, ForestError> {
        let parts = arrays::from_arrays(arrays, n_features).map_err(ForestError::Corrupt)?;
        Ok(Self::from_parts(n_features, parts.psi, parts.nodes, parts.samples, parts.tree_offsets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(x: &[f32], n_rows: usize, n_features: usize, seed: u64) -> IsolationForest {
        let config = IsolationForestConfig { n_estimators: 20, max_samples: 64, seed };
        IsolationForest::fit(x, n_rows, n_features, &config).unwrap()
    }

    #[test]
    fn trees_respect_the_depth_limit_and_count_every_subsample_row() {
        // 300 distinct values, so no two rows are equal and only the depth limit stops a split.
        let x: Vec<f32> = (0..300).map(|i| ((i * 37) % 1009) as f32).collect();
        let forest = fit(&x, 150, 2, 1);
        assert_eq!(forest.psi(), 64);
        let max_depth = 6; // ceil(log2(64))
        let f = &forest.flat;
        for (t, w) in f.tree_offsets.windows(2).enumerate() {
            assert_eq!(f.samples[w[0]], 64);
            let leaves: Vec<usize> = (w[0]..w[1]).filter(|&i| f.nodes[i].is_leaf(i)).collect();
            assert_eq!(leaves.iter().map(|&i| f.samples[i]).sum::<u32>(), 64);
            assert!(f.tree_depth[t] <= max_depth);
            for i in leaves {
                let depth = (f.leaf_path[i] - average_path_length(u64::from(f.samples[i]))).round();
                assert!(depth <= f64::from(f.tree_depth[t]));
                assert!(
                    f.samples[i] == 1 || depth == f64::from(max_depth),
                    "leaf {i}: {} samples at depth {depth}",
                    f.samples[i]
                );
            }
        }
    }

    #[test]
    fn fit_errors_name_the_problem() {
        let config = IsolationForestConfig::default();
        assert_eq!(IsolationForest::fit(&[], 0, 2, &config), Err(ForestError::NoRows));
        assert_eq!(IsolationForest::fit(&[], 2, 0, &config), Err(ForestError::NoFeatures));
        assert_eq!(
            IsolationForest::fit(&[1.0; 5], 2, 3, &config),
            Err(ForestError::Shape { actual: 5, n_rows: 2, n_features: 3 })
        );
        let err = IsolationForest::fit(&[1.0, 2.0, 3.0, f32::NAN], 2, 2, &config).unwrap_err();
        assert_eq!(err.to_string(), "training value at row 1, column 1 (0-based) is NaN: expected a finite number");
        let zero = IsolationForestConfig { n_estimators: 0, ..config };
        assert!(matches!(IsolationForest::fit(&[1.0], 1, 1, &zero), Err(ForestError::Config(_))));
    }

    #[test]
    fn config_defaults_fill_missing_fields() {
        // `{seed: 7}` through serde's in-memory deserializer, so the test needs no format crate.
        use serde::de::value::{Error, MapDeserializer};
        let map = MapDeserializer::<_, Error>::new(std::iter::once(("seed", 7u64)));
        let config = IsolationForestConfig::deserialize(map).unwrap();
        assert_eq!(config, IsolationForestConfig { n_estimators: 100, max_samples: 256, seed: 7 });
    }
}
