//! The pipeline commands as a user runs them: argument parsing, what each prints, and the
//! environment the binary gives a stage. What the engine does is tested in `dvc_pipeline`.

mod pipeline_support;

use pipeline_support::*;
use std::path::Path;

fn repo(yaml: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), files);
    write(d.path(), &[("dvc.yaml", yaml.as_bytes())]);
    run_ok(&ours(), d.path(), &["init"]);
    d
}

const CHAIN: &str = "stages:\n  up:\n    cmd: tr a-z A-Z < in.txt | cut -c1-3 > mid.txt\n    deps: [in.txt]\n    outs: [mid.txt]\n  down:\n    cmd: cat mid.txt mid.txt > out.txt && echo run >> runs.log\n    deps: [mid.txt]\n    outs: [out.txt]\n";

#[test]
fn commands_parse_their_arguments_and_print_dvc_like_output() {
    let d = repo(CHAIN, &[("in.txt", b"abcdef\n"), ("data.bin", b"x")]);
    let p = d.path();
    let out = run_ok(&ours(), p, &["repro"]);
    assert!(
        out.contains("Running stage 'up':\n> tr a-z A-Z") && out.contains("Updating lock file 'dvc.lock'"),
        "{out}"
    );
    assert_eq!(run_ok(&ours(), p, &["status"]), "Data and pipelines are up to date.\n");
    assert_eq!(run_ok(&ours(), p, &["dag"]), "up\ndown <- up\n");
    let bad = run(&ours(), p, &["repro", "nope"], &[]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown stage 'nope'"));

    std::fs::write(p.join("in.txt"), b"xyz\n").expect("write");
    let out = run_ok(&ours(), p, &["status"]);
    assert!(out.starts_with("up:\n\tchanged deps:\n\t\tmodified:           in.txt\n"), "{out:?}");
    assert_eq!(status_json(&ours(), p), serde_json::json!({"up": [{"changed deps": {"in.txt": "modified"}}]}));
    let out = run_ok(&ours(), p, &["repro", "--dry", "down"]);
    assert!(out.contains("(dry run: 1 stage(s) would run; nothing was changed)"), "{out}");
    run_ok(&ours(), p, &["repro", "--force"]);

    let out = run_ok(&ours(), p, &["add", "data.bin"]);
    assert_eq!(out, "Added 'data.bin': track 'data.bin.dvc' in git.\n");
    std::fs::write(p.join("out.txt"), b"tampered").expect("write");
    assert_eq!(run_ok(&ours(), p, &["checkout"]), "M       out.txt\n");
    let no_flag = run(&ours(), p, &["gc"], &[]);
    assert!(!no_flag.status.success() && String::from_utf8_lossy(&no_flag.stderr).contains("gc needs --workspace"));
    assert_eq!(run_ok(&ours(), p, &["gc", "-w"]), "Removed 2 unused cache object(s).\n");

    let remote = tempfile::tempdir().expect("tempdir");
    let url = remote.path().to_str().expect("utf8");
    run_ok(&ours(), p, &["remote", "add", "-d", "r", url]);
    assert_eq!(run_ok(&ours(), p, &["remote", "list"]), format!("r\t{url}\n"));
    let no_value = run(&ours(), p, &["remote", "modify", "r", "region"], &[]);
    assert!(String::from_utf8_lossy(&no_value.stderr).contains("`remote modify r region` needs a value"));
    let out = run_ok(&ours(), p, &["push", "-r", "r", "-j", "2"]);
    assert!(out.ends_with("files pushed (0 already on the remote)\n"), "{out}");
    std::fs::remove_file(p.join("data.bin")).expect("rm");
    let out = run_ok(&ours(), p, &["pull"]);
    assert!(
        out.starts_with("A       data.bin\n") && out.ends_with("0 files fetched, 1 outputs checked out\n"),
        "{out}"
    );
    assert_eq!(run_ok(&ours(), p, &["fetch"]), "0 files fetched\n");
}

#[test]
fn pull_from_an_empty_remote_fails_unless_missing_objects_are_allowed() {
    // A first training run: dvc.lock names outputs no remote has yet (the cache is empty too).
    let d = repo(CHAIN, &[("in.txt", b"abcdef\n")]);
    let p = d.path();
    run_ok(&ours(), p, &["repro"]);
    std::fs::remove_dir_all(p.join(".dvc/cache")).expect("rm cache");
    std::fs::remove_file(p.join("out.txt")).expect("rm out");
    let remote = tempfile::tempdir().expect("tempdir");
    run_ok(&ours(), p, &["remote", "add", "-d", "r", remote.path().to_str().expect("utf8")]);

    let strict = run(&ours(), p, &["pull"], &[]);
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(err.contains("could not be restored") && err.contains("out.txt"), "{err}");

    let allowed = run(&ours(), p, &["pull", "--allow-missing"], &[]);
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    let err = String::from_utf8_lossy(&allowed.stderr);
    assert!(err.contains("not restored") && err.contains("out.txt") && err.contains("repro"), "{err}");
    // repro rebuilds what the remote lacked.
    run_ok(&ours(), p, &["repro"]);
    assert!(p.join("out.txt").exists());
}

#[test]
fn metrics_show_prints_a_table_or_json() {
    let d = repo(
        "stages:\n  m:\n    cmd: echo '{\"auc\":0.93,\"at\":{\"f1\":0.5}}' > metrics.json\n    metrics:\n    - metrics.json:\n        cache: false\n",
        &[],
    );
    assert!(run_ok(&ours(), d.path(), &["metrics", "show"]).starts_with("No metrics found"));
    run_ok(&ours(), d.path(), &["repro"]);
    let out = run_ok(&ours(), d.path(), &["metrics", "show"]);
    assert_eq!(out, "Path          auc   at.f1\nmetrics.json  0.93  0.5\n");
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&ours(), d.path(), &["metrics", "show", "--json"])).expect("json");
    assert_eq!(json, serde_json::json!({"metrics.json": {"at.f1": 0.5, "auc": 0.93}}));
}

