//! Training: frame -> features -> burn autoencoder (Adam, MSE, early stopping on a held-out
//! tail of the series) -> exported weights in a model_core [`Model`] with a calibrated threshold.
//!
//! Determinism: initial weights and batch order come from seeded ChaCha streams private to the
//! run (never burn's process-global RNG), so the same seed, backend and batch size give
//! bit-identical weights, even with other trainings running in the same process.

pub mod adam;
pub mod backend;
mod dense;
pub mod forest;
pub mod groups;
pub mod model;

use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use model_core::features::{FeatureSpec, Scaler, Window};
use model_core::forward::{LayerWeights, LeanNetwork};
use model_core::{Architecture, DataError, Frame, Model, ModelMetadata, Scoring, Threshold, TrainingInfo};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::params::{Params, Scaling};
use adam::FusedAdam;
use backend::Backend;
use model::{Autoencoder, AutoencoderConfig};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("invalid parameters: {0}")]
    Params(String),
    #[error("training failed: {0}")]
    Burn(String),
    #[error(transparent)]
    Artifact(#[from] model_core::ArtifactError),
}

/// Progress callback: (epoch, epochs, train loss, validation loss).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, f64, f64);

/// What the training data is, for the model's record.
#[derive(Debug, Clone)]
pub struct DataInfo {
    pub md5: String,
    pub ignored_columns: Vec<String>,
}

/// Chooses the window for a frame: explicit, or automatic (univariate series are windowed).
pub fn choose_window(params: &Params, n_features: usize) -> Window {
    let length = match params.data.window {
        0 if n_features == 1 => params.data.univariate_window.max(1),
        0 => params.data.multivariate_window.max(1),
        w => w,
    };
    Window { length, stride: params.data.stride.max(1) }
}

/// Trains a model on `frame` (columns = features, in order).
pub fn train(
    frame: &Frame,
    data: DataInfo,
    params: &Params,
    source: &str,
    progress: Progress<'_>,
) -> Result<Model, TrainError> {
    params.validate().map_err(TrainError::Params)?;
    let backend = Backend::parse(&params.train.backend).map_err(TrainError::Params)?;
    let window = choose_window(params, frame.n_cols());
    let tp = &params.train;

    let (train_frame, val_frame) = hold_out_tail(frame, window, tp.validation_split, source)?;
    let spec = FeatureSpec { features: frame.columns.clone(), window, scaler: fit_scaler(params, &train_frame) };
    let train_inputs = spec.inputs(&train_frame, source, window.stride)?;
    let val_inputs = match &val_frame {
        Some(v) => Some(spec.inputs(v, source, 1)?),
        None => None,
    };
    let arch = Architecture::new(spec.input_dim(), params.model.hidden.clone());

    let mut trainer = Trainer::new(backend, &arch, tp.seed, tp.learning_rate, tp.batch_size);

    let mut train_loss = Vec::new();
    let mut val_loss = Vec::new();
    let mut best: Option<(f64, usize, Vec<LayerWeights>)> = None;
    let mut since_best = 0;
    for epoch in 1..=tp.epochs {
        let epoch_train = trainer.epoch(&train_inputs.values, train_inputs.n);
        let weights = trainer.export().map_err(TrainError::Burn)?;
        let net = LeanNetwork::new(&arch, weights.clone());
        let epoch_val = match &val_inputs {
            Some(v) => mean(&net.score(&v.values, v.n)),
            None => epoch_train,
        };
        train_loss.push(epoch_train);
        val_loss.push(epoch_val);
        progress(epoch, tp.epochs, epoch_train, epoch_val);
        if !epoch_val.is_finite() {
            return Err(TrainError::Burn(format!(
                "loss became {epoch_val} at epoch {epoch}; lower train.learning_rate or check the data for extreme values"
            )));
        }
        if best.as_ref().is_none_or(|(b, _, _)| epoch_val < *b) {
            best = Some((epoch_val, epoch, weights));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= tp.patience.max(1) {
                break;
            }
        }
    }
    let Some((_, best_epoch, weights)) = best else {
        return Err(TrainError::Burn("no epoch completed".into()));
    };

    let info = TrainingInfo {
        data_md5: data.md5,
        data_rows: frame.n_rows,
        params: serde_json::to_value(params).map_err(|e| TrainError::Params(e.to_string()))?,
        backend: backend.name().to_string(),
        epochs_run: train_loss.len(),
        best_epoch,
        final_train_loss: train_loss[best_epoch - 1],
        final_val_loss: val_loss[best_epoch - 1],
        train_loss,
        val_loss,
    };
    let method = params.threshold_method().map_err(TrainError::Params)?;
    let meta = ModelMetadata {
        format_version: model_core::artifact::FORMAT_VERSION,
        kind: model_core::ModelKind::Autoencoder,
        name: params.model.name.clone(),
        version: params.model.version.clone(),
        created_by: format!("model_creation {}", env!("CARGO_PKG_VERSION")),
        features: spec.features.clone(),
        ignored_columns: data.ignored_columns,
        window,
        point_aggregation: params.data.aggregation,
        architecture: arch,
        scaler: spec.scaler.clone(),
        scoring: Scoring::default(),
        threshold: Threshold { value: 0.0, method, calibration_scores: 0 },
        // All the rows it was given, held-out tail included: the data it was made for.
        reference: model_core::drift::reference(frame),
        training: info,
        weights_md5: String::new(),
    };
    let mut model = Model::from_parts(meta, weights)?;
    // The per-feature error scale comes from the held-out windows, as the threshold does.
    if let (true, Some(network)) = (params.score.normalise, model.network()) {
        let held_out = val_inputs.as_ref().unwrap_or(&train_inputs);
        let scale = model_core::score::feature_error_scale(network, &held_out.values, held_out.n, frame.n_cols());
        model.meta.scoring.error_scale = scale;
    }
    model.meta.scoring.smoothing = params.score.smoothing;
    calibrate_and_name(&mut model, method, val_frame.as_ref().unwrap_or(&train_frame), source)?;
    Ok(model)
}

