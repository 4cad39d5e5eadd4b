//! The trainable autoencoder in burn, built from model_core's [`Architecture`] so trainer and
//! serving kernel share one definition of the shape. Its parameters are one flat vector θ in the
//! artifact's layout (per layer W `[d_in, d_out]` row-major, then b): on flex the training loss
//! is one autodiff operation over it (`dense.rs`), elsewhere burn's stock layers read slices of it.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::loss::{MseLoss, Reduction};
use burn::tensor::activation::relu;
use burn::tensor::module::linear;
use burn::tensor::{Device, Tensor, TensorData};
use model_core::Architecture;
use model_core::forward::LayerWeights;
use rand::{Rng, SeedableRng};

use super::dense::{self, Slot};

#[derive(Config, Debug)]
pub struct AutoencoderConfig {
    pub input: usize,
    pub hidden: Vec<usize>,
}

#[derive(Module, Debug)]
pub struct Autoencoder {
    theta: Param<Tensor<1>>,
    #[module(skip)]
    slots: Vec<Slot>,
}

impl AutoencoderConfig {
    pub fn from_arch(arch: &Architecture) -> AutoencoderConfig {
        AutoencoderConfig::new(arch.input, arch.hidden.clone())
    }

    pub fn arch(&self) -> Architecture {
        Architecture::new(self.input, self.hidden.clone())
    }

    /// Builds the model with weights drawn from `seed`, as burn's default initialiser draws
    /// them (uniform in ±1/sqrt(d_in) for weights and biases), but from a private ChaCha stream:
    /// burn's own RNG is process-global, so two trainings running at once in one process
    /// (tests, a server) would otherwise interleave their draws and lose determinism.
    pub fn init_seeded(&self, device: &Device, seed: u64) -> Autoencoder {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let arch = self.arch();
        let (slots, len) = (dense::slots(&arch.layer_dims()), arch.n_params());
        let mut theta = Vec::with_capacity(len);
        for s in &slots {
            let k = (1.0 / s.d_in as f64).sqrt() as f32;
            // Weights, then biases: the order burn's per-layer initialiser drew them in.
            theta.extend((0..s.d_in * s.d_out + s.d_out).map(|_| rng.random_range(-k..k)));
        }
        Autoencoder { theta: Param::from_data(TensorData::new(theta, [len]), device), slots }
    }
}

impl Autoencoder {
    /// The reconstruction of `x`, through burn's stock operations.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let theta = self.theta.val();
        let last = self.slots.len() - 1;
        let mut h = x;
        for (i, s) in self.slots.iter().enumerate() {
            let w = theta.clone().slice(s.w..s.b).reshape([s.d_in, s.d_out]);
            let b = theta.clone().slice(s.b..s.b + s.d_out);
            h = linear(h, w, Some(b));
            if i < last {
                h = relu(h);
            }
        }
        h
    }

    /// Mean squared reconstruction error of `x`: one fused operation on flex, burn's stock
    /// operations elsewhere.
    pub fn loss(&self, x: Tensor<2>) -> Tensor<1> {
        match dense::reconstruction_loss(&x, &self.theta.val(), &self.slots) {
            Some(loss) => loss,
            None => self.stock_loss(x),
        }
    }

    fn stock_loss(&self, x: Tensor<2>) -> Tensor<1> {
        MseLoss::new().forward(self.forward(x.clone()), x, Reduction::Mean)
    }

    /// Weights as `(W [d_in*d_out] row-major, b [d_out])` per layer, the artifact's layout.
    pub fn export(&self) -> Result<Vec<LayerWeights>, String> {
        let theta = self.theta.val().into_data().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
        Ok(self.slots.iter().map(|s| (theta[s.w..s.b].to_vec(), theta[s.b..s.b + s.d_out].to_vec())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::GradientsParams;

    /// The fused loss and its gradient equal burn's stock operations on the same θ and batch.
    #[test]
    fn the_fused_loss_and_gradient_match_burns_stock_operations() {
        for (arch, n) in [(Architecture::new(7, vec![5, 3, 5]), 9usize), (Architecture::new(40, vec![32, 8, 32]), 64)] {
            let device = Device::flex().autodiff();
            let model = AutoencoderConfig::from_arch(&arch).init_seeded(&device, 11);
            let x: Vec<f32> = (0..n * arch.input).map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0).collect();
            let x: Tensor<2> = Tensor::from_data(TensorData::new(x, [n, arch.input]), &device);
            let grads_of = |loss: Tensor<1>| {
                let value = loss.clone().into_scalar::<f32>();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let g = grads.get::<1>(model.theta.id).map(|g| g.into_data().try_to_vec::<f32>().unwrap_or_default());
                (value, g.unwrap())
            };
            let fused_loss = dense::reconstruction_loss(&x, &model.theta.val(), &model.slots);
            let (fused, fused_grad) = grads_of(fused_loss.expect("flex autodiff takes the fused path"));
            let (stock, stock_grad) = grads_of(model.stock_loss(x));
            assert!((fused - stock).abs() <= 1e-6 * stock.abs(), "loss {fused} vs stock {stock}");
            let scale = stock_grad.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (i, (a, b)) in fused_grad.iter().zip(&stock_grad).enumerate() {
                assert!((a - b).abs() <= 1e-5 * scale, "dθ[{i}]: {a} vs stock {b}");
            }
        }
    }
}
