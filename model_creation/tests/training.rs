//! Training behaviour a user relies on: determinism, burn/serving parity, and detection quality
//! of the defaults on the simulated dataset.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use model_core::forward::LeanNetwork;
use model_core::metrics::evaluate;
use model_core::{Architecture, Frame, Model};
use model_creation::params::Params;
use model_creation::simulate::{AnomalyKind, FEATURES, SimulateOptions, generate};
use model_creation::train::model::AutoencoderConfig;
use model_creation::train::{DataInfo, train};

fn frame(rows: &[[f64; 6]]) -> Frame {
    Frame {
        columns: FEATURES.iter().map(|s| s.to_string()).collect(),
        n_rows: rows.len(),
        values: rows.iter().flatten().copied().collect(),
    }
}

fn info() -> DataInfo {
    DataInfo { md5: "0".repeat(32), ignored_columns: vec!["timestamp".into()] }
}

fn train_default(rows: &[[f64; 6]], params: &Params) -> Model {
    train(&frame(rows), info(), params, "train.csv", &mut |_, _, _, _| {}).unwrap()
}

#[test]
fn same_seed_gives_identical_weight_bytes() {
    let ds = generate(&SimulateOptions { seed: 3, train_rows: 800, test_rows: 100 });
    let mut params = Params::default();
    params.train.epochs = 3;
    let (_, a) = train_default(&ds.train, &params).to_bytes().unwrap();
    let (_, b) = train_default(&ds.train, &params).to_bytes().unwrap();
    assert_eq!(a, b, "two runs with the same seed must give the same bytes");
    params.train.seed = 43;
    let (_, c) = train_default(&ds.train, &params).to_bytes().unwrap();
    assert_ne!(a, c, "another seed gives other weights");
}

/// Training shares a step out between cores (row slices, weight-gradient blocks, Adam), never
/// the order of a sum: one core and two give the same bytes. The shape and batch are large
/// enough for every shared-out path (batch 512 = two row slices; 512·128·128 products).
#[test]
fn weights_do_not_depend_on_the_number_of_cores() {
    let (rows, cols) = (1500, 128);
    let frame = Frame {
        columns: (0..cols).map(|c| format!("s{c}")).collect(),
        n_rows: rows,
        values: (0..rows * cols).map(|i| ((i % cols) as f64 * 0.37 + (i / cols) as f64 * 0.011).sin()).collect(),
    };
    let mut params = Params::default();
    params.model.hidden = vec![128, 8, 128];
    params.train.epochs = 2;
    params.train.batch_size = 512;
    let on = |cores: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(cores).build().unwrap();
        let model = pool.install(|| train(&frame, info(), &params, "wide.csv", &mut |_, _, _, _| {}).unwrap());
        model.to_bytes().unwrap().1
    };
    assert!(on(1) == on(2), "one core and two cores trained different weights");
}

#[test]
fn serving_forward_equals_burn_forward() {
    for hidden in [vec![32, 16, 16, 32], vec![128, 8, 128]] {
        let arch = Architecture::new(40, hidden);
        let device = Device::flex();
        let model = AutoencoderConfig::from_arch(&arch).init_seeded(&device.clone().autodiff(), 5).valid();
        let lean = LeanNetwork::new(&arch, model.export().unwrap());
        for n in [1usize, 3, 100] {
            let x: Vec<f32> = (0..n * 40).map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0).collect();
            let t: Tensor<2> = Tensor::from_data(TensorData::new(x.clone(), [n, 40]), &device);
            let burn_y = model.forward(t).into_data().try_to_vec::<f32>().unwrap();
            let lean_y = lean.reconstruct(&x, n);
            let max_diff = burn_y.iter().zip(&lean_y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(max_diff <= 1e-5, "batch {n}: max |burn - lean| = {max_diff}");
        }
    }
}

