//! The project's own pipeline (`model_creation/dvc.yaml` + `params.yaml`), run as the README
//! Quickstart runs it, on a copy of the repository's pipeline files and sources: `repro` trains
//! on simulated data and writes the model, both plots and the metrics; a second `repro` runs
//! nothing; real dvc agrees everything is up to date; a change to `model_core`'s source makes
//! training stale again.

mod pipeline_support;

use std::path::Path;

use pipeline_support::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// A scratch repository laid out like this one: `.dvc/`, `model_creation/{dvc.yaml,
/// params.yaml,src}` and `model_core/src`.
fn project_copy() -> tempfile::TempDir {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path();
    // Not the repository's .dvc/ itself: its cache may hold gigabytes.
    std::fs::create_dir_all(root.join(".dvc")).expect("mkdir .dvc");
    std::fs::write(root.join(".dvc/config"), "[core]\n    no_scm = True\n").expect("config");
    std::fs::copy(repo.join(".dvcignore"), root.join(".dvcignore")).expect(".dvcignore");
    for f in ["dvc.yaml", "params.yaml"] {
        std::fs::create_dir_all(root.join("model_creation")).expect("mkdir");
        std::fs::copy(repo.join("model_creation").join(f), root.join("model_creation").join(f)).expect("copy");
    }
    copy_dir(&repo.join("model_creation/src"), &root.join("model_creation/src"));
    copy_dir(&repo.join("model_core/src"), &root.join("model_core/src"));
    d
}

#[test]
fn repro_trains_on_simulated_data_then_has_nothing_to_do() {
    let d = project_copy();
    let wd = d.path().join("model_creation");

    let first = run_ok(&ours(), &wd, &["repro"]);
    for stage in ["simulate", "train", "evaluate"] {
        assert!(
            first.contains(&format!("Running stage 'model_creation/dvc.yaml:{stage}'")),
            "{stage} did not run:\n{first}"
        );
    }
    for out in [
        "model/metadata.json",
        "model/weights.safetensors",
        "graph/training_loss.png",
        "evaluation/result.png",
        "evaluation/metrics.json",
        "evaluation/scores.csv",
    ] {
        assert!(wd.join(out).is_file(), "repro did not write {out}");
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wd.join("evaluation/metrics.json")).expect("metrics"))
            .expect("json");
    let roc = metrics["roc_auc"].as_f64().unwrap_or_else(|| panic!("no roc_auc in {metrics}"));
    assert!(roc >= 0.9, "the default pipeline should detect the simulated anomalies, ROC-AUC {roc}");

    let second = run_ok(&ours(), &wd, &["repro"]);
    assert!(!second.contains("Running stage"), "a second repro should run nothing:\n{second}");
    assert_eq!(status_json(&ours(), &wd), serde_json::json!({}));
    if let Some(dvc) = dvc() {
        assert_eq!(status_json(&dvc, &wd), serde_json::json!({}), "real dvc sees our run as out of date");
    }

    // A change to the shared core (the forward pass, scoring) must retrain.
    let lib = d.path().join("model_core/src/lib.rs");
    let mut src = std::fs::read_to_string(&lib).expect("lib.rs");
    src.push_str("\n// changed\n");
    std::fs::write(&lib, src).expect("write");
    let dry = run_ok(&ours(), &wd, &["repro", "--dry"]);
    assert!(
        dry.contains("Running stage 'model_creation/dvc.yaml:train'"),
        "a model_core change should retrain:\n{dry}"
    );
    assert!(
        !dry.contains("Running stage 'model_creation/dvc.yaml:simulate'"),
        "simulate does not depend on model_core:\n{dry}"
    );
}
