//! What repro runs and skips, failures, frozen and always-changed stages, checkout, gc, metrics
//! and `.dvc`-tracked deps, through the library API.

mod support;

use dvc_pipeline::repro::{Outcome, ReproOptions};
use dvc_pipeline::{Error, workspace};
use support::*;

fn repo(yaml: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), files);
    write(d.path(), &[("dvc.yaml", yaml.as_bytes())]);
    init(d.path());
    d
}

const CHAIN: &str = "stages:\n  up:\n    cmd: tr a-z A-Z < in.txt | cut -c1-3 > mid.txt\n    deps: [in.txt]\n    outs: [mid.txt]\n  down:\n    cmd: cat mid.txt mid.txt > out.txt && echo run >> runs.log\n    deps: [mid.txt]\n    outs: [out.txt]\n";

fn targets(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn downstream_does_not_rerun_when_upstream_output_bytes_are_identical() {
    let d = repo(CHAIN, &[("in.txt", b"abcdef\n")]);
    repro(d.path());
    // Same first 3 letters: `up` re-runs, produces identical bytes, `down` is skipped.
    std::fs::write(d.path().join("in.txt"), b"abcxyz\n").expect("write");
    let out = repro(d.path());
    assert!(out.contains("Running stage 'up'") && out.contains("Stage 'down' didn't change"), "{out}");
    assert_eq!(std::fs::read_to_string(d.path().join("runs.log")).expect("log"), "run\n");
    // --force runs everything; --dry changes nothing.
    std::fs::write(d.path().join("in.txt"), b"zzz\n").expect("write");
    let lock = std::fs::read(d.path().join("dvc.lock")).expect("lock");
    let out = repro_with(d.path(), &ReproOptions { dry: true, ..Default::default() });
    assert!(out.contains("Running stage 'up'"), "{out}");
    assert_eq!(std::fs::read(d.path().join("dvc.lock")).expect("lock"), lock);
    repro_with(d.path(), &ReproOptions { force: true, ..Default::default() });
    assert_eq!(std::fs::read_to_string(d.path().join("out.txt")).expect("out"), "ZZZ\nZZZ\n");
}

#[test]
fn targets_run_upstream_and_downstream_flag_runs_what_follows() {
    let d = repo(CHAIN, &[("in.txt", b"abcdef\n")]);
    let out = repro_with(d.path(), &ReproOptions { targets: targets(&["up"]), ..Default::default() });
    assert!(out.contains("Running stage 'up'") && !out.contains("'down'"), "{out}");
    let out = repro_with(d.path(), &ReproOptions { targets: targets(&["up"]), downstream: true, ..Default::default() });
    assert!(out.contains("Running stage 'down'"), "{out}");
    let bad = try_repro(d.path(), &ReproOptions { targets: targets(&["nope"]), ..Default::default() });
    assert!(bad.is_err_and(|e| chain(&e).contains("unknown stage 'nope'")));
}

#[test]
fn failing_command_names_stage_and_exit_code_and_keeps_the_lock() {
    let d = repo(
        "stages:\n  s:\n    cmd:\n    - cp in.txt out.txt\n    - test \"$(cat in.txt)\" != bad || exit 7\n    deps: [in.txt]\n    outs: [out.txt]\n",
        &[("in.txt", b"good")],
    );
    repro(d.path());
    let lock = std::fs::read(d.path().join("dvc.lock")).expect("lock");
    std::fs::write(d.path().join("in.txt"), b"bad").expect("write");
    let err = try_repro(d.path(), &ReproOptions::default()).expect_err("the command fails");
    let err = chain(&err);
    assert!(err.contains("stage 's'") && err.contains("exit code 7"), "{err}");
    assert_eq!(std::fs::read(d.path().join("dvc.lock")).expect("lock"), lock);
}

#[test]
fn frozen_never_runs_and_always_changed_always_runs() {
    let d = repo(
        "stages:\n  f:\n    cmd: echo f >> f.log\n    frozen: true\n  a:\n    cmd: echo a >> a.log\n    always_changed: true\n",
        &[],
    );
    repro(d.path());
    repro(d.path());
    assert!(!d.path().join("f.log").exists());
    assert_eq!(std::fs::read_to_string(d.path().join("a.log")).expect("log"), "a\na\n");
    assert_eq!(our_status(d.path()), serde_json::json!({"a": ["always changed"]}));
}

#[test]
fn checkout_restores_and_gc_drops_unused_objects() {
    let d = repo(CHAIN, &[("in.txt", b"abcdef\n")]);
    repro(d.path());
    std::fs::write(d.path().join("out.txt"), b"tampered").expect("write");
    std::fs::remove_file(d.path().join("mid.txt")).expect("rm");
    checkout(d.path());
    assert_eq!(std::fs::read_to_string(d.path().join("out.txt")).expect("out"), "ABC\nABC\n");
    assert_eq!(std::fs::read_to_string(d.path().join("mid.txt")).expect("mid"), "ABC\n");
    let before = cache_objects(d.path()).len();
    std::fs::write(d.path().join("in.txt"), b"xyz\n").expect("write");
    repro(d.path());
    assert_eq!(cache_objects(d.path()).len(), before + 2);
    let removed = workspace::gc_workspace(&open(d.path())).expect("gc");
    assert_eq!(removed, 2);
    assert_eq!(cache_objects(d.path()).len(), before);
    assert_eq!(our_status(d.path()), serde_json::json!({}));
}

#[test]
fn metrics_show_prints_declared_metrics() {
    let d = repo(
        "stages:\n  m:\n    cmd: echo '{\"auc\":0.93,\"at\":{\"f1\":0.5}}' > metrics.json\n    metrics:\n    - metrics.json:\n        cache: false\n",
        &[],
    );
    repro(d.path());
    let out = workspace::render_metrics(&workspace::metrics(&open(d.path())).expect("metrics"));
    assert!(out.contains("Path") && out.contains("auc") && out.contains("0.93") && out.contains("at.f1"), "{out}");
}

#[test]
fn a_dep_tracked_by_a_dvc_file_may_be_absent_until_pulled() {
    let d = repo(
        "stages:\n  s:\n    cmd: cp data.bin out.bin\n    deps: [data.bin]\n    outs: [out.bin]\n",
        &[("data.bin", b"x")],
    );
    add(d.path(), "data.bin");
    repro(d.path());
    std::fs::remove_file(d.path().join("data.bin")).expect("rm");
    let st = our_status(d.path());
    assert_eq!(st["data.bin.dvc"], serde_json::json!([{"changed outs": {"data.bin": "deleted"}}]), "{st}");
    checkout(d.path());
    assert_eq!(std::fs::read(d.path().join("data.bin")).expect("data"), b"x");
}

#[test]
fn run_cache_restores_outputs_of_inputs_seen_before_without_running() {
    let d = repo(
        "stages:\n  s:\n    cmd: tr a-z A-Z < in.txt > out.txt && echo run >> runs.log\n    deps: [in.txt]\n    outs: [out.txt]\n",
        &[("in.txt", b"one\n")],
    );
    repro(d.path());
    std::fs::write(d.path().join("in.txt"), b"two\n").expect("write");
    repro(d.path());
    assert_eq!(std::fs::read_to_string(d.path().join("runs.log")).expect("log"), "run\nrun\n");
    // Back to the first input: the run is found in the run-cache, its out checked out.
    std::fs::write(d.path().join("in.txt"), b"one\n").expect("write");
    let (log, results) = try_repro(d.path(), &ReproOptions::default()).expect("repro");
    assert!(log.contains("Stage 's' is cached - skipping run, checking out outputs"), "{log}");
    assert_eq!(results, [("s".to_string(), Outcome::RestoredFromRunCache)]);
    assert_eq!(std::fs::read_to_string(d.path().join("out.txt")).expect("out"), "ONE\n");
    assert_eq!(std::fs::read_to_string(d.path().join("runs.log")).expect("log"), "run\nrun\n");
    assert_eq!(our_status(d.path()), serde_json::json!({}));
    // --force runs the command whatever the run-cache holds.
    repro_with(d.path(), &ReproOptions { force: true, ..Default::default() });
    assert_eq!(std::fs::read_to_string(d.path().join("runs.log")).expect("log"), "run\nrun\nrun\n");
}

#[test]
fn an_unhashable_out_is_reported_with_its_cause_not_as_missing() {
    // The command creates its out directory, but with a .dvcignore inside, which dvc refuses
    // to hash: repro must say so, not claim the command did not create the out.
    let d = repo("stages:\n  s:\n    cmd: mkdir -p out && echo x > out/.dvcignore\n    outs: [out]\n", &[]);
    let err = chain(&try_repro(d.path(), &ReproOptions::default()).expect_err("cannot hash the out"));
    assert!(err.contains("out/.dvcignore") && err.contains("may not be inside"), "{err}");
    assert!(!err.contains("was not created"), "{err}");
    // A command that really does not create its out is reported as such.
    let d = repo("stages:\n  s:\n    cmd: 'true'\n    outs: [never.txt]\n", &[]);
    let err = try_repro(d.path(), &ReproOptions::default()).expect_err("no out");
    assert!(matches!(err, Error::MissingOut { .. }), "{err:?}");
}
