//! The model directory round-trips exactly and every kind of damage gets a precise error.

mod common;

use model_core::Model;
use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE};

fn frame_csv() -> String {
    let mut s = String::from("a,b,c\n");
    for i in 0..50 {
        let x = i as f64 * 0.1;
        s.push_str(&format!("{},{},{}\n", x.sin(), x.cos(), x * 0.2));
    }
    s
}

#[test]
fn save_load_gives_same_scores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    let mut model = common::toy_model(&["a", "b", "c"], 1, vec![4, 2, 4]);
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.meta, model.meta);
    let (_, a) = model.score_csv(frame_csv().as_bytes(), "x").unwrap();
    let (_, b) = loaded.score_csv(frame_csv().as_bytes(), "x").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.scores.len(), 50);
    // Saving again replaces the model atomically and leaves no temporary directories behind.
    model.save(&path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model")]);
}

#[test]
fn windowed_model_scores_every_row() {
    let mut model = common::toy_model(&["a"], 5, vec![3]);
    let dir = tempfile::tempdir().unwrap();
    model.save(&dir.path().join("m")).unwrap();
    let csv: String = std::iter::once("a\n".to_string()).chain((0..12).map(|i| format!("{i}\n"))).collect();
    let (_, s) = model.score_csv(csv.as_bytes(), "x").unwrap();
    assert_eq!(s.scores.len(), 12);
    let e = model.score_csv("a\n1\n2\n".as_bytes(), "body").unwrap_err().to_string();
    assert!(e.contains("fewer than one window of 5"), "{e}");
}

fn saved() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    common::toy_model(&["a", "b", "c"], 1, vec![4, 2, 4]).save(&path).unwrap();
    (dir, path)
}

fn load_err(path: &std::path::Path) -> String {
    Model::load(path).unwrap_err().to_string()
}

#[test]
fn missing_files() {
    let (_d, path) = saved();
    std::fs::remove_file(path.join(WEIGHTS_FILE)).unwrap();
    assert!(load_err(&path).contains("weights.safetensors is missing"));
    let (_d2, path) = saved();
    std::fs::remove_file(path.join(METADATA_FILE)).unwrap();
    assert!(load_err(&path).contains("metadata.json is missing"));
}

#[test]
fn unsupported_version() {
    let (_d, path) = saved();
    let meta = std::fs::read_to_string(path.join(METADATA_FILE)).unwrap();
    std::fs::write(path.join(METADATA_FILE), meta.replace("\"format_version\": 2", "\"format_version\": 7")).unwrap();
    let e = load_err(&path);
    assert!(e.contains("format version 7 is not supported") && e.contains("reads versions 1 to 2"), "{e}");
}

#[test]
fn corrupt_weights_are_detected() {
    let (_d, path) = saved();
    let mut bytes = std::fs::read(path.join(WEIGHTS_FILE)).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x55;
    std::fs::write(path.join(WEIGHTS_FILE), &bytes).unwrap();
    let e = load_err(&path);
    assert!(e.contains("weights are corrupt") && e.contains("md5"), "{e}");
}

#[test]
fn shape_mismatch_names_tensor() {
    let (_d, path) = saved();
    let meta = std::fs::read_to_string(path.join(METADATA_FILE)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&meta).unwrap();
    v["architecture"]["hidden"] = serde_json::json!([4, 3, 4]);
    std::fs::write(path.join(METADATA_FILE), serde_json::to_vec(&v).unwrap()).unwrap();
    let e = load_err(&path);
    assert!(e.contains("tensor \"layers.1.weight\" has shape [4, 2]") && e.contains("expects [4, 3]"), "{e}");
}

