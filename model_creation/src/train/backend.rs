//! Which burn CPU backend trains the model: flex (default, faster) or ndarray (the original
//! design's choice, deprecated in burn 0.22, compiled in only with the `ndarray` feature).

use burn::tensor::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Flex,
    #[cfg(feature = "ndarray")]
    NdArray,
}

impl Backend {
    pub fn parse(name: &str) -> Result<Backend, String> {
        match name {
            "flex" => Ok(Backend::Flex),
            #[cfg(feature = "ndarray")]
            "ndarray" => Ok(Backend::NdArray),
            #[cfg(not(feature = "ndarray"))]
            "ndarray" => Err("train.backend \"ndarray\" needs a build with `--features ndarray`".into()),
            other => Err(format!("train.backend must be \"flex\" or \"ndarray\", got {other:?}")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            #[cfg(feature = "ndarray")]
            Backend::NdArray => "ndarray",
        }
    }

    /// The plain (inference) device; training uses its `.autodiff()` form.
    pub fn device(self) -> Device {
        match self {
            Backend::Flex => Device::flex(),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::NdArray => Device::ndarray(),
        }
    }
}
