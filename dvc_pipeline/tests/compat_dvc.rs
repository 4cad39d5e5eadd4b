//! Our engine (through the library API) side by side with real dvc 3 on scratch workspaces
//! covering the tricky parts of DVC-FORMAT.md: the same pipeline reproduced by each gives equal
//! locks and byte-identical `.dir` objects, and each treats the other's lock as up to date.
//! `.dvcignore` rules apply to both alike; each restores the other's run-cache records.

mod support;

use std::path::Path;
use support::*;

const PARAMS: &str =
    "prepare:\n  split: 0.2\ntrain:\n  epochs: 3\n  lr: 1e-3\n  layers:\n  - 1\n  - 2\nnames:\n- x\n- y\nflag: yes\n";

const DVC_YAML: &str = r#"stages:
  prepare:
    cmd: mkdir -p out && cp -R data/imgs/. out/imgs && tr -d '\r' < data/raw.csv > out/clean.csv
    deps:
      - data/raw.csv
      - data/imgs
    params:
      - prepare.split
    outs:
      - out/imgs
      - out/clean.csv
  train:
    cmd:
      - wc -l out/clean.csv > model.txt
      - echo '{"acc":0.9}' > metrics.json
      - echo "lr=${train.lr} flag=${flag}" > info.txt
    deps:
      - out/clean.csv
    params:
      - train
      - custom.yaml:
          - beta
      - whole.yaml:
    outs:
      - model.txt
      - info.txt:
          persist: true
    metrics:
      - metrics.json:
          cache: false
  each:
    foreach: ${names}
    do:
      cmd: echo ${item} > "each_${item}.txt"
      outs:
        - "each_${item}.txt"
  mat:
    matrix:
      m: [a, b]
      n: [1, 2]
    cmd: echo ${item.m}${item.n} > mat_${item.m}_${item.n}.txt
    outs:
      - mat_${item.m}_${item.n}.txt
  multi:
    wdir: sub
    cmd: |
      X=hello
      echo "x=$X" > ../multi.txt
    deps:
      - ../out/clean.csv
    outs:
      - ../multi.txt
"#;

fn workspace(dir: &Path) {
    write(
        dir,
        &[
            ("data/raw.csv", b"id,label\r\n1,cat\r\n"),
            ("data/imgs/a.txt", b"A"),
            ("data/imgs/b.txt", b"B\n"),
            ("data/imgs/sub/c.txt", b"deep\n"),
            ("data/imgs/.hidden/h", b"hidden\n"),
            ("data/imgs/B.txt", b"upper"),
            ("data/imgs/a-b/x", b"dash"),
            ("data/imgs/a/b", b"slash"),
            ("data/imgs/empty", b""),
            ("data/imgs/\u{e9} caf\u{e9}.txt", b"cafe"),
            ("data/imgs/\u{1f600}.txt", b"smile"),
            ("data/imgs/crlf.txt", b"x\r\ny\r\n"),
            // .dvcignore at the root and in a subdirectory (gitignore syntax): both sides leave
            // the same files out of dep and out hashes and ignore changes to them.
            (".dvcignore", b"*.tmp\n!keep.tmp\nout/**/secret.txt\n"),
            ("data/.dvcignore", b"/imgs/logs/\n"),
            ("data/imgs/scratch.tmp", b"ignored"),
            ("data/imgs/keep.tmp", b"re-included"),
            ("data/imgs/sub/secret.txt", b"secret"),
            ("data/imgs/logs/run.log", b"log"),
            ("sub/.keep", b""),
            ("params.yaml", PARAMS.as_bytes()),
            ("custom.yaml", b"beta: 6\ngamma: 7\n"),
            ("whole.yaml", b"w1: 1\nw2:\n  deep: [1, 2]\n"),
            ("dvc.yaml", DVC_YAML.as_bytes()),
        ],
    );
    std::fs::create_dir_all(dir.join("data/imgs/emptydir/inner")).expect("mkdir");
}

fn init_pair() -> Option<(std::path::PathBuf, tempfile::TempDir, tempfile::TempDir)> {
    let dvc = dvc()?;
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    workspace(a.path());
    workspace(b.path());
    run_ok(&dvc, a.path(), &["init", "--no-scm", "-q"]);
    init(b.path());
    Some((dvc, a, b))
}