#[test]
fn inconsistent_metadata() {
    let (_d, path) = saved();
    let meta = std::fs::read_to_string(path.join(METADATA_FILE)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&meta).unwrap();
    v["features"] = serde_json::json!(["a", "b"]);
    std::fs::write(path.join(METADATA_FILE), serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(load_err(&path).contains("architecture input is 3 but 2 feature(s)"));
    std::fs::write(path.join(METADATA_FILE), "{not json").unwrap();
    assert!(load_err(&path).contains("metadata is not valid JSON"));
}

#[test]
fn the_scoring_definition_round_trips_and_is_checked_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    let mut model = common::toy_model(&["a", "b", "c"], 2, vec![4, 2, 4]);
    model.meta.scoring = model_core::Scoring { error_scale: vec![0.5, 1.0, 4.0], smoothing: 3 };
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.meta.scoring, model.meta.scoring);
    assert_eq!(loaded.meta.format_version, 2);
    let (_, a) = model.score_csv(frame_csv().as_bytes(), "x").unwrap();
    let (_, b) = loaded.score_csv(frame_csv().as_bytes(), "x").unwrap();
    assert_eq!(a, b);

    let meta = std::fs::read_to_string(path.join(METADATA_FILE)).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&meta).unwrap();
    for (scoring, expected) in [
        (serde_json::json!({"error_scale": [1.0, 2.0], "smoothing": 1}), "scoring.error_scale has 2 value(s) for 3"),
        (
            serde_json::json!({"error_scale": [1.0, 0.0, 2.0], "smoothing": 1}),
            "scoring.error_scale of feature \"b\" is 0",
        ),
        (serde_json::json!({"error_scale": [], "smoothing": 0}), "scoring.smoothing must be at least 1"),
    ] {
        json["scoring"] = scoring;
        std::fs::write(path.join(METADATA_FILE), serde_json::to_vec(&json).unwrap()).unwrap();
        let e = load_err(&path);
        assert!(e.contains(expected), "{e}");
    }
}

#[test]
fn a_per_feature_error_scale_divides_each_features_squared_error() {
    let mut model = common::toy_model(&["a", "b", "c"], 1, vec![4, 2, 4]);
    let (_, plain) = model.score_csv(frame_csv().as_bytes(), "x").unwrap();
    // The same scale for every feature divides every score by it.
    model.meta.scoring.error_scale = vec![4.0; 3];
    let (_, scaled) = model.score_csv(frame_csv().as_bytes(), "x").unwrap();
    for (p, s) in plain.scores.iter().zip(&scaled.scores) {
        assert!((p / 4.0 - s).abs() <= 1e-6 * p.abs().max(1e-30), "{p} / 4 != {s}");
    }
}

#[test]
fn the_error_scale_is_a_robust_typical_error_that_a_few_outlying_held_out_rows_do_not_move() {
    use model_core::score::feature_error_scale;
    let model = common::toy_model(&["a", "b", "c"], 1, vec![4, 2, 4]);
    let network = model.network().unwrap();
    // 400 held-out rows of noise-like inputs, then the same with 10 huge values in feature "b".
    let mut state = 7u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let clean: Vec<f32> = (0..400 * 3).map(|_| next()).collect();
    let mut outlying = clean.clone();
    for row in 0..10 {
        outlying[row * 40 * 3 + 1] = 1000.0;
    }
    let base = feature_error_scale(network, &clean, 400, 3);
    let moved = feature_error_scale(network, &outlying, 400, 3);
    // Each feature's scale is its median squared error over the chi-square median (floored at
    // the median feature's), written out here from the network's own reconstruction.
    let y = network.reconstruct(&clean, 400);
    let mut typical: Vec<f64> = (0..3)
        .map(|f| {
            let mut e: Vec<f64> = (0..400)
                .map(|r| (f64::from(clean[r * 3 + f]) - f64::from(y[r * 3 + f])).powi(2) as f32 as f64)
                .collect();
            e.sort_by(f64::total_cmp);
            (e[199] + e[200]) / 2.0 / 0.454_936_423_119_572_8
        })
        .collect();
    let mut sorted = typical.clone();
    sorted.sort_by(f64::total_cmp);
    for t in &mut typical {
        *t = t.max(sorted[1]);
    }
    for (got, want) in base.iter().zip(&typical) {
        assert!((got - want).abs() <= 1e-9 * want, "{base:?} != {typical:?}");
    }
    // 2.5 % of the rows off by orders of magnitude barely move "b"'s scale (a mean would
    // multiply it by thousands and weigh the channel down to nothing).
    assert!(moved[1] < base[1] * 1.5, "{base:?} -> {moved:?}");
    for f in [0, 2] {
        assert!((moved[f] / base[f] - 1.0).abs() < 0.2, "{base:?} -> {moved:?}");
    }
}

#[test]
fn smoothing_is_a_trailing_mean_and_a_huge_score_leaves_no_trace() {
    use model_core::score::smooth_trailing;
    assert_eq!(smooth_trailing(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
    assert_eq!(smooth_trailing(&[1.0, 3.0], 1), vec![1.0, 3.0]);
    let s = smooth_trailing(&[1.0, f32::MAX, f32::MAX, 1.0, 1.0, 1.0], 2);
    assert_eq!(s[1], f32::MAX / 2.0 + 0.5);
    // Two windows after the huge scores the mean is exactly 1 again (no running-sum rounding).
    assert_eq!(&s[4..], &[1.0, 1.0]);
}
