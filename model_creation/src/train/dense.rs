//! The autoencoder's training loss as one burn autodiff operation with its own backward pass,
//! over one flat parameter vector θ (per layer: W `[d_in, d_out]` row-major, then b `[d_out]`,
//! the artifact's layout).
//!
//! Why: burn's stock `Linear` records three autodiff nodes (matmul, reshape, add) and ReLU a
//! fourth, each through a process-global lock, hash maps and boxed tensors, and Adam then walks
//! one parameter per weight and bias. At batch 32 that bookkeeping, not the arithmetic, is the
//! step. Here the whole forward pass plus the MSE loss is one node: each layer one gemm and one
//! pass adding the bias and applying ReLU in place, the residual and the loss in the last
//! layer's pass; its backward runs exactly the gemms the gradient of θ needs and writes them
//! straight into θ's layout. Rows are cut into fixed slices that run on every core (see
//! `SLICE_ROWS`), and buffers are reused from step to step (`scratch`).
//!
//! Only flex under autodiff takes this path (`try_into_primitive` says whether a tensor is
//! one); other backends train through burn's stock operations on the same θ (`model.rs`), and a
//! unit test holds both to the same loss and gradient.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::{Tensor, TensorData};
use gemm::Parallelism;
use model_core::simd::vectorized;

type Ad = Autodiff<Flex>;

/// Where one layer lives in θ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub d_in: usize,
    pub d_out: usize,
    /// Offset of W `[d_in, d_out]`, row-major.
    pub w: usize,
    /// Offset of b `[d_out]`.
    pub b: usize,
}

/// The slots of layers `(d_in, d_out)` laid out one after another (θ's length is
/// `Architecture::n_params`).
pub fn slots(layer_dims: &[(usize, usize)]) -> Vec<Slot> {
    let mut at = 0;
    layer_dims
        .iter()
        .map(|&(d_in, d_out)| {
            let slot = Slot { d_in, d_out, w: at, b: at + d_in * d_out };
            at = slot.b + d_out;
            slot
        })
        .collect()
}

/// Mean squared reconstruction error of `x` (`[n, d]`) through the network θ, as one autodiff
/// node; `None` when the tensors are not flex autodiff tensors (the caller uses stock ops).
pub fn reconstruction_loss(x: &Tensor<2>, theta: &Tensor<1>, slots: &[Slot]) -> Option<Tensor<1>> {
    let x = x.clone().try_into_primitive::<Ad>().ok()?;
    let theta = theta.clone().try_into_primitive::<Ad>().ok()?;
    let op = ReconstructionLoss { slots: slots.to_vec() };
    let nodes = [x.node(), theta.node()];
    let (x, theta) = (x.into_primitive(), theta.into_primitive());
    let n = x.layout().shape()[0];
    let acts = forward(slots, &contiguous(&theta), &contiguous(&x), n);
    let loss = FlexTensor::from_data(TensorData::new(vec![(acts.sum / acts.residual.len().max(1) as f64) as f32], [1]));
    let out = match op.prepare::<NoCheckpointing>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(Saved { x, theta, acts }, loss),
        OpsKind::UnTracked(prep) => {
            acts.recycle();
            prep.finish(loss)
        }
    };
    Some(Tensor::from_primitive::<Ad>(out))
}

/// A flex tensor's values in row-major order, borrowed when it is contiguous.
fn contiguous(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().map(<[f32]>::to_vec).unwrap_or_default()),
    }
}

#[derive(Debug)]
struct ReconstructionLoss {
    slots: Vec<Slot>,
}

/// What the backward pass needs from the forward one.
#[derive(Debug, Clone)]
struct Saved {
    x: FlexTensor,
    theta: FlexTensor,
    acts: Activations,
}

impl Backward<Flex, 2> for ReconstructionLoss {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let seed = grads.consume::<Flex>(&ops.node);
        let [_, theta_node] = ops.parents;
        let Some(theta_node) = theta_node else { return };
        let s = ops.state;
        let upstream = contiguous(&seed).first().copied().unwrap_or(1.0);
        let n = s.x.layout().shape()[0];
        let dtheta = backward(&self.slots, &contiguous(&s.theta), &contiguous(&s.x), s.acts, n, upstream);
        let len = dtheta.len();
        grads.register::<Flex>(theta_node.id, FlexTensor::from_data(TensorData::new(dtheta, [len])));
    }
}

/// Rows per slice of a batch for the row-wise products (forward pass, input gradients). The
/// slices run on every core; a row's result does not depend on the other rows, and the cut is
/// the same whatever the machine, so the weights are the same bit for bit on one core or many.
const SLICE_ROWS: usize = 256;

