//! Writes the benchmark inputs of `scripts/bench_serving.sh`: two models for 32 features with the
//! default hidden layers 32-16-16-32, and CSV bodies of 100 and 10,000 rows.
//!
//! - `model`: row by row (window 1), 32->32->16->16->32->32, the shape of the FastAPI + PyTorch
//!   reference the targets compare against.
//! - `model_w4`: window 4 (128 inputs, about 4x the arithmetic), what `model-creation train`
//!   builds by default for a 32-column table.
//! - `model_f`: `model`'s shape with synth.py's feature names (f0..f31), the names the streaming
//!   reference consumer reads (`scripts/bench_streaming.sh`).
//!
//! The weights are pseudo-random: scoring speed depends on the shapes, not on the values, and
//! this keeps the benchmark free of a burn build. As a trained model does, each carries the
//! training distribution of its features (drift tracking) and a threshold at the 99th percentile
//! of training-like scores, so about 1 % of the bodies' rows are anomalous and explained, as on
//! live traffic. Usage: `bench_model OUT_DIR`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use model_core::artifact::{FORMAT_VERSION, ModelMetadata, TrainingInfo};
use model_core::{Architecture, Frame, Model, PointAggregation, Scaler, Threshold, ThresholdMethod, Window};

const FEATURES: usize = 32;

/// Small deterministic generator (no rand dependency for a benchmark input).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
    }
}

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: bench_model OUT_DIR"))?);
    std::fs::create_dir_all(&out)?;
    let features: Vec<String> = (0..FEATURES).map(|i| format!("sensor_{i:02}")).collect();
    let mut rng = Lcg(42);
    // Training-like data: the bodies' distribution.
    let training = Frame {
        columns: features.clone(),
        n_rows: 10_000,
        values: (0..10_000 * FEATURES).map(|_| rng.next() * 2.0).collect(),
    };
    write_model(&out.join("model"), &training, 1, &mut rng)?;
    write_model(&out.join("model_w4"), &training, 4, &mut rng)?;

    for rows in [100usize, 10_000] {
        let mut csv = String::from("timestamp,");
        csv.push_str(&features.join(","));
        csv.push('\n');
        for r in 0..rows {
            write!(csv, "{r}")?;
            for _ in 0..FEATURES {
                write!(csv, ",{:.4}", rng.next() * 2.0)?;
            }
            csv.push('\n');
        }
        std::fs::write(out.join(format!("body_{rows}.csv")), csv)?;
    }
    // After the bodies, which stay as they were before this model existed.
    let synth_names = Frame { columns: (0..FEATURES).map(|i| format!("f{i}")).collect(), ..training };
    write_model(&out.join("model_f"), &synth_names, 1, &mut rng)?;
    println!("wrote {0}/model, {0}/model_w4, {0}/model_f, body_100.csv and body_10000.csv", out.display());
    Ok(())
}

/// A model of `window` rows per input over the features of `training`, default hidden layers,
/// random weights, calibrated on `training`.
fn write_model(dir: &Path, training: &Frame, window: usize, rng: &mut Lcg) -> anyhow::Result<()> {
    let features = &training.columns;
    let arch = Architecture::new(FEATURES * window, model_core::arch::DEFAULT_HIDDEN.to_vec());
    let weights = arch
        .layer_dims()
        .into_iter()
        .map(|(d_in, d_out)| {
            let scale = (1.0 / d_in as f64).sqrt();
            let w = (0..d_in * d_out).map(|_| (rng.next() * scale) as f32).collect();
            let b = (0..d_out).map(|_| (rng.next() * 0.01) as f32).collect();
            (w, b)
        })
        .collect();
    let meta = ModelMetadata {
        format_version: FORMAT_VERSION,
        kind: model_core::ModelKind::Autoencoder,
        name: format!("bench-32-w{window}"),
        version: "1".into(),
        created_by: "model_serving bench_model".into(),
        features: features.to_vec(),
        ignored_columns: vec!["timestamp".into()],
        window: Window { length: window, stride: 1 },
        point_aggregation: PointAggregation::Max,
        architecture: arch,
        scaler: Scaler { mean: vec![0.0; FEATURES], std: vec![1.0; FEATURES] },
        scoring: model_core::Scoring::default(),
        threshold: Threshold { value: 1.5, method: ThresholdMethod::Quantile { q: 0.99 }, calibration_scores: 1000 },
        reference: model_core::drift::reference(training),
        training: TrainingInfo {
            data_md5: "0".repeat(32),
            data_rows: 0,
            params: serde_json::json!({}),
            backend: "none".into(),
            epochs_run: 0,
            best_epoch: 0,
            final_train_loss: 0.0,
            final_val_loss: 0.0,
            train_loss: vec![],
            val_loss: vec![],
        },
        weights_md5: String::new(),
    };
    let mut model = Model::from_parts(meta, weights)?;
    let mut scores = model.score_frame(training, "training-like data")?.scores;
    scores.sort_by(f32::total_cmp);
    model.meta.threshold.value = f64::from(scores[scores.len() * 99 / 100]);
    model.save(dir)?;
    Ok(())
}
