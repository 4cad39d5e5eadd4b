//! One isolation tree: its nodes as grown (or read back from arrays) and how it grows from a
//! subsample, following scikit-learn's `ExtraTreeRegressor(max_features=1, splitter="random")`
//! as `IsolationForest` uses it (`sklearn/tree/_splitter.pyx::node_split_random` and the
//! depth-first builder of `_tree.pyx`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// `feature` of a leaf node.
pub(crate) const LEAF: u32 = u32::MAX;

/// scikit-learn's `FEATURE_THRESHOLD`: a feature whose node range is at most this (in `f32`
/// arithmetic, as sklearn compares) counts as constant there and is never split on.
const FEATURE_THRESHOLD: f32 = 1e-7;

/// One node of a tree as grown or read from arrays, before `flat::compile` lays it out for
/// scoring. Children are absolute arena indices; a sample goes left when `x[feature] <= threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Node {
    pub feature: u32,
    pub threshold: f32,
    pub left: u32,
    pub right: u32,
}

impl Node {
    fn leaf() -> Self {
        Node { feature: LEAF, threshold: 0.0, left: LEAF, right: LEAF }
    }
}

/// sklearn's `_average_path_length`: the expected path length of an unsuccessful search in a
/// binary search tree of `n` keys, i.e. how much deeper an unbuilt subtree of `n` samples would
/// have gone on average.
pub(crate) fn average_path_length(n: u64) -> f64 {
    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// The largest `f32` that is `<= t`. Used to store sklearn's `f64` threshold as `f32` without
/// changing any decision: for every `f32` value `v`, `v <= t` exactly when `v <= round_down(t)`.
fn round_down_to_f32(t: f64) -> f32 {
    let r = t as f32;
    if f64::from(r) > t { r.next_down() } else { r }
}

/// Where a tree's nodes go while it grows: appended to the forest's arena, with each node's
/// training sample count alongside.
pub(crate) struct Arena<'a> {
    pub nodes: &'a mut Vec<Node>,
    pub samples: &'a mut Vec<u32>,
}

/// A node waiting to be split or made a leaf.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: u32,
    /// Features not yet known to be constant in this node (constant in a parent means constant
    /// in the child, so they are never looked at again, as sklearn's splitter does).
    candidates: Vec<u32>,
}

/// Grows one tree over the training rows `rows` (indices into row-major `x`) and appends its
/// nodes to `arena`, root first and every child after its parent.
pub(crate) fn grow_tree(
    x: &[f32],
    n_features: usize,
    rows: &mut [usize],
    max_depth: u32,
    rng: &mut ChaCha8Rng,
    arena: Arena<'_>,
) {
    let value = |row: usize, feature: u32| x[row * n_features + feature as usize];
    let root = arena.nodes.len();
    arena.nodes.push(Node::leaf());
    arena.samples.push(rows.len() as u32);
    let mut stack =
        vec![Pending { node: root, start: 0, end: rows.len(), depth: 0, candidates: (0..n_features as u32).collect() }];
    while let Some(mut p) = stack.pop() {
        let node_rows = &mut rows[p.start..p.end];
        if p.depth >= max_depth || node_rows.len() <= 1 {
            continue;
        }
        // Draw features uniformly among those not known constant until one varies in this node
        // (sklearn, max_features=1: a constant draw does not count as the one feature visited).
        let mut split = None;
        while !p.candidates.is_empty() {
            let j = rng.random_range(0..p.candidates.len());
            let feature = p.candidates[j];
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for &row in node_rows.iter() {
                let v = value(row, feature);
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if hi <= lo + FEATURE_THRESHOLD {
                p.candidates.swap_remove(j);
                continue;
            }
            split = Some((feature, lo, hi));
            break;
        }
        // Every feature constant here: the node cannot be split (duplicate rows).
        let Some((feature, lo, hi)) = split else { continue };
        // sklearn: threshold = uniform in [min, max) as f64; a draw that rounds to max becomes
        // min, so both sides keep at least one sample.
        let u: f64 = rng.random();
        let mut t = f64::from(lo) + (f64::from(hi) - f64::from(lo)) * u;
        if t >= f64::from(hi) {
            t = f64::from(lo);
        }
        let threshold = round_down_to_f32(t);
        let mut n_left = 0;
        for i in 0..node_rows.len() {
            if value(node_rows[i], feature) <= threshold {
                node_rows.swap(i, n_left);
                n_left += 1;
            }
        }
        let left = arena.nodes.len();
        arena.nodes.push(Node::leaf());
        arena.nodes.push(Node::leaf());
        arena.samples.push(n_left as u32);
        arena.samples.push((node_rows.len() - n_left) as u32);
        arena.nodes[p.node] = Node { feature, threshold, left: left as u32, right: left as u32 + 1 };
        let mid = p.start + n_left;
        stack.push(Pending {
            node: left + 1,
            start: mid,
            end: p.end,
            depth: p.depth + 1,
            candidates: p.candidates.clone(),
        });
        stack.push(Pending { node: left, start: p.start, end: mid, depth: p.depth + 1, candidates: p.candidates });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_path_length_matches_sklearn() {
        assert_eq!(average_path_length(0), 0.0);
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // sklearn.ensemble._iforest._average_path_length([3, 256])
        assert!((average_path_length(3) - 1.207_392_357_589_623).abs() < 1e-12);
        assert!((average_path_length(256) - 10.244_770_920_119_917).abs() < 1e-12);
    }

    #[test]
    fn rounded_threshold_keeps_every_decision() {
        for &(v, t) in &[(1.0f32, 1.0f64), (1.0, 1.0 + 1e-12), (1.0, 1.0 - 1e-12), (-3.5, -3.499_999_999)] {
            assert_eq!(f64::from(v) <= t, v <= round_down_to_f32(t), "v={v} t={t}");
        }
    }
}
