//! The `model-creation` commands end to end, as a user runs them.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_model-creation"))
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn train(data: &Path, out: &Path, params: &Path, plots: &Path) -> (bool, String) {
    run(bin().args([
        "train",
        "--data",
        path(data),
        "--out",
        path(out),
        "--params",
        path(params),
        "--plots",
        path(plots),
    ]))
}

#[test]
fn simulate_train_evaluate_score() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let (ok, err) = run(bin().args(["simulate", "--out", path(&data), "--seed", "11"]));
    assert!(ok, "{err}");
    for f in ["train.csv", "test.csv", "labels.csv", "anomalies.csv"] {
        assert!(data.join(f).is_file(), "{f} missing");
    }
    let params = d.join("params.yaml");
    std::fs::write(&params, "train:\n  epochs: 5\n  seed: 1\nother_stage:\n  anything: 1\n").unwrap();
    let model = d.join("model");
    let graph = d.join("graph");
    let (ok, err) = train(&data.join("train.csv"), &model, &params, &graph);
    assert!(ok, "{err}");
    assert!(err.contains("trained 5 epochs"), "{err}");
    assert!(graph.join("training_loss.png").is_file());
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["features"].as_array().unwrap().len(), 6, "timestamp is not a feature");
    assert_eq!(meta["ignored_columns"][0], "timestamp");
    assert_eq!(meta["training"]["params"]["train"]["epochs"], 5);

    let eval = d.join("eval");
    let (ok, err) = run(bin().args([
        "evaluate",
        "--model",
        path(&model),
        "--data",
        path(&data.join("test.csv")),
        "--labels",
        path(&data.join("labels.csv")),
        "--out",
        path(&eval),
    ]));
    assert!(ok, "{err}");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(eval.join("metrics.json")).unwrap()).unwrap();
    for k in ["roc_auc", "pr_auc", "best_f1", "precision", "recall", "f1", "fpr", "fnr"] {
        assert!(metrics[k].is_number(), "metrics.json lacks {k}");
    }
    assert!(std::fs::read(eval.join("result.png")).unwrap().starts_with(b"\x89PNG"));
    let scores = std::fs::read_to_string(eval.join("scores.csv")).unwrap();
    let test_rows = std::fs::read_to_string(data.join("test.csv")).unwrap().lines().count() - 1;
    assert_eq!(scores.lines().next(), Some("score,anomaly"));
    assert_eq!(scores.lines().count() - 1, test_rows);

    let out = d.join("scored.csv");
    let (ok, err) = run(bin().args([
        "score",
        "--model",
        path(&model),
        "--data",
        path(&data.join("test.csv")),
        "--out",
        path(&out),
    ]));
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), scores);

    // Without labels, evaluate reports score statistics instead.
    let (ok, err) = run(bin().args([
        "evaluate",
        "--model",
        path(&model),
        "--data",
        path(&data.join("test.csv")),
        "--out",
        path(&d.join("e2")),
    ]));
    assert!(ok, "{err}");
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("e2/metrics.json")).unwrap()).unwrap();
    assert!(stats["score_p99"].is_number());
}

#[test]
fn bad_inputs_fail_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = d.join("bad.csv");
    std::fs::write(&csv, "a,b\n1,2\n3,oops\n").unwrap();
    let (ok, err) = run(bin().args(["train", "--data", path(&csv), "--out", path(&d.join("m"))]));
    assert!(!ok);
    assert!(err.contains("bad.csv: line 3: column \"b\": \"oops\" is not a number"), "{err}");
    assert!(!d.join("m").exists(), "no model is written on failure");

    let params = d.join("params.yaml");
    std::fs::write(&params, "train:\n  epoch: 5\n").unwrap();
    std::fs::write(&csv, "a,b\n1,2\n3,4\n").unwrap();
    let (ok, err) =
        run(bin().args(["train", "--data", path(&csv), "--out", path(&d.join("m")), "--params", path(&params)]));
    assert!(!ok);
    assert!(err.contains("params.yaml") && err.contains("unknown field `epoch`"), "{err}");

    let (ok, err) = run(bin().args([
        "score",
        "--model",
        path(&d.join("nomodel")),
        "--data",
        path(&csv),
        "--out",
        path(&d.join("o.csv")),
    ]));
    assert!(!ok);
    assert!(err.contains("metadata.json is missing"), "{err}");
}

