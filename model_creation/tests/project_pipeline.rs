//! The project's own pipeline (`model_creation/dvc.yaml` + `params.yaml`), run as the README
//! Quickstart runs it, on a copy of the repository's pipeline files and sources: `repro` trains
//! on simulated data and writes the model, both plots and the metrics; a second `repro` runs
//! nothing; real dvc agrees everything is up to date; a change to `model_core`'s source makes
//! training stale again. And the parameter search example (`examples/search`): a matrix of
//! tiny trainings run by `exp run`, the best picked by `select`, all of it restored from the
//! run-cache once computed, and its dvc.lock read by real dvc.

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

/// What `select` documents: the largest metric wins, ties go to the first run name.
fn documented_best(runs: &Path, metric: &str) -> (String, f64) {
    let mut names: Vec<String> = std::fs::read_dir(runs)
        .expect("runs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut best: Option<(String, f64)> = None;
    for n in names {
        let text = std::fs::read_to_string(runs.join(&n).join("metrics.json")).expect("metrics.json");
        let v = serde_json::from_str::<serde_json::Value>(&text).expect("json")[metric].as_f64().expect("number");
        if best.as_ref().is_none_or(|(_, b)| v > *b) {
            best = Some((n, v));
        }
    }
    best.expect("at least one run")
}

#[test]
fn search_example_is_run_cached_and_select_keeps_the_best_run() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path();
    // The example's committed files only (a run in place leaves data and a cache beside them).
    for f in [".dvc/config", ".dvcignore", "dvc.yaml", "params.yaml"] {
        std::fs::create_dir_all(p.join(f).parent().expect("parent")).expect("mkdir");
        std::fs::copy(repo.join("examples/search").join(f), p.join(f)).expect("copy");
    }
    let params_before = std::fs::read_to_string(p.join("params.yaml")).expect("params");

    // One epoch on large batches keeps the 8 trainings cheap; `exp run -S` is how a user makes
    // such a one-off change.
    let first = run_ok(&ours(), p, &["exp", "run", "-S", "train.epochs=1", "-S", "train.batch_size=512"]);
    assert_eq!(first.matches("Running stage 'search@").count(), 8, "{first}");
    assert!(first.contains("Running stage 'simulate'") && first.contains("Running stage 'select'"), "{first}");
    let params_after = std::fs::read_to_string(p.join("params.yaml")).expect("params");
    assert_eq!(
        params_after,
        params_before.replace("epochs: 30", "epochs: 1").replace("batch_size: 64", "batch_size: 512"),
        "exp run must change only the values"
    );

    let (best, value) = documented_best(&p.join("runs"), "pr_auc");
    let selection: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("best/selection.json")).expect("selection"))
            .expect("json");
    assert_eq!((selection["best"].as_str(), selection["value"].as_f64()), (Some(best.as_str()), Some(value)));
    assert_eq!(selection["runs"].as_object().map(|r| r.len()), Some(8));
    let best_params = std::fs::read_to_string(p.join("best/params.yaml")).expect("best params");
    assert_eq!(
        best_params,
        std::fs::read_to_string(p.join("runs").join(&best).join("params.yaml")).expect("run params")
    );
    // The run's name says which matrix values it trained with; its saved parameters agree.
    let parsed: serde_json::Value = serde_norway::from_str(&best_params).expect("yaml");
    let window = best.trim_start_matches('w').split('-').next().expect("window");
    assert_eq!(parsed["data"]["window"].to_string(), window, "{best}: {best_params}");
    assert_eq!(parsed["train"]["epochs"], 1);
    assert!(p.join("best/model/metadata.json").is_file() && p.join("best/model/weights.safetensors").is_file());
    let shown = run_ok(&ours(), p, &["metrics", "show", "--json"]);
    assert!(shown.contains("best/metrics.json") && shown.contains("pr_auc"), "{shown}");

    let second = run_ok(&ours(), p, &["repro"]);
    assert!(!second.contains("Running stage") && !second.contains("is cached"), "nothing to do:\n{second}");
    if let Some(dvc) = dvc() {
        assert_eq!(status_json(&dvc, p), serde_json::json!({}), "real dvc sees the search as out of date");
    }

    // Without its results and lock, the whole search comes back from the run-cache.
    for gone in ["runs", "best", "data"] {
        std::fs::remove_dir_all(p.join(gone)).expect("rm");
    }
    std::fs::remove_file(p.join("dvc.lock")).expect("rm lock");
    let restored = run_ok(&ours(), p, &["repro"]);
    assert!(!restored.contains("Running stage"), "the search should not train again:\n{restored}");
    assert_eq!(restored.matches("is cached - skipping run").count(), 10, "{restored}");
    assert_eq!(std::fs::read_to_string(p.join("best/params.yaml")).expect("best params"), best_params);

    // Another metric: only `select` runs again.
    let other = run_ok(&ours(), p, &["exp", "run", "-S", "select.metric=roc_auc"]);
    assert!(other.contains("Running stage 'select'") && other.matches("Running stage").count() == 1, "{other}");
    let (best_roc, _) = documented_best(&p.join("runs"), "roc_auc");
    let selection: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("best/selection.json")).expect("selection"))
            .expect("json");
    assert_eq!((selection["metric"].as_str(), selection["best"].as_str()), (Some("roc_auc"), Some(best_roc.as_str())));
}