/// Calibrates the threshold on exactly what serving will compute (per-row scores of the
/// held-out rows) and, without a `model.version`, names the model after its weights' md5.
pub(crate) fn calibrate_and_name(
    model: &mut Model,
    method: model_core::ThresholdMethod,
    calib_frame: &Frame,
    source: &str,
) -> Result<(), TrainError> {
    let calib = model.score_frame(calib_frame, source)?;
    model.meta.threshold = method.calibrate(&calib.scores);
    if model.meta.version.is_empty() {
        let (_, weights_bytes) = model.to_bytes()?;
        model.meta.version = model_core::artifact::md5_hex(&weights_bytes)[..12].to_string();
    }
    Ok(())
}

/// Where training time went, summed over every step so far: what the speed benchmark reports
/// next to rows/s, so a slow run shows whether arithmetic or per-step overhead dominates.
#[derive(Debug, Default, Clone, Copy)]
pub struct StepTimes {
    pub steps: usize,
    /// Batch upload, forward pass and loss.
    pub forward: Duration,
    pub backward: Duration,
    /// Adam's update of every parameter.
    pub optimizer: Duration,
}

/// One model being trained: burn autoencoder on the autodiff device, Adam, seeded batch order.
pub struct Trainer {
    /// Always `Some` between calls: `epoch` moves it through each optimizer step, so the
    /// parameters' buffers have one owner and Adam updates them in place.
    model: Option<Autoencoder>,
    optim: ModuleOptimizer,
    device: Device,
    rng: rand_chacha::ChaCha8Rng,
    order: Vec<usize>,
    learning_rate: f64,
    batch_size: usize,
    dim: usize,
    times: StepTimes,
}

impl Trainer {
    pub fn new(backend: Backend, arch: &Architecture, seed: u64, learning_rate: f64, batch_size: usize) -> Trainer {
        let device = backend.device().autodiff();
        let model = AutoencoderConfig::from_arch(arch).init_seeded(&device, seed);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        Trainer {
            model: Some(model),
            optim: ModuleOptimizer::from(FusedAdam::new()),
            device,
            rng,
            order: Vec::new(),
            learning_rate,
            batch_size: batch_size.max(1),
            dim: arch.input,
            times: StepTimes::default(),
        }
    }

    /// One pass over `n` rows in a fresh seeded order; returns the mean training loss.
    ///
    /// It runs on one of rayon's threads (every core by default, RAYON_NUM_THREADS to limit):
    /// a step's row slices then start on that thread, whose caches hold the step's data, and
    /// only the other slices move to other cores; with one thread, everything stays on it.
    pub fn epoch(&mut self, values: &[f32], n: usize) -> f64 {
        rayon::scope(|_| self.epoch_on_this_thread(values, n))
    }