#[test]
fn univariate_series_is_windowed_and_every_row_scored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = d.join("series.csv");
    let mut s = String::from("timestamp,value\n");
    for i in 0..400 {
        s.push_str(&format!("{i},{}\n", (i as f64 / 8.0).sin()));
    }
    std::fs::write(&csv, &s).unwrap();
    let params = d.join("p.yaml");
    std::fs::write(&params, "train:\n  epochs: 3\n").unwrap();
    let model = d.join("m");
    let (ok, err) = train(&csv, &model, &params, d);
    assert!(ok, "{err}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["window"]["length"], 32);
    assert_eq!(meta["architecture"]["input"], 32);
    let out = d.join("s.csv");
    let (ok, err) = run(bin().args(["score", "--model", path(&model), "--data", path(&csv), "--out", path(&out)]));
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 401);
    let short = d.join("short.csv");
    std::fs::write(&short, "value\n1\n2\n").unwrap();
    let (ok, err) = run(bin().args(["score", "--model", path(&model), "--data", path(&short), "--out", path(&out)]));
    assert!(!ok);
    assert!(err.contains("2 row(s) is fewer than one window of 32"), "{err}");
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_backend_trains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ok, err) = run(bin().args(["simulate", "--out", path(d)]));
    assert!(ok, "{err}");
    let params = d.join("p.yaml");
    std::fs::write(&params, "train:\n  epochs: 2\n  backend: ndarray\n").unwrap();
    let (ok, err) = train(&d.join("train.csv"), &d.join("m"), &params, d);
    assert!(ok, "{err}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("m/metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["training"]["backend"], "ndarray");
}

/// Every error reaches the user with each cause once: the command's context, the file, and the
/// operating system's reason, never the same text twice.
#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let (ok, err) = run(bin().args(["simulate", "--out", path(&data)]));
    assert!(ok, "{err}");
    let missing = d.join("no-params.yaml");
    let (ok, err) = train(&data.join("train.csv"), &d.join("model"), &missing, d);
    assert!(!ok);
    assert!(err.contains("no-params.yaml: cannot read"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    // A model directory whose metadata.json is a directory: the artifact error and its cause.
    let model = d.join("bad-model");
    std::fs::create_dir_all(model.join("metadata.json")).unwrap();
    std::fs::write(model.join("weights.safetensors"), b"").unwrap();
    let (ok, err) = run(bin().args([
        "score",
        "--model",
        path(&model),
        "--data",
        path(&data.join("test.csv")),
        "--out",
        path(&d.join("s.csv")),
    ]));
    assert!(!ok);
    assert!(err.contains("metadata.json: cannot read or write"), "{err}");
    assert_eq!(err.matches("Is a directory").count(), 1, "{err}");
}

/// `train` and `score` name the line an editor shows for a bad cell, in CRLF and CR-only files
/// and after empty lines.
#[test]
fn data_errors_name_the_editor_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = d.join("bad.csv");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model_core/tests/fixtures/scoring/multivariate/model");
    let input = std::fs::read_to_string(model.join("../input.csv")).unwrap();
    let lines: Vec<&str> = input.lines().take(10).collect();
    for end in ["\n", "\r\n", "\r"] {
        std::fs::write(&csv, ["a,b", "1,2", "", "", "3,oops", "5,6"].join(end)).unwrap();
        let (ok, err) = run(bin().args(["train", "--data", path(&csv), "--out", path(&d.join("m"))]));
        assert!(!ok);
        assert!(err.contains("bad.csv: line 5: column \"b\": \"oops\" is not a number"), "{end:?}: {err}");

        // Header, 3 rows, an empty line, the bad row on line 6.
        let bad = lines[4].replacen(',', ",x", 2);
        let text = [&lines[..4], &[""], &[bad.as_str()], &lines[5..]].concat().join(end);
        std::fs::write(&csv, text).unwrap();
        let (ok, err) =
            run(bin().args(["score", "--model", path(&model), "--data", path(&csv), "--out", path(&d.join("s.csv"))]));
        assert!(!ok);
        assert!(err.contains("bad.csv: line 6: column"), "{end:?}: {err}");
    }
}

/// A URL with credentials in it never reaches the terminal with them: not from `publish --to`,
/// not from a remote's URL or endpoint.
#[test]
fn errors_hide_the_credentials_of_urls() {
    let secret = "s3cr3tpw";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let in_repo = |args: &[&str]| {
        run(bin().current_dir(d).env_remove("AWS_ENDPOINT_URL").env_remove("AWS_ENDPOINT_URL_S3").args(args))
    };
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model_core/tests/fixtures/scoring/multivariate/model");
    let (ok, err) = in_repo(&["publish", "--model", path(&model), "--to", &format!("s3://AKIA:{secret}@models/ae/1/")]);
    assert!(!ok);
    assert!(!err.contains(secret) && err.contains("s3://***@models/ae/1/"), "{err}");

    std::fs::write(d.join("data.txt"), "x\n").unwrap();
    for args in [
        &["init"][..],
        &["add", "data.txt"],
        &["remote", "add", "-d", "r", "s3://bucket/cache"],
        &["remote", "modify", "r", "endpointurl", &format!("http://minio:{secret}@127.0.0.1:9")],
        &["remote", "modify", "--local", "r", "access_key_id", "AKIAEXAMPLE"],
        &["remote", "modify", "--local", "r", "secret_access_key", "wJalrXUtnFEMI"],
    ] {
        let (ok, err) = in_repo(args);
        assert!(ok, "{args:?}: {err}");
    }
    let (ok, err) = in_repo(&["push"]);
    assert!(!ok);
    assert!(!err.contains(secret) && err.contains("http://***@127.0.0.1:9"), "{err}");
    assert!(!err.contains("wJalrXUtnFEMI"), "{err}");
}

