//! The forest as flat arrays for a model file (one safetensors tensor per field), and the
//! validation that turns arrays read back from a possibly corrupt file into a forest.

use crate::flat::Flat;
use crate::tree::{LEAF, Node};

/// A forest as flat arrays, ready to be stored as tensors by the caller.
///
/// Nodes of all trees are concatenated; tree `t` owns nodes `tree_offsets[t]..tree_offsets[t+1]`,
/// its root first. Child indices are local to their tree and always greater than their
/// parent's. A leaf has `feature`, `left` and `right` equal to `-1`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestArrays {
    /// Per node: the column split on, or `-1` for a leaf.
    pub feature: Vec<i32>,
    /// Per node: a sample goes left when `x[feature] <= threshold` (`0.0` for a leaf).
    pub threshold: Vec<f32>,
    /// Per node: the left child's index within its tree, or `-1` for a leaf.
    pub left: Vec<i32>,
    /// Per node: the right child's index within its tree, or `-1` for a leaf.
    pub right: Vec<i32>,
    /// Per node: how many training samples of its tree's subsample reached it.
    pub samples: Vec<i32>,
    /// `n_trees + 1` offsets into the node arrays: `0`, then each tree's end.
    pub tree_offsets: Vec<i32>,
    /// The subsample size each tree was grown from (sklearn's `max_samples_`).
    pub psi: i32,
}

/// A forest's validated parts: nodes with absolute child indices, per-node sample counts, and
/// `n_trees + 1` node offsets.
pub(crate) struct Parts {
    pub nodes: Vec<Node>,
    pub samples: Vec<u32>,
    pub tree_offsets: Vec<usize>,
    pub psi: usize,
}

/// The arrays of a forest in the scoring layout. Fitting guarantees every count fits an `i32`.
pub(crate) fn to_arrays(flat: &Flat, psi: usize) -> ForestArrays {
    let n = flat.nodes.len();
    let mut a = ForestArrays {
        feature: Vec::with_capacity(n),
        threshold: Vec::with_capacity(n),
        left: Vec::with_capacity(n),
        right: Vec::with_capacity(n),
        samples: flat.samples.iter().map(|&s| s as i32).collect(),
        tree_offsets: flat.tree_offsets.iter().map(|&o| o as i32).collect(),
        psi: psi as i32,
    };
    for w in flat.tree_offsets.windows(2) {
        for (i, node) in flat.nodes[w[0]..w[1]].iter().enumerate() {
            if node.is_leaf(w[0] + i) {
                a.feature.push(-1);
                a.threshold.push(0.0);
                a.left.push(-1);
                a.right.push(-1);
            } else {
                let left = node.left as usize - w[0];
                a.feature.push(node.feature as i32);
                a.threshold.push(node.threshold);
                a.left.push(left as i32);
                a.right.push(left as i32 + 1);
            }
        }
    }
    a
}

/// Checks every invariant scoring relies on and converts to internal parts. The message of an
/// `Err` names the tree, node and field at fault.
pub(crate) fn from_arrays(a: ForestArrays, n_features: usize) -> Result<Parts, String> {
    if n_features == 0 {
        return Err("n_features is 0: a forest needs at least one feature column".into());
    }
    let n = a.feature.len();
    for (name, len) in [
        ("threshold", a.threshold.len()),
        ("left", a.left.len()),
        ("right", a.right.len()),
        ("samples", a.samples.len()),
    ] {
        if len != n {
            return Err(format!(
                "`{name}` has {len} entries but `feature` has {n}: every per-node array needs one per node"
            ));
        }
    }
    if a.psi < 1 {
        return Err(format!("psi is {}: expected at least 1", a.psi));
    }
    let psi = a.psi as usize;
    if a.tree_offsets.len() < 2 {
        return Err(format!("`tree_offsets` has {} entries: expected n_trees + 1 >= 2", a.tree_offsets.len()));
    }
    if a.tree_offsets[0] != 0 {
        return Err(format!("`tree_offsets[0]` is {}: expected 0", a.tree_offsets[0]));
    }
    let mut offsets = Vec::with_capacity(a.tree_offsets.len());
    offsets.push(0usize);
    for (t, w) in a.tree_offsets.windows(2).enumerate() {
        if w[1] <= w[0] {
            return Err(format!("`tree_offsets` {} then {}: tree {t} would have no nodes", w[0], w[1]));
        }
        offsets.push(w[1] as usize);
    }
    let last = offsets[offsets.len() - 1];
    if last != n {
        return Err(format!("`tree_offsets` ends at {last} but there are {n} nodes"));
    }

    let mut nodes = Vec::with_capacity(n);
    let mut parents = vec![0u8; n];
    for (t, w) in offsets.windows(2).enumerate() {
        let (base, m) = (w[0], w[1] - w[0]);
        for i in 0..m {
            let k = base + i;
            let at = || format!("tree {t} node {i} (array index {k})");
            let (feature, left, right) = (a.feature[k], a.left[k], a.right[k]);
            let threshold = a.threshold[k];
            if !threshold.is_finite() {
                return Err(format!("{}: threshold is {threshold}, expected a finite number", at()));
            }
            if feature == -1 {
                if left != -1 || right != -1 {
                    return Err(format!("{}: a leaf (feature -1) has children {left} and {right}, expected -1", at()));
                }
                if a.samples[k] < 1 || a.samples[k] as usize > psi {
                    return Err(format!("{}: leaf sample count {} outside 1..={psi}", at(), a.samples[k]));
                }
                nodes.push(Node { feature: LEAF, threshold: 0.0, left: LEAF, right: LEAF });
                continue;
            }
            if feature < 0 || feature as usize >= n_features {
                return Err(format!(
                    "{}: feature {feature} is not a column index below {n_features} (or -1 for a leaf)",
                    at()
                ));
            }
            for (side, child) in [("left", left), ("right", right)] {
                if child <= i as i32 || child as usize >= m {
                    return Err(format!(
                        "{}: {side} child {child} is not after its parent inside the tree's {m} nodes",
                        at()
                    ));
                }
                let c = base + child as usize;
                parents[c] = parents[c].saturating_add(1);
            }
            nodes.push(Node {
                feature: feature as u32,
                threshold,
                left: (base + left as usize) as u32,
                right: (base + right as usize) as u32,
            });
        }
        // Children after parents already rules out cycles; one parent per node rules out shared
        // subtrees, so every node has one depth.
        for i in 1..m {
            if parents[base + i] != 1 {
                return Err(format!(
                    "tree {t} node {i} (array index {}) is the child of {} nodes, expected exactly 1",
                    base + i,
                    parents[base + i]
                ));
            }
        }
        // Only now is the tree a tree, so each count can be checked against its children's.
        for i in 0..m {
            let node = nodes[base + i];
            if node.feature == LEAF {
                continue;
            }
            let count = i64::from(a.samples[base + i]);
            let sum = i64::from(a.samples[node.left as usize]) + i64::from(a.samples[node.right as usize]);
            if count != sum {
                return Err(format!(
                    "tree {t} node {i} (array index {}): sample count {count} is not the sum of its children's ({sum})",
                    base + i
                ));
            }
        }
        if a.samples[base] as usize > psi {
            return Err(format!("tree {t}: root sample count {} exceeds psi {psi}", a.samples[base]));
        }
    }
    let samples = a.samples.iter().map(|&s| s as u32).collect();
    Ok(Parts { nodes, samples, tree_offsets: offsets, psi })
}
