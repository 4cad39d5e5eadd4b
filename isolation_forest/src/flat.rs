//! The scoring layout: every tree re-laid out breadth-first with sibling pairs side by side and
//! leaves that loop onto themselves, so a row walks a tree in a fixed number of branch-free steps
//! (`next = left + (x > threshold)`) and consecutive rows overlap in the CPU instead of stalling on
//! mispredicted branches.

use crate::tree::{LEAF, Node, average_path_length};

/// One node of the scoring layout. The right child is `left + 1`. A leaf has `left` equal to its
/// own index and an infinite threshold, so further steps stay on it (`x > inf` is false, NaN too).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FlatNode {
    pub feature: u32,
    pub threshold: f32,
    pub left: u32,
}

impl FlatNode {
    /// Whether the node at arena index `index` is a leaf (children always come after parents).
    pub fn is_leaf(&self, index: usize) -> bool {
        self.left as usize == index
    }
}

/// A forest in the scoring layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Flat {
    pub nodes: Vec<FlatNode>,
    /// Per node: training samples of its tree's subsample that reached it.
    pub samples: Vec<u32>,
    /// Per node: for a leaf, its depth plus `c(samples)`, the path length it contributes.
    pub leaf_path: Vec<f64>,
    /// `n_trees + 1` offsets into `nodes`; tree `t`'s root is at `tree_offsets[t]`.
    pub tree_offsets: Vec<usize>,
    /// Per tree: its deepest leaf's depth, the number of steps a walk takes.
    pub tree_depth: Vec<u32>,
}

/// Re-lays out trees given as `Node`s with absolute child indices, each child after its parent
/// and every non-root node the child of exactly one parent (fit and `from_arrays` guarantee it).
pub(crate) fn compile(nodes: &[Node], samples: &[u32], tree_offsets: &[usize]) -> Flat {
    let mut flat = Flat {
        nodes: Vec::with_capacity(nodes.len()),
        samples: Vec::with_capacity(nodes.len()),
        leaf_path: Vec::with_capacity(nodes.len()),
        tree_offsets: Vec::with_capacity(tree_offsets.len()),
        tree_depth: Vec::with_capacity(tree_offsets.len().saturating_sub(1)),
    };
    flat.tree_offsets.push(0);
    // (source node, depth) in breadth-first order; a node's new index is its queue position.
    let mut queue: Vec<(usize, u32)> = Vec::new();
    for w in tree_offsets.windows(2) {
        let base = flat.nodes.len();
        queue.clear();
        queue.push((w[0], 0));
        let mut head = 0;
        let mut max_depth = 0;
        while head < queue.len() {
            let (src, depth) = queue[head];
            let index = base + head;
            head += 1;
            let node = nodes[src];
            flat.samples.push(samples[src]);
            max_depth = max_depth.max(depth);
            if node.feature == LEAF {
                flat.nodes.push(FlatNode { feature: 0, threshold: f32::INFINITY, left: index as u32 });
                flat.leaf_path.push(f64::from(depth) + average_path_length(u64::from(samples[src])));
            } else {
                flat.nodes.push(FlatNode {
                    feature: node.feature,
                    threshold: node.threshold,
                    left: (base + queue.len()) as u32,
                });
                flat.leaf_path.push(0.0);
                queue.push((node.left as usize, depth + 1));
                queue.push((node.right as usize, depth + 1));
            }
        }
        flat.tree_offsets.push(flat.nodes.len());
        flat.tree_depth.push(max_depth);
    }
    flat
}

/// Rows walked together: independent walks interleaved step by step keep the CPU busy while
/// each waits for its next node.
const LANES: usize = 8;

impl Flat {
    /// Per row of `x` (row-major, `n_features` columns), the sum over trees of its leaf's path
    /// length, added in tree order.
    pub fn path_sums(&self, x: &[f32], n_features: usize) -> Vec<f64> {
        let mut sums = vec![0.0f64; x.len() / n_features];
        let n_trees = self.tree_depth.len();
        let mut blocks = x.chunks_exact(LANES * n_features);
        let mut sum_blocks = sums.chunks_exact_mut(LANES);
        for (block, block_sums) in (&mut blocks).zip(&mut sum_blocks) {
            for t in 0..n_trees {
                let root = self.tree_offsets[t];
                let mut at = [root; LANES];
                for _ in 0..self.tree_depth[t] {
                    for (lane, i) in at.iter_mut().enumerate() {
                        let node = self.nodes[*i];
                        let value = block[lane * n_features + node.feature as usize];
                        *i = node.left as usize + usize::from(value > node.threshold);
                    }
                }
                for (sum, &i) in block_sums.iter_mut().zip(&at) {
                    *sum += self.leaf_path[i];
                }
            }
        }
        // The last rows, fewer than a block: one walk at a time.
        for (row, sum) in blocks.remainder().chunks_exact(n_features).zip(sum_blocks.into_remainder()) {
            for t in 0..n_trees {
                let mut i = self.tree_offsets[t];
                for _ in 0..self.tree_depth[t] {
                    let node = self.nodes[i];
                    i = node.left as usize + usize::from(row[node.feature as usize] > node.threshold);
                }
                *sum += self.leaf_path[i];
            }
        }
        sums
    }
}