/// A `[rows, width]` buffer cut into the batch's row slices.
fn row_slices(buf: &mut [f32], width: usize) -> impl Iterator<Item = &mut [f32]> {
    buf.chunks_mut(SLICE_ROWS * width.max(1))
}

/// `f` over `items` (one per row slice), on every core when there are several; results in order.
fn on_every_core<I: Send, T: Send>(items: Vec<I>, f: impl Fn(I) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    if items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    items.into_par_iter().map(&f).collect()
}

/// The forward pass's record.
#[derive(Debug, Clone)]
struct Activations {
    /// Sum of squared residuals.
    sum: f64,
    /// Each hidden layer's output after ReLU, `[n, d_out]`.
    hidden: Vec<Vec<f32>>,
    /// Reconstruction minus input, `[n, d]`.
    residual: Vec<f32>,
}

impl Activations {
    fn recycle(self) {
        self.hidden.into_iter().for_each(scratch::give);
        scratch::give(self.residual);
    }
}

/// The forward pass over `n` rows and the loss, row slice by row slice on every core.
fn forward(slots: &[Slot], theta: &[f32], x: &[f32], n: usize) -> Activations {
    let last = slots.len() - 1;
    let mut hidden: Vec<Vec<f32>> = slots[..last].iter().map(|s| scratch::take(n * s.d_out)).collect();
    let mut residual = scratch::take(n * slots[last].d_out);
    // Per slice: its rows of x and of every layer's output.
    let mut outputs: Vec<Vec<&mut [f32]>> = Vec::new();
    for (buf, s) in hidden.iter_mut().chain([&mut residual]).zip(slots) {
        for (i, rows) in row_slices(buf, s.d_out).enumerate() {
            if i == outputs.len() {
                outputs.push(Vec::with_capacity(slots.len()));
            }
            outputs[i].push(rows);
        }
    }
    let d = slots[0].d_in;
    let work: Vec<_> = x.chunks(SLICE_ROWS * d).zip(outputs).collect();
    let sums = on_every_core(work, |(x, mut outs)| forward_slice(slots, theta, x, &mut outs));
    // Slice sums added in slice order: the same value whatever the thread count.
    Activations { sum: sums.iter().sum(), hidden, residual }
}

/// One row slice through every layer; `outs[l]` receives layer l's output. Returns the sum of
/// squared residuals.
fn forward_slice(slots: &[Slot], theta: &[f32], x: &[f32], outs: &mut [&mut [f32]]) -> f64 {
    let rows = x.len() / slots[0].d_in.max(1);
    let last = slots.len() - 1;
    let mut sum = 0.0;
    for (l, s) in slots.iter().enumerate() {
        let (before, rest) = outs.split_at_mut(l);
        let input: &[f32] = if l == 0 { x } else { &before[l - 1][..] };
        let dst = &mut rest[0][..];
        matmul(rows, s.d_out, s.d_in, dst, View::rows(input, s.d_in), View::rows(&theta[s.w..s.b], s.d_out));
        let bias = &theta[s.b..s.b + s.d_out];
        if l < last {
            vectorized(|| {
                for row in dst.chunks_exact_mut(s.d_out) {
                    for (v, b) in row.iter_mut().zip(bias) {
                        let z = *v + b;
                        *v = if z > 0.0 { z } else { 0.0 };
                    }
                }
            });
        } else {
            sum = vectorized(|| residual_in_place(dst, bias, x));
        }
    }
    sum
}

/// Adds the last layer's bias, replaces the reconstruction by its residual (minus the input)
/// and returns the sum of squares. The sum runs in f64 over a row's columns as lanes:
/// vectorised, and the same order every time.
#[inline(always)]
fn residual_in_place(out: &mut [f32], bias: &[f32], x: &[f32]) -> f64 {
    let d = bias.len().max(1);
    let mut lanes = vec![0.0f64; d];
    for (row, xs) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
        for (((r, b), xi), lane) in row.iter_mut().zip(bias).zip(xs).zip(lanes.iter_mut()) {
            *r = (*r + b) - xi;
            *lane += f64::from(*r) * f64::from(*r);
        }
    }
    lanes.iter().sum::<f64>()
}

