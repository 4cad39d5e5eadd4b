//! Adam as one pass over each parameter, a burn [`Optimizer`]: burn's Adam runs thirteen tensor
//! operations per parameter (a pass over memory and an allocation each); this runs the same
//! float operations in the same order in one loop, in place, so its result is bit for bit
//! burn's (a unit test holds it to that). Tensors that are not flex fall back to burn's Adam.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};
use rayon::prelude::*;

/// Parameters with at least this many values are updated on several cores.
const PER_CORE_FROM: usize = 1 << 16;

#[derive(Clone)]
pub struct FusedAdam {
    stock: Adam,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

impl FusedAdam {
    /// burn's defaults (`AdamConfig::new()`): β₁ 0.9, β₂ 0.999, ε 1e-5, no weight decay. The
    /// config's fields are private, so they are set on both sides here and a test holds the two
    /// to the same result.
    pub fn new() -> FusedAdam {
        let (beta_1, beta_2, epsilon) = (0.9, 0.999, 1e-5);
        let config = AdamConfig::new().with_beta_1(beta_1).with_beta_2(beta_2).with_epsilon(epsilon);
        FusedAdam { stock: config.build(), beta_1, beta_2, epsilon }
    }
}

impl Default for FusedAdam {
    fn default() -> Self {
        FusedAdam::new()
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let time = state.as_ref().map_or(1, |s| s.momentum.time + 1);
        let moments = state.map(|s| (s.momentum.moment_1, s.momentum.moment_2));
        let parts = (|| {
            let p = whole(tensor.clone().try_into_primitive::<Flex>().ok()?)?;
            let g = whole(grad.clone().try_into_primitive::<Flex>().ok()?)?;
            let (m, v) = match &moments {
                Some((m, v)) => (
                    Some(whole(m.clone().try_into_primitive::<Flex>().ok()?)?),
                    Some(whole(v.clone().try_into_primitive::<Flex>().ok()?)?),
                ),
                None => (None, None),
            };
            Some((p, g, m, v))
        })();
        let Some((mut p, g, m, v)) = parts else {
            let state = moments.map(|(m, v)| AdamState::new(AdaptiveMomentumState::new(time - 1, m, v)));
            return self.stock.step(lr, tensor, grad, state);
        };
        // The flex primitives above are clones: dropping the originals leaves each buffer one
        // owner, so the loop below updates p, m and v in place instead of copying them first.
        drop((tensor, grad, moments));
        let gs = g.storage::<f32>();
        let mut m = m.unwrap_or_else(|| zeros_like(&g));
        let mut v = v.unwrap_or_else(|| zeros_like(&g));
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - self.beta_2.powi(t)).sqrt();
        let combined_factor = bias_correction2_sqrt / (1.0 - self.beta_1.powi(t));
        let eps = self.epsilon * bias_correction2_sqrt;
        let (b1, b2, f1, f2) = (self.beta_1, self.beta_2, 1.0 - self.beta_1, 1.0 - self.beta_2);
        let lr = lr as f32;
        let (ps, ms, vs) = (p.storage_mut::<f32>(), m.storage_mut::<f32>(), v.storage_mut::<f32>());
        // Element by element, so any cut between cores gives the same bits.
        let n = ps.len().min(ms.len()).min(vs.len()).min(gs.len());
        let chunk = PER_CORE_FROM.max(n.div_ceil(rayon::current_num_threads().max(1)));
        let params = ps[..n].par_chunks_mut(chunk).zip(ms[..n].par_chunks_mut(chunk));
        let rest = vs[..n].par_chunks_mut(chunk).zip(gs[..n].par_chunks(chunk));
        params.zip(rest).for_each(|((ps, ms), (vs, gs))| {
            model_core::simd::vectorized(|| {
                for (((p, m), v), g) in ps.iter_mut().zip(ms.iter_mut()).zip(vs.iter_mut()).zip(gs) {
                    // burn's order: m = m·β₁ + g·(1-β₁); v = v·β₂ + g²·(1-β₂);
                    // p -= (m·c / (√v + ε·√(1-β₂ᵗ))) · lr
                    *m = *m * b1 + *g * f1;
                    *v = *v * b2 + (*g * *g) * f2;
                    *p -= (*m * combined_factor / (v.sqrt() + eps)) * lr;
                }
            })
        });
        let state = AdamState::new(AdaptiveMomentumState::new(
            time,
            Tensor::from_primitive::<Flex>(m),
            Tensor::from_primitive::<Flex>(v),
        ));
        (Tensor::from_primitive::<Flex>(p), Some(state))
    }

    fn to_device<const D: usize>(state: AdamState<D>, device: &Device) -> AdamState<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// The tensor when its values are its whole buffer in order (what an in-place loop needs).
fn whole(t: FlexTensor) -> Option<FlexTensor> {
    let n = t.layout().num_elements();
    (t.dtype() == burn::tensor::DType::F32
        && t.layout().is_contiguous()
        && t.layout().start_offset() == 0
        && t.storage::<f32>().len() == n)
        .then_some(t)
}

fn zeros_like(t: &FlexTensor) -> FlexTensor {
    FlexTensor::empty(t.layout().shape().clone(), t.dtype())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// Three steps of the fused update give burn's Adam's bits exactly, state included.
    #[test]
    fn fused_adam_is_bit_for_bit_burns_adam() {
        let device = Device::flex();
        let tensor = |seed: usize| {
            let v: Vec<f32> = (0..1000).map(|i| (((i + seed) * 7919) % 2001) as f32 / 1000.0 - 1.0).collect();
            Tensor::<1>::from_data(TensorData::new(v, [1000]), &device)
        };
        let stock = AdamConfig::new().build();
        let fused = FusedAdam::new();
        let (mut p_stock, mut p_fused) = (tensor(0), tensor(0));
        let (mut s_stock, mut s_fused) = (None, None);
        for step in 1..=3 {
            let g = tensor(step * 13).mul_scalar(1e-3 * step as f32);
            (p_stock, s_stock) = stock.step(1e-3, p_stock, g.clone(), s_stock);
            (p_fused, s_fused) = fused.step(1e-3, p_fused, g, s_fused);
            let bits = |t: &Tensor<1>| {
                t.to_data().try_to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            assert_eq!(bits(&p_fused), bits(&p_stock), "parameter after step {step}");
            let (a, b) = (&s_fused.as_ref().unwrap().momentum, &s_stock.as_ref().unwrap().momentum);
            assert_eq!(a.time, b.time);
            assert_eq!(bits(&a.moment_1), bits(&b.moment_1), "first moment after step {step}");
            assert_eq!(bits(&a.moment_2), bits(&b.moment_2), "second moment after step {step}");
        }
    }
}