#[test]
fn same_pipeline_gives_equal_locks_and_identical_dir_objects() {
    let Some((dvc, a, b)) = init_pair() else { return };
    run_ok(&dvc, a.path(), &["repro", "-q"]);
    repro(b.path());

    assert_eq!(lock_json(a.path()), lock_json(b.path()), "parsed dvc.lock differs between dvc and us");
    let (ca, cb) = (cache_objects(a.path()), cache_objects(b.path()));
    let names = |c: &[(String, Vec<u8>)]| c.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ca), names(&cb), "cache objects differ");
    let dirs: Vec<_> = ca.iter().filter(|(k, _)| k.ends_with(".dir")).collect();
    assert!(!dirs.is_empty(), "expected .dir objects");
    for (k, bytes) in dirs {
        let ours = cb.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v);
        assert_eq!(Some(bytes), ours, ".dir object {k} not byte-identical");
    }
    assert_eq!(snapshot(a.path()).len(), snapshot(b.path()).len());
    // Interpolated cmd and YAML 1.2 values reached the lock as dvc writes them.
    let lock = lock_json(b.path());
    assert_eq!(lock["train"]["params"]["params.yaml"]["train"]["lr"], serde_json::json!(0.001));
    assert!(lock["each@x"].is_object() && lock["mat@b-2"].is_object(), "{lock}");
}

#[test]
fn each_treats_the_others_lock_as_up_to_date() {
    let Some((dvc, a, b)) = init_pair() else { return };
    run_ok(&dvc, a.path(), &["repro", "-q"]);
    repro(b.path());

    assert_eq!(our_status(a.path()), serde_json::json!({}), "we see dvc's workspace as changed");
    assert_eq!(status_json(&dvc, b.path()), serde_json::json!({}), "dvc sees our workspace as changed");
    let lock_before = std::fs::read(a.path().join("dvc.lock")).expect("lock");
    let out = repro(a.path());
    assert!(out.contains("Data and pipelines are up to date"), "{out}");
    assert_eq!(
        lock_before,
        std::fs::read(a.path().join("dvc.lock")).expect("lock"),
        "an up-to-date lock was rewritten"
    );
    let out = run_ok(&dvc, b.path(), &["repro"]);
    assert!(out.contains("up to date"), "dvc re-ran our stages: {out}");
}

#[test]
fn status_reports_changes_like_dvc() {
    let Some((dvc, a, _b)) = init_pair() else { return };
    run_ok(&dvc, a.path(), &["repro", "-q"]);
    // A used param, a whole-dict param, a dep and a deleted out change.
    std::fs::write(
        a.path().join("params.yaml"),
        PARAMS.replace("split: 0.2", "split: 0.3").replace("epochs: 3", "epochs: 4"),
    )
    .expect("write");
    std::fs::write(a.path().join("data/imgs/a.txt"), b"changed").expect("write");
    std::fs::remove_file(a.path().join("model.txt")).expect("rm");
    // mtime-only change does not count.
    std::fs::write(a.path().join("data/raw.csv"), b"id,label\r\n1,cat\r\n").expect("write");
    assert_eq!(our_status(a.path()), status_json(&dvc, a.path()));
}

#[test]
fn dvc2_lock_is_up_to_date_for_both_and_not_rewritten() {
    let Some(dvc) = dvc() else { return };
    let d = tempfile::tempdir().expect("tempdir");
    // md5-dos2unix of the CRLF file, as DVC 2.x recorded it (DVC-FORMAT.md §8).
    let lock = "schema: '2.0'\nstages:\n  copy:\n    cmd: cp data/raw.csv out.csv\n    deps:\n    - path: data/raw.csv\n      md5: 0f73e4cad20754a1eec8c0884f93c799\n      size: 17\n    outs:\n    - path: out.csv\n      md5: 0f73e4cad20754a1eec8c0884f93c799\n      size: 17\n";
    write(
        d.path(),
        &[
            ("data/raw.csv", b"id,label\r\n1,cat\r\n"),
            ("out.csv", b"id,label\r\n1,cat\r\n"),
            ("data/other.txt", b"other\n"),
            ("dvc.yaml", b"stages:\n  copy:\n    cmd: cp data/raw.csv out.csv\n    deps:\n    - data/raw.csv\n    outs:\n    - out.csv\n"),
            ("dvc.lock", lock.as_bytes()),
        ],
    );
    init(d.path());
    // DVC 2.x cache layout: raw CRLF bytes under the dos2unix md5.
    write(d.path(), &[(".dvc/cache/0f/73e4cad20754a1eec8c0884f93c799", b"id,label\r\n1,cat\r\n")]);
    assert_eq!(status_json(&dvc, d.path()), serde_json::json!({}));
    assert_eq!(our_status(d.path()), serde_json::json!({}));
    let out = repro(d.path());
    assert!(out.contains("didn't change"), "{out}");
    assert_eq!(std::fs::read_to_string(d.path().join("dvc.lock")).expect("lock"), lock);

    // A new dep makes the stage run: the unchanged 2.x entries keep their form, the new one is 3.x.
    std::fs::write(d.path().join("dvc.yaml"), "stages:\n  copy:\n    cmd: cp data/raw.csv out.csv\n    deps:\n    - data/raw.csv\n    - data/other.txt\n    outs:\n    - out.csv\n").expect("write");
    repro(d.path());
    let l = lock_json(d.path());
    let deps = l["copy"]["deps"].as_array().expect("deps").clone();
    assert_eq!(deps[0]["path"], "data/other.txt");
    assert_eq!(deps[0]["hash"], "md5");
    assert_eq!(deps[1]["md5"], "0f73e4cad20754a1eec8c0884f93c799");
    assert!(deps[1].get("hash").is_none(), "unchanged 2.x entry was rewritten: {l}");
    assert_eq!(status_json(&dvc, d.path()), serde_json::json!({}), "dvc disagrees with our mixed lock");
}