    fn epoch_on_this_thread(&mut self, values: &[f32], n: usize) -> f64 {
        let dim = self.dim;
        if self.order.len() != n {
            self.order = (0..n).collect();
        }
        self.order.shuffle(&mut self.rng);
        let Some(mut model) = self.model.take() else { return f64::NAN };
        let (mut sum, mut count) = (0.0f64, 0usize);
        for chunk in self.order.chunks(self.batch_size) {
            // Gathered straight into the tensor's buffer: one copy of the batch, not two.
            let mut batch = Vec::with_capacity(chunk.len() * dim);
            for &i in chunk {
                batch.extend_from_slice(&values[i * dim..(i + 1) * dim]);
            }
            let started = Instant::now();
            let x: Tensor<2> = Tensor::from_data(TensorData::new(batch, [chunk.len(), dim]), &self.device);
            let loss = model.loss(x);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            let forward_done = Instant::now();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let backward_done = Instant::now();
            model = self.optim.step(self.learning_rate, model, grads);
            self.times.steps += 1;
            self.times.forward += forward_done - started;
            self.times.backward += backward_done - forward_done;
            self.times.optimizer += backward_done.elapsed();
            sum += value * chunk.len() as f64;
            count += chunk.len();
        }
        self.model = Some(model);
        sum / count.max(1) as f64
    }

    pub fn step_times(&self) -> StepTimes {
        self.times
    }

    /// The current weights in the artifact's layout.
    pub fn export(&self) -> Result<Vec<LayerWeights>, String> {
        self.model.as_ref().ok_or("the model was lost in a failed epoch")?.valid().export()
    }
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len().max(1) as f64
}

/// Holds out the tail of the series (`validation_split` of its rows): it is what the model will
/// see next, so early stopping, the error scale and the threshold are judged on it; windows
/// never straddle the split. No tail when either side would be shorter than a window.
pub(crate) fn hold_out_tail(
    frame: &Frame,
    window: Window,
    validation_split: f64,
    source: &str,
) -> Result<(Frame, Option<Frame>), TrainError> {
    let n_val = if validation_split > 0.0 { (frame.n_rows as f64 * validation_split).round() as usize } else { 0 };
    let n_val = if n_val >= window.length && frame.n_rows - n_val >= window.length { n_val } else { 0 };
    let n_train = frame.n_rows - n_val;
    if n_train < window.length {
        return Err(
            DataError::TooFewRows { input: source.to_string(), rows: frame.n_rows, window: window.length }.into()
        );
    }
    Ok(split_rows(frame, n_train))
}

/// The scaler `data.scaling` asks for, fitted on the training rows.
pub(crate) fn fit_scaler(params: &Params, train_frame: &Frame) -> Scaler {
    match params.data.scaling {
        Scaling::Standard => Scaler::fit(train_frame),
        Scaling::Robust => Scaler::fit_robust(train_frame),
    }
}

fn split_rows(frame: &Frame, n_train: usize) -> (Frame, Option<Frame>) {
    let d = frame.n_cols();
    let head = Frame { columns: frame.columns.clone(), n_rows: n_train, values: frame.values[..n_train * d].to_vec() };
    if n_train == frame.n_rows {
        return (head, None);
    }
    let tail = Frame {
        columns: frame.columns.clone(),
        n_rows: frame.n_rows - n_train,
        values: frame.values[n_train * d..].to_vec(),
    };
    (head, Some(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rows: usize) -> Frame {
        Frame {
            columns: vec!["t".into(), "v".into()],
            n_rows: rows,
            values: (0..rows).flat_map(|r| [r as f64, (r * r) as f64]).collect(),
        }
    }

    #[test]
    fn the_held_out_rows_are_the_series_tail_in_time_order() {
        let window = Window { length: 4, stride: 1 };
        let (head, tail) = hold_out_tail(&series(100), window, 0.2, "s.csv").unwrap();
        let tail = tail.unwrap();
        assert_eq!((head.n_rows, tail.n_rows), (80, 20));
        // Row r holds (r, r^2): the head is rows 0..80 and the tail rows 80..100, both in order.
        assert_eq!(head.values, series(80).values);
        assert_eq!(tail.values, (80..100).flat_map(|r| [r as f64, (r * r) as f64]).collect::<Vec<_>>());
        // A tail shorter than a window is not held out: everything trains.
        let (head, tail) = hold_out_tail(&series(12), Window { length: 4, stride: 1 }, 0.2, "s.csv").unwrap();
        assert_eq!((head.n_rows, tail.is_none()), (12, true));
    }
}
