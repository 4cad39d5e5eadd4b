//! The trainable autoencoder in burn, built from model_core's [`Architecture`] so trainer and
//! serving kernel share one definition of the shape.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use model_core::Architecture;
use model_core::forward::LayerWeights;
use rand::{Rng, SeedableRng};

#[derive(Config, Debug)]
pub struct AutoencoderConfig {
    pub input: usize,
    pub hidden: Vec<usize>,
}

#[derive(Module, Debug)]
pub struct Autoencoder {
    layers: Vec<Linear>,
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
        let layers = self
            .arch()
            .layer_dims()
            .into_iter()
            .map(|(i, o)| {
                let k = (1.0 / i as f64).sqrt() as f32;
                let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-k..k)).collect() };
                let weight = draw(i * o);
                let bias = draw(o);
                let mut layer = LinearConfig::new(i, o).init(device);
                layer.weight = Param::from_data(TensorData::new(weight, [i, o]), device);
                layer.bias = Some(Param::from_data(TensorData::new(bias, [o]), device));
                layer
            })
            .collect();
        Autoencoder { layers }
    }
}

impl Autoencoder {
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = relu(h);
            }
        }
        h
    }

    /// Weights as `(W [d_in*d_out] row-major, b [d_out])` per layer, the artifact's layout.
    pub fn export(&self) -> Result<Vec<LayerWeights>, String> {
        self.layers
            .iter()
            .map(|l| {
                let w = l.weight.val().into_data().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
                let b = match &l.bias {
                    Some(b) => b.val().into_data().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?,
                    None => vec![0.0; l.weight.val().dims()[1]],
                };
                Ok((w, b))
            })
            .collect()
    }
}