/// The Isolation Forest as a model of its own, as a baseline in `evaluate`, and the quality
/// report over a folder of labelled series.
#[test]
fn isolation_forest_model_baseline_and_benchmark() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bench = d.join("bench");
    for (name, seed) in [("plant-a", "21"), ("plant-b", "22")] {
        let (ok, err) = run(bin().args(["simulate", "--out", path(&bench.join(name)), "--seed", seed]));
        assert!(ok, "{err}");
    }
    let data = bench.join("plant-a");
    let params = d.join("params.yaml");
    std::fs::write(&params, "train:\n  epochs: 3\nforest:\n  n_estimators: 50\n").unwrap();

    // train --kind iforest: a model file that evaluate and score read like any other.
    let model = d.join("forest");
    let (ok, err) = run(bin().args([
        "train",
        "--kind",
        "iforest",
        "--data",
        path(&data.join("train.csv")),
        "--out",
        path(&model),
        "--params",
        path(&params),
        "--plots",
        path(&d.join("graph")),
    ]));
    assert!(ok, "{err}");
    assert!(err.contains("fitted an Isolation Forest (50 trees"), "{err}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["kind"], "isolation_forest");
    assert_eq!(meta["window"]["length"], 1, "row by row, as scikit-learn's");
    let eval = d.join("eval-forest");
    let (ok, err) = run(bin().args([
        "evaluate",
        "--model",
        path(&model),
        "--data",
        path(&data.join("test.csv")),
        "--labels",
        path(&data.join("labels.csv")),
        "--out",
        path(&eval),
    ]));
    assert!(ok, "{err}");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(eval.join("metrics.json")).unwrap()).unwrap();
    assert!(metrics["roc_auc"].as_f64().unwrap() > 0.6, "{metrics}");
    let out = d.join("forest-scores.csv");
    let (ok, err) = run(bin().args([
        "score",
        "--model",
        path(&model),
        "--data",
        path(&data.join("test.csv")),
        "--out",
        path(&out),
    ]));
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(eval.join("scores.csv")).unwrap());

    // evaluate --baseline iforest: the autoencoder's metrics with the baseline's beside them.
    let ae = d.join("ae");
    let (ok, err) = train(&data.join("train.csv"), &ae, &params, &d.join("graph"));
    assert!(ok, "{err}");
    let eval = d.join("eval-ae");
    let (ok, err) = run(bin().args([
        "evaluate",
        "--model",
        path(&ae),
        "--data",
        path(&data.join("test.csv")),
        "--labels",
        path(&data.join("labels.csv")),
        "--out",
        path(&eval),
        "--baseline",
        "iforest",
        "--train-data",
        path(&data.join("train.csv")),
    ]));
    assert!(ok, "{err}");
    assert!(err.contains("Isolation Forest baseline: ROC-AUC"), "{err}");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(eval.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["baseline"]["kind"], "iforest");
    for k in ["roc_auc", "pr_auc", "best_f1"] {
        assert!(metrics[k].is_number() && metrics["baseline"][k].is_number(), "{k}: {metrics}");
    }
    let (ok, err) = run(bin().args(["evaluate", "--model", path(&ae), "--data", path(&data.join("test.csv"))]).args([
        "--out",
        path(&eval),
        "--baseline",
        "iforest",
    ]));
    assert!(!ok && err.contains("--train-data"), "the baseline needs the training rows: {err}");

    // benchmark: one line per series, the mean, and the same as JSON.
    let json = d.join("quality.json");
    let out = bin()
        .args(["benchmark", "--data", path(&bench), "--params", path(&params), "--json", path(&json)])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("roc_auc") && lines[0].contains("if_roc"), "{table}");
    assert!(
        lines[1].starts_with("plant-a") && lines[2].starts_with("plant-b") && lines[3].starts_with("mean"),
        "{table}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["series"].as_array().unwrap().len(), 2);
    let mean = (report["series"][0]["model"]["pr_auc"].as_f64().unwrap()
        + report["series"][1]["model"]["pr_auc"].as_f64().unwrap())
        / 2.0;
    assert!((report["mean"]["pr_auc"].as_f64().unwrap() - mean).abs() < 1e-12, "{report}");
    assert!(report["baseline_mean"]["roc_auc"].as_f64().unwrap() > 0.5, "{report}");
    let out = bin().args(["benchmark", "--data", path(d.join("graph").as_path())]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no folder holds train.csv, test.csv and labels.csv"), "{err}");
}