#[test]
fn dvcignored_files_are_left_out_of_hashes_and_status_like_dvc() {
    let Some((dvc, a, b)) = init_pair() else { return };
    run_ok(&dvc, a.path(), &["repro", "-q"]);
    repro(b.path());
    // The out's manifest (compared byte for byte above) lists the re-included file and the
    // logs, whose pattern is anchored in data/.dvcignore; not the ignored files.
    let manifests: String = cache_objects(b.path())
        .into_iter()
        .filter(|(k, _)| k.ends_with(".dir"))
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
        .collect();
    assert!(manifests.contains("\"keep.tmp\"") && manifests.contains("\"logs/run.log\""), "{manifests}");
    for ignored in ["scratch.tmp", "secret.txt"] {
        assert!(!manifests.contains(ignored), "{ignored} is in a manifest: {manifests}");
    }
    for dir in [a.path(), b.path()] {
        std::fs::write(dir.join("data/imgs/scratch.tmp"), b"changed").expect("write");
        std::fs::write(dir.join("data/imgs/new.tmp"), b"new").expect("write");
        std::fs::write(dir.join("data/imgs/logs/run.log"), b"more").expect("write");
        std::fs::write(dir.join("out/imgs/sub/secret.txt"), b"changed").expect("write");
        assert_eq!(our_status(dir), serde_json::json!({}), "we see an ignored change");
        assert_eq!(status_json(&dvc, dir), serde_json::json!({}), "dvc sees an ignored change");
    }
    // A change to a file that is not ignored is seen by both.
    std::fs::write(b.path().join("data/imgs/keep.tmp"), b"changed").expect("write");
    assert_eq!(our_status(b.path()), status_json(&dvc, b.path()));
    assert_ne!(our_status(b.path()), serde_json::json!({}));

    // Checking out the directory out restores tracked files and leaves ignored ones alone.
    std::fs::remove_file(b.path().join("out/imgs/keep.tmp")).expect("rm");
    checkout(b.path());
    assert_eq!(std::fs::read(b.path().join("out/imgs/keep.tmp")).expect("restored"), b"re-included");
    assert_eq!(std::fs::read(b.path().join("out/imgs/sub/secret.txt")).expect("kept"), b"changed");

    // As in dvc, a .dvcignore inside a directory being hashed is refused, naming it.
    std::fs::write(b.path().join("data/imgs/.dvcignore"), b"x\n").expect("write");
    let err = try_status(b.path()).expect_err("a .dvcignore inside a tracked directory");
    let err = chain(&err);
    assert!(err.contains("data/imgs/.dvcignore"), "{err}");
}

/// Run-cache entry paths (`runs/<2>/<key>/<value>`) under a workspace's cache.
fn run_cache_entries(root: &Path) -> Vec<String> {
    let dir = root.join(".dvc/cache/runs");
    let mut all: Vec<String> = snapshot(&dir).into_iter().map(|(k, _)| k).collect();
    all.retain(|k| !k.rsplit('/').next().unwrap_or("").starts_with('.'));
    all
}

#[test]
fn run_cache_uses_dvcs_keys_so_each_tool_restores_the_others_runs() {
    let Some((dvc, a, b)) = init_pair() else { return };
    run_ok(&dvc, a.path(), &["repro", "-q"]);
    repro(b.path());
    let (ra, rb) = (run_cache_entries(a.path()), run_cache_entries(b.path()));
    // Only prepare and multi qualify: train has a persistent out, each/mat have no deps.
    assert_eq!(ra.len(), 2, "dvc's runs: {ra:?}");
    assert_eq!(ra, rb, "run-cache keys or values differ between dvc and us");

    // Deleting an out of a run-cached stage: each tool restores it from the other's run record
    // without running the command.
    std::fs::remove_file(a.path().join("out/clean.csv")).expect("rm");
    let out = repro(a.path());
    assert!(out.contains("Stage 'prepare' is cached - skipping run"), "{out}");
    assert_eq!(std::fs::read(a.path().join("out/clean.csv")).expect("restored"), b"id,label\n1,cat\n");
    std::fs::remove_file(b.path().join("out/clean.csv")).expect("rm");
    let out = run_ok(&dvc, b.path(), &["repro"]);
    assert!(out.contains("Stage 'prepare' is cached - skipping run"), "dvc did not use our run record: {out}");
    assert_eq!(our_status(b.path()), serde_json::json!({}));
}