/// dθ of the mean squared residual times `upstream` (1 for `loss.backward()`).
fn backward(slots: &[Slot], theta: &[f32], x: &[f32], acts: Activations, n: usize, upstream: f32) -> Vec<f32> {
    let Activations { hidden, residual, .. } = acts;
    let mut dtheta = vec![0.0f32; theta.len()];
    // d loss / d reconstruction = 2 (y - x) / (n d)
    let scale = upstream * 2.0 / residual.len().max(1) as f32;
    let mut g = residual;
    vectorized(|| {
        for v in g.iter_mut() {
            *v *= scale;
        }
    });
    let widest = slots.iter().map(|s| s.d_in).max().unwrap_or(0);
    let mut g_prev = scratch::take(n * widest);
    for (l, s) in slots.iter().enumerate().rev() {
        let input = if l == 0 { x } else { &hidden[l - 1][..] };
        let gl = &g[..n * s.d_out];
        let (dw, db) = dtheta[s.w..s.b + s.d_out].split_at_mut(s.d_in * s.d_out);
        // dW = inputᵀ · g, summed over the whole batch; a large one in blocks of its rows, one
        // per core. gemm sums each element over the batch in the same order whatever block it
        // is in (its blocking of that sum depends on the batch size alone), so the split
        // changes no bit: tests/training.rs trains on one core and on two and compares.
        let cores = if n * s.d_in * s.d_out >= THREADED_FROM { rayon::current_num_threads() } else { 1 };
        let block = s.d_in.div_ceil(cores.max(1)).max(1);
        let work: Vec<_> = dw.chunks_mut(block * s.d_out).enumerate().collect();
        on_every_core(work, |(i, dw)| {
            let rows = dw.len() / s.d_out.max(1);
            let lhs = View { data: &input[i * block..], rs: 1, cs: s.d_in };
            matmul(rows, s.d_out, n, dw, lhs, View::rows(gl, s.d_out));
        });
        vectorized(|| {
            for row in gl.chunks_exact(s.d_out) {
                for (b, v) in db.iter_mut().zip(row) {
                    *b += v;
                }
            }
        });
        if l > 0 {
            // d input = g · Wᵀ through the previous layer's ReLU, slice by slice.
            let w = &theta[s.w..s.b];
            let work: Vec<_> = row_slices(&mut g_prev[..n * s.d_in], s.d_in)
                .zip(gl.chunks(SLICE_ROWS * s.d_out))
                .zip(input.chunks(SLICE_ROWS * s.d_in))
                .collect();
            on_every_core(work, |((gp, g), h)| {
                let rows = h.len() / s.d_in.max(1);
                matmul(rows, s.d_in, s.d_out, gp, View::rows(g, s.d_out), View::rows(w, s.d_out).t());
                vectorized(|| {
                    for (v, h) in gp.iter_mut().zip(h) {
                        *v = if *h > 0.0 { *v } else { 0.0 };
                    }
                });
            });
            std::mem::swap(&mut g, &mut g_prev);
            if g_prev.len() < g.len() {
                g_prev.resize(g.len(), 0.0);
            }
        }
    }
    scratch::give(g);
    scratch::give(g_prev);
    hidden.into_iter().for_each(scratch::give);
    dtheta
}

/// The step's large buffers (activations, residual, gradients), kept per thread and reused:
/// a fresh multi-megabyte allocation every step costs page faults and zeroing. A reused
/// buffer's stale values are always overwritten before they are read.
mod scratch {
    use std::cell::RefCell;

    thread_local! {
        static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
    }

    /// A buffer of `len` values (stale or zero).
    pub fn take(len: usize) -> Vec<f32> {
        let reused = POOL.with_borrow_mut(|pool| {
            // The smallest that fits: buffers keep their sizes from step to step.
            let (i, _) =
                pool.iter().enumerate().filter(|(_, v)| v.capacity() >= len).min_by_key(|(_, v)| v.capacity())?;
            Some(pool.swap_remove(i))
        });
        let mut v = reused.unwrap_or_default();
        if v.len() > len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        v
    }

    pub fn give(v: Vec<f32>) {
        POOL.with_borrow_mut(|pool| {
            if pool.len() < 16 {
                pool.push(v);
            }
        });
    }
}

/// A matrix over a slice, by row and column strides.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    /// Row-major with `cols` columns.
    fn rows(data: &'a [f32], cols: usize) -> View<'a> {
        View { data, rs: cols, cs: 1 }
    }

    fn t(self) -> View<'a> {
        View { data: self.data, rs: self.cs, cs: self.rs }
    }

    /// Whether an `r × c` matrix fits in the slice.
    fn holds(&self, r: usize, c: usize) -> bool {
        r == 0 || c == 0 || (r - 1) * self.rs + (c - 1) * self.cs < self.data.len()
    }
}

/// Weight gradients at least this large (m·n·k) are shared out between cores; smaller ones
/// cost more to share than to compute (flex's own threshold for its products).
const THREADED_FROM: usize = 192 * 192 * 192;

/// `dst [m×n] = lhs [m×k] · rhs [k×n]`, dst row-major, on this thread.
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], lhs: View<'_>, rhs: View<'_>) {
    assert!(dst.len() >= m * n && lhs.holds(m, k) && rhs.holds(k, n), "matmul: operands smaller than {m}x{k}·{k}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assert above keeps every index gemm touches inside the slices; dst is a
    // unique borrow and does not overlap lhs or rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}
