//! The serving forward pass: plain f32 loops and `matrixmultiply::sgemm` over exported weights.
//!
//! BURN.md measured this 10x faster than burn-flex per single-row call and faster at every batch
//! size, with no thread pool and no global state; it also keeps burn out of the serving binary.
//! A parity test in model_creation holds it equal to burn's forward within 1e-5.

use crate::arch::Architecture;

/// One layer's exported weights: `W` as `[d_in * d_out]` row-major and `b` as `[d_out]`.
pub type LayerWeights = (Vec<f32>, Vec<f32>);

/// One dense layer, `y = x W + b`, with `W` stored `[d_in][d_out]` row-major as burn stores it.
#[derive(Debug, Clone)]
pub struct DenseLayer {
    pub d_in: usize,
    pub d_out: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub relu: bool,
}

#[derive(Debug, Clone)]
pub struct LeanNetwork {
    layers: Vec<DenseLayer>,
}

/// Batches below this size go through the per-row loops; sgemm's packing costs more than it saves.
pub(crate) const SGEMM_MIN_ROWS: usize = 8;

impl LeanNetwork {
    /// `weights[i] = (W, b)` for each layer of `arch`; shapes are the caller's to check.
    pub fn new(arch: &Architecture, weights: Vec<LayerWeights>) -> LeanNetwork {
        let layers = arch
            .layer_dims()
            .into_iter()
            .zip(weights)
            .enumerate()
            .map(|(i, ((d_in, d_out), (weight, bias)))| DenseLayer {
                d_in,
                d_out,
                weight,
                bias,
                relu: arch.relu_after(i),
            })
            .collect();
        LeanNetwork { layers }
    }

    pub fn layers(&self) -> &[DenseLayer] {
        &self.layers
    }

    pub fn input_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.d_in)
    }

    /// Reconstruction of `n` rows (`x.len() == n * input_dim`).
    pub fn reconstruct(&self, x: &[f32], n: usize) -> Vec<f32> {
        if n < SGEMM_MIN_ROWS {
            let mut out = Vec::with_capacity(x.len());
            let mut a = Vec::new();
            let mut b = Vec::new();
            for row in x.chunks_exact(self.input_dim()) {
                a.clear();
                a.extend_from_slice(row);
                for layer in &self.layers {
                    layer.forward_row(&a, &mut b);
                    std::mem::swap(&mut a, &mut b);
                }
                out.extend_from_slice(&a);
            }
            return out;
        }
        let Some((first, rest)) = self.layers.split_first() else {
            return x.to_vec();
        };
        let mut a = first.forward_batch(x, n);
        for layer in rest {
            a = layer.forward_batch(&a, n);
        }
        a
    }

    /// Mean squared reconstruction error of each row, always finite: see [`finite_score`].
    pub fn score(&self, x: &[f32], n: usize) -> Vec<f32> {
        self.score_weighted(x, n, None)
    }

    /// Mean of the squared reconstruction errors of each row, each input's times its weight
    /// (`weights.len() == input_dim`; `None` = all 1, the plain mean squared error, bit for bit).
    pub fn score_weighted(&self, x: &[f32], n: usize, weights: Option<&[f64]>) -> Vec<f32> {
        /// Rows summed side by side: each row's sum is its own chain of additions, in the order
        /// one row alone is summed (so the same bits), and the chains overlap in the processor
        /// instead of each addition waiting for the one before.
        const ROWS: usize = 4;
        let d = self.input_dim();
        let y = self.reconstruct(x, n);
        // Times 1.0 is exact: unweighted sums are the plain ones, bit for bit.
        let ones;
        let weights = match weights {
            Some(w) => w,
            None => {
                ones = vec![1.0; d];
                &ones
            }
        };
        // In f64: the square of a difference of f32s cannot overflow there, so a huge but finite
        // input gives a huge score, not an infinity that later reads as "normal".
        let term = |a: f32, b: f32, w: f64| {
            let diff = f64::from(a) - f64::from(b);
            diff * diff * w
        };
        let mut scores = Vec::with_capacity(n);
        let blocks = x.chunks_exact(ROWS * d).zip(y.chunks_exact(ROWS * d));
        let whole = blocks.len() * ROWS;
        for (xb, yb) in blocks {
            let mut sums = [0.0f64; ROWS];
            for (j, w) in weights.iter().enumerate().take(d) {
                for (r, sum) in sums.iter_mut().enumerate() {
                    *sum += term(xb[r * d + j], yb[r * d + j], *w);
                }
            }
            scores.extend(sums.iter().map(|sum| finite_score(sum / d as f64)));
        }
        for (xr, yr) in x[whole * d..].chunks_exact(d).zip(y[whole * d..].chunks_exact(d)) {
            let sum: f64 = xr.iter().zip(yr).zip(weights).map(|((a, b), w)| term(*a, *b, *w)).sum();
            scores.push(finite_score(sum / d as f64));
        }
        scores
    }
}

/// A score as f32 that is never NaN or infinite: an error too large for f32, or one the network
/// could not compute (an input so far out of range that a layer overflowed to infinity or NaN),
/// becomes `f32::MAX`, so the row stays above every threshold and the JSON stays valid.
pub fn finite_score(error: f64) -> f32 {
    if error <= f64::from(f32::MAX) { error as f32 } else { f32::MAX }
}

impl DenseLayer {
    fn forward_row(&self, x: &[f32], y: &mut Vec<f32>) {
        y.clear();
        y.extend_from_slice(&self.bias);
        // axpy over contiguous rows of W: the compiler vectorises the inner loop.
        for (xi, w_row) in x.iter().zip(self.weight.chunks_exact(self.d_out)) {
            for (yj, wij) in y.iter_mut().zip(w_row) {
                *yj += xi * wij;
            }
        }
        if self.relu {
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }

    fn forward_batch(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut y = Vec::with_capacity(n * self.d_out);
        for _ in 0..n {
            y.extend_from_slice(&self.bias);
        }
        // SAFETY: the pointers cover `n*d_in`, `d_in*d_out` and `n*d_out` f32s with the strides
        // given (row-major, unit column stride), which the asserts check.
        assert_eq!(x.len(), n * self.d_in);
        assert_eq!(self.weight.len(), self.d_in * self.d_out);
        unsafe {
            matrixmultiply::sgemm(
                n,
                self.d_in,
                self.d_out,
                1.0,
                x.as_ptr(),
                self.d_in as isize,
                1,
                self.weight.as_ptr(),
                self.d_out as isize,
                1,
                1.0,
                y.as_mut_ptr(),
                self.d_out as isize,
                1,
            );
        }
        if self.relu {
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        y
    }
}
