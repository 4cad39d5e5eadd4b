//! Command behaviour a user sees: what repro runs and skips, failures, the stage
//! environment, checkout, gc, metrics.

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
fn downstream_does_not_rerun_when_upstream_output_bytes_are_identical() {
    let d = repo(CHAIN, &[("in.txt", b"abcdef\n")]);
    run_ok(&ours(), d.path(), &["repro"]);
    // Same first 3 letters: `up` re-runs, produces identical bytes, `down` is skipped.
    std::fs::write(d.path().join("in.txt"), b"abcxyz\n").expect("write");
    let out = run_ok(&ours(), d.path(), &["repro"]);
    assert!(out.contains("Running stage 'up'") && out.contains("Stage 'down' didn't change"), "{out}");
    assert_eq!(std::fs::read_to_string(d.path().join("runs.log")).expect("log"), "run\n");
    // --force runs everything; --dry changes nothing.
    std::fs::write(d.path().join("in.txt"), b"zzz\n").expect("write");
    let lock = std::fs::read(d.path().join("dvc.lock")).expect("lock");
    let out = run_ok(&ours(), d.path(), &["repro", "--dry"]);
    assert!(out.contains("Running stage 'up'"), "{out}");
    assert_eq!(std::fs::read(d.path().join("dvc.lock")).expect("lock"), lock);
    run_ok(&ours(), d.path(), &["repro", "--force"]);
    assert_eq!(std::fs::read_to_string(d.path().join("out.txt")).expect("out"), "ZZZ\nZZZ\n");
}

#[test]
fn targets_run_upstream_and_downstream_flag_runs_what_follows() {
    let d = repo(CHAIN, &[("in.txt", b"abcdef\n")]);
    let out = run_ok(&ours(), d.path(), &["repro", "up"]);
    assert!(out.contains("Running stage 'up'") && !out.contains("'down'"), "{out}");
    let out = run_ok(&ours(), d.path(), &["repro", "--downstream", "up"]);
    assert!(out.contains("Running stage 'down'"), "{out}");
    let bad = run(&ours(), d.path(), &["repro", "nope"], &[]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown stage 'nope'"));
}

#[test]
fn failing_command_names_stage_and_exit_code_and_keeps_the_lock() {
    let d = repo(
        "stages:\n  s:\n    cmd:\n    - cp in.txt out.txt\n    - test \"$(cat in.txt)\" != bad || exit 7\n    deps: [in.txt]\n    outs: [out.txt]\n",
        &[("in.txt", b"good")],
    );
    run_ok(&ours(), d.path(), &["repro"]);
    let lock = std::fs::read(d.path().join("dvc.lock")).expect("lock");
    std::fs::write(d.path().join("in.txt"), b"bad").expect("write");
    let out = run(&ours(), d.path(), &["repro"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stage 's'") && err.contains("exit code 7"), "{err}");
    assert_eq!(std::fs::read(d.path().join("dvc.lock")).expect("lock"), lock);
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

#[test]
fn frozen_never_runs_and_always_changed_always_runs() {
    let d = repo(
        "stages:\n  f:\n    cmd: echo f >> f.log\n    frozen: true\n  a:\n    cmd: echo a >> a.log\n    always_changed: true\n",
        &[],
    );
    run_ok(&ours(), d.path(), &["repro"]);
    run_ok(&ours(), d.path(), &["repro"]);
    assert!(!d.path().join("f.log").exists());
    assert_eq!(std::fs::read_to_string(d.path().join("a.log")).expect("log"), "a\na\n");
    assert_eq!(status_json(&ours(), d.path()), serde_json::json!({"a": ["always changed"]}));
}

#[test]
fn checkout_restores_and_gc_drops_unused_objects() {
    let d = repo(CHAIN, &[("in.txt", b"abcdef\n")]);
    run_ok(&ours(), d.path(), &["repro"]);
    std::fs::write(d.path().join("out.txt"), b"tampered").expect("write");
    std::fs::remove_file(d.path().join("mid.txt")).expect("rm");
    run_ok(&ours(), d.path(), &["checkout"]);
    assert_eq!(std::fs::read_to_string(d.path().join("out.txt")).expect("out"), "ABC\nABC\n");
    assert_eq!(std::fs::read_to_string(d.path().join("mid.txt")).expect("mid"), "ABC\n");
    let before = cache_objects(d.path()).len();
    std::fs::write(d.path().join("in.txt"), b"xyz\n").expect("write");
    run_ok(&ours(), d.path(), &["repro"]);
    assert_eq!(cache_objects(d.path()).len(), before + 2);
    let out = run_ok(&ours(), d.path(), &["gc", "--workspace"]);
    assert!(out.contains("Removed 2"), "{out}");
    assert_eq!(cache_objects(d.path()).len(), before);
    assert_eq!(status_json(&ours(), d.path()), serde_json::json!({}));
}

#[test]
fn metrics_show_prints_declared_metrics() {
    let d = repo(
        "stages:\n  m:\n    cmd: echo '{\"auc\":0.93,\"at\":{\"f1\":0.5}}' > metrics.json\n    metrics:\n    - metrics.json:\n        cache: false\n",
        &[],
    );
    run_ok(&ours(), d.path(), &["repro"]);
    let out = run_ok(&ours(), d.path(), &["metrics", "show"]);
    assert!(out.contains("Path") && out.contains("auc") && out.contains("0.93") && out.contains("at.f1"), "{out}");
}

#[test]
fn a_dep_tracked_by_a_dvc_file_may_be_absent_until_pulled() {
    let d = repo(
        "stages:\n  s:\n    cmd: cp data.bin out.bin\n    deps: [data.bin]\n    outs: [out.bin]\n",
        &[("data.bin", b"x")],
    );
    run_ok(&ours(), d.path(), &["add", "data.bin"]);
    run_ok(&ours(), d.path(), &["repro"]);
    std::fs::remove_file(d.path().join("data.bin")).expect("rm");
    let st = status_json(&ours(), d.path());
    assert_eq!(st["data.bin.dvc"], serde_json::json!([{"changed outs": {"data.bin": "deleted"}}]), "{st}");
    run_ok(&ours(), d.path(), &["checkout"]);
    assert_eq!(std::fs::read(d.path().join("data.bin")).expect("data"), b"x");
}
