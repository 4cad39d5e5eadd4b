//! The one definition of the autoencoder's shape, shared by the burn trainer and the lean
//! serving kernel: dense layers `input -> hidden... -> input`, ReLU after every layer but the
//! last, linear output.

use serde::{Deserialize, Serialize};

/// Default hidden layers, as the original Keras model: d -> 32 -> 16 -> 16 -> 32 -> d.
pub const DEFAULT_HIDDEN: [usize; 4] = [32, 16, 16, 32];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    /// Width of the input and of the reconstruction.
    pub input: usize,
    /// Widths of the hidden layers, encoder then decoder.
    pub hidden: Vec<usize>,
}

impl Architecture {
    pub fn new(input: usize, hidden: Vec<usize>) -> Architecture {
        Architecture { input, hidden }
    }

    /// `(d_in, d_out)` of every dense layer, in order.
    pub fn layer_dims(&self) -> Vec<(usize, usize)> {
        let mut widths = Vec::with_capacity(self.hidden.len() + 2);
        widths.push(self.input);
        widths.extend_from_slice(&self.hidden);
        widths.push(self.input);
        widths.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// ReLU follows layer `i` unless it is the output layer.
    pub fn relu_after(&self, i: usize) -> bool {
        i < self.hidden.len()
    }

    pub fn weight_name(i: usize) -> String {
        format!("layers.{i}.weight")
    }

    pub fn bias_name(i: usize) -> String {
        format!("layers.{i}.bias")
    }

    pub fn n_params(&self) -> usize {
        self.layer_dims().iter().map(|(a, b)| a * b + b).sum()
    }
}