#[test]
fn stage_environment_has_dvc_root_stage_and_our_directory_first_on_path() {
    let d = repo(
        "stages:\n  env:\n    wdir: sub\n    cmd: echo \"$DVC_ROOT|$DVC_STAGE|$(command -v model-creation)|$(pwd)\" > ../env.txt\n    outs: [../env.txt]\n",
        &[("sub/.keep", b"")],
    );
    run_ok(&ours(), d.path(), &["repro"]);
    let env = std::fs::read_to_string(d.path().join("env.txt")).expect("env");
    let root = std::fs::canonicalize(d.path()).expect("canon");
    let parts: Vec<&str> = env.trim().split('|').collect();
    assert_eq!(std::fs::canonicalize(parts[0]).expect("root"), root);
    assert_eq!(parts[1], "env");
    assert_eq!(Path::new(parts[2]), ours());
    assert_eq!(std::fs::canonicalize(parts[3]).expect("wdir"), root.join("sub"));
}

/// A hand-made runs directory: run name -> metrics.json text; each run also gets params.yaml
/// and a model/ file, as `train --save-params` and `evaluate` leave them.
fn runs_dir(runs: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    for (name, metrics) in runs {
        let params = format!("train:\n  seed: {}\n", name.len());
        write(
            &d.path().join("runs").join(name),
            &[
                ("metrics.json", metrics.as_bytes()),
                ("params.yaml", params.as_bytes()),
                ("model/metadata.json", name.as_bytes()),
            ],
        );
    }
    d
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn select_picks_the_best_run_and_breaks_ties_by_run_name() {
    let d = runs_dir(&[
        ("c", r#"{"pr_auc": 0.9, "loss": {"val": 0.3}}"#),
        ("a", r#"{"pr_auc": 0.5, "loss": {"val": 0.1}}"#),
        ("bb", r#"{"pr_auc": 0.9, "loss": {"val": 0.2}}"#),
    ]);
    let p = d.path();
    // Highest wins; "bb" and "c" tie at 0.9 and "bb" sorts first.
    let out = run_ok(&ours(), p, &["select", "--runs", "runs", "--metric", "pr_auc"]);
    assert!(out.contains("bb  0.900000  <- best") && out.contains("best pr_auc = 0.900000: bb"), "{out}");
    assert_eq!(std::fs::read(p.join("best/model/metadata.json")).expect("model"), b"bb");
    assert_eq!(std::fs::read_to_string(p.join("best/params.yaml")).expect("params"), "train:\n  seed: 2\n");
    assert_eq!(read_json(&p.join("best/metrics.json"))["pr_auc"], 0.9);
    assert_eq!(
        read_json(&p.join("best/selection.json")),
        serde_json::json!({"metric": "pr_auc", "goal": "max", "tie_break": "first run name in byte order",
            "best": "bb", "value": 0.9, "runs": {"a": 0.5, "bb": 0.9, "c": 0.9}})
    );
    // A nested metric where lower is better; the output directory is replaced as a whole.
    run_ok(&ours(), p, &["select", "--runs", "runs", "--metric", "loss.val", "--lower-is-better"]);
    assert_eq!(std::fs::read(p.join("best/model/metadata.json")).expect("model"), b"a");
    assert_eq!(read_json(&p.join("best/selection.json"))["goal"], "min");

    let fails = |runs: &[(&str, &str)], expected: &[&str]| {
        let d = runs_dir(runs);
        std::fs::create_dir_all(d.path().join("runs")).expect("mkdir");
        let r = run(&ours(), d.path(), &["select", "--runs", "runs", "--metric", "pr_auc"], &[]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "select should fail for {runs:?}");
        for e in expected {
            assert!(err.contains(e), "{e:?} not in: {err}");
        }
        assert!(!d.path().join("best").exists(), "a failed select must not write best/");
    };
    fails(
        &[("a", r#"{"pr_auc": 0.5}"#), ("b", r#"{"roc_auc": 0.7}"#)],
        &["runs/b/metrics.json", "no metric \"pr_auc\"", "roc_auc"],
    );
    fails(&[("a", "not json")], &["runs/a/metrics.json: not JSON"]);
    fails(&[("a", r#"{"pr_auc": "high"}"#)], &["runs/a/metrics.json", "expected a number"]);
    fails(&[], &["runs: no runs"]);
}

#[test]
fn exp_run_edits_params_yaml_in_place_and_reruns_only_the_stages_using_the_change() {
    let params =
        "# experiment knobs\ntrain:\n  epochs: 100   # many\n  layers:\n  - 1\n  - 2\n# evaluation\neval:\n  k: 3\n";
    let d = repo(
        "stages:\n  train:\n    cmd: echo ${train.epochs} > model.txt\n    params: [train]\n    outs: [model.txt]\n  eval:\n    cmd: echo ${eval.k} > eval.txt\n    params: [eval.k]\n    outs: [eval.txt]\n",
        &[("params.yaml", params.as_bytes())],
    );
    let p = d.path();
    run_ok(&ours(), p, &["repro"]);
    let out = run_ok(&ours(), p, &["exp", "run", "-S", "train.epochs=2", "-S", "train.layers=[4, 5]"]);
    assert_eq!(
        std::fs::read_to_string(p.join("params.yaml")).expect("params"),
        "# experiment knobs\ntrain:\n  epochs: 2   # many\n  layers: [4, 5]\n# evaluation\neval:\n  k: 3\n"
    );
    assert!(out.contains("Running stage 'train'") && !out.contains("Running stage 'eval'"), "{out}");
    assert_eq!(std::fs::read_to_string(p.join("model.txt")).expect("model"), "2\n");
    // Back to a value that ran before: restored from the run-cache, nothing runs.
    let out = run_ok(&ours(), p, &["exp", "run", "-S", "train.epochs=100", "-S", "train.layers=[1, 2]"]);
    assert!(out.contains("Stage 'train' is cached - skipping run") && !out.contains("Running stage"), "{out}");
    assert_eq!(status_json(&ours(), p), serde_json::json!({}));

    let before = std::fs::read(p.join("params.yaml")).expect("params");
    let typo = run(&ours(), p, &["exp", "run", "-S", "train.epoch=3"], &[]);
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(!typo.status.success() && err.contains("cannot set train.epoch") && err.contains("epochs"), "{err}");
    let no_value = run(&ours(), p, &["exp", "run", "-S", "train.epochs"], &[]);
    assert!(String::from_utf8_lossy(&no_value.stderr).contains("expected KEY=VALUE"));
    assert_eq!(std::fs::read(p.join("params.yaml")).expect("params"), before, "a failed exp run must not edit");
}