#[test]
fn defaults_detect_every_injected_anomaly_kind_on_simulated_data() {
    let ds = generate(&SimulateOptions::default());
    let model = train_default(&ds.train, &Params::default());
    let test = frame(&ds.test);
    let scores = model.score_frame(&test, "test.csv").unwrap();
    let labels: Vec<bool> = ds.labels.iter().map(|l| *l == 1).collect();
    let m = evaluate(&scores.scores, &labels, scores.threshold);
    assert!(m.roc_auc >= 0.9, "ROC-AUC {} < 0.9", m.roc_auc);
    let flags = scores.flags();
    for kind in [AnomalyKind::Spike, AnomalyKind::LevelShift, AnomalyKind::FrozenSensor, AnomalyKind::CorrelationBreak]
    {
        let segments: Vec<_> = ds.anomalies.iter().filter(|a| a.kind == kind).collect();
        assert!(!segments.is_empty());
        for a in segments {
            let hit = (a.start..a.start + a.len).any(|r| flags[r]);
            assert!(hit, "{} on {} at rows {}..{} not flagged", kind.name(), a.channel, a.start, a.start + a.len);
        }
    }
    // False alarms stay rare on the normal rows.
    assert!(m.fpr < 0.05, "false positive rate {}", m.fpr);

    // The explanation names the faulty sensor: at the highest-scoring row of each spike or
    // level shift, the feature with the largest share is the channel the fault was put on, and
    // the shares sum to the row's score.
    for a in ds.anomalies.iter().filter(|a| matches!(a.kind, AnomalyKind::Spike | AnomalyKind::LevelShift)) {
        let segment = a.start..a.start + a.len;
        let peak = segment.clone().max_by(|x, y| scores.scores[*x].total_cmp(&scores.scores[*y])).unwrap();
        let explained = model.explain(&test, &[peak], 3).unwrap();
        let top = &explained[0].features;
        assert_eq!(FEATURES[top[0].feature], a.channel, "{} at row {peak}: {top:?}", a.kind.name());
        let all = model.explain(&test, &[peak], FEATURES.len()).unwrap();
        let sum: f64 = all[0].features.iter().map(|f| f.share).sum();
        let score = f64::from(scores.scores[peak]);
        assert!((sum - score).abs() <= 1e-4 * score, "shares {sum} != score {score}");
    }
}

#[test]
fn the_isolation_forest_is_deterministic_and_detects_simulated_anomalies() {
    use model_creation::train::forest::train_forest;
    let ds = generate(&SimulateOptions { seed: 5, train_rows: 2000, test_rows: 1500 });
    let mut params = Params::default();
    let fit = |p: &Params| train_forest(&frame(&ds.train), info(), p, "train.csv").unwrap();
    let (_, a) = fit(&params).to_bytes().unwrap();
    let (_, b) = fit(&params).to_bytes().unwrap();
    assert_eq!(a, b, "two fits with the same seed must give the same bytes");
    params.train.seed = 43;
    let (_, c) = fit(&params).to_bytes().unwrap();
    assert_ne!(a, c, "another seed gives another forest");
    let model = fit(&Params::default());
    let scores = model.score_frame(&frame(&ds.test), "test.csv").unwrap();
    let labels: Vec<bool> = ds.labels.iter().map(|l| *l == 1).collect();
    let m = evaluate(&scores.scores, &labels, scores.threshold);
    assert!(m.roc_auc > 0.6, "ROC-AUC {}", m.roc_auc);
    // A forest's path lengths do not split by feature: it says so instead of explaining.
    assert!(!model.explains());
    assert!(model.explain(&frame(&ds.test), &scores.anomalies, 3).is_none());
}

#[test]
fn a_constant_channel_gets_a_floored_error_scale_never_a_division_by_zero() {
    let ds = generate(&SimulateOptions { seed: 6, train_rows: 1200, test_rows: 300 });
    let constant: Vec<[f64; 6]> = ds.train.iter().map(|r| [r[0], r[1], r[2], r[3], r[4], 230.0]).collect();
    let mut params = Params::default();
    params.train.epochs = 5;
    params.score.normalise = true;
    let model = train_default(&constant, &params);
    let scale = &model.meta.scoring.error_scale;
    assert_eq!(scale.len(), 6);
    assert!(scale.iter().all(|e| e.is_finite() && *e > 0.0), "{scale:?}");
    // Perfectly predicted on the held-out rows, the constant channel sits on the floor (the
    // median feature's scale): no feature is weighed more than it.
    assert!(scale.iter().all(|e| *e >= scale[5]) && scale[5] > 1e-6, "floored: {scale:?}");
    // The same rows score finite; the constant channel moving is an anomaly, not an overflow.
    let test: Vec<[f64; 6]> = ds.test.iter().map(|r| [r[0], r[1], r[2], r[3], r[4], 230.0]).collect();
    let normal = model.score_frame(&frame(&test), "test.csv").unwrap();
    assert!(normal.scores.iter().all(|s| s.is_finite()));
    let moved: Vec<[f64; 6]> = test.iter().map(|r| [r[0], r[1], r[2], r[3], r[4], 240.0]).collect();
    let moved = model.score_frame(&frame(&moved), "test.csv").unwrap();
    assert!(moved.scores.iter().all(|s| s.is_finite() && f64::from(*s) > moved.threshold));
}
