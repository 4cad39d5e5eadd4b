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
