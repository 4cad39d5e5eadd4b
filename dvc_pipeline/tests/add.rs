//! `add` and `.dvc` files: a missing path is reported as missing and any other failure with its
//! own cause; `.dvc` files are read by dvc.lock's entry parser, so an unknown `hash:` is an
//! error; a failed cache write leaves no temporary file behind.

mod support;

use dvc_pipeline::{Error, Project, Repo};
use support::*;

fn repo(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), files);
    Repo::init(d.path()).expect("init");
    d
}

fn try_add(dir: &std::path::Path, rel: &str) -> Result<std::path::PathBuf, Error> {
    dvc_pipeline::add(&Project::open(dir)?, &dir.join(rel))
}

#[test]
fn add_writes_a_dvc_file_in_dvcs_key_order() {
    let d = repo(&[("data.csv", b"a,b\n")]);
    add(d.path(), "data.csv");
    let text = std::fs::read_to_string(d.path().join("data.csv.dvc")).expect("data.csv.dvc");
    assert_eq!(text, "outs:\n- md5: f69f5b72bc79a92dc70c63c9aa142e36\n  size: 4\n  hash: md5\n  path: data.csv\n");
    assert_eq!(our_status(d.path()), serde_json::json!({}));
}

#[test]
fn a_missing_path_is_missing_and_other_failures_keep_their_cause() {
    let d = repo(&[("file.txt", b"x"), ("dir/a.txt", b"a"), ("dir/.dvcignore", b"*.tmp\n")]);
    let missing = try_add(d.path(), "nope.txt").expect_err("missing");
    assert!(matches!(missing, Error::PathMissing { .. }) && chain(&missing).contains("does not exist"), "{missing:?}");

    // A path below a regular file: the system says "not a directory", and so do we.
    let below_file = chain(&try_add(d.path(), "file.txt/x").expect_err("below a file"));
    assert!(!below_file.contains("does not exist") && below_file.contains("file.txt/x"), "{below_file}");
    assert!(below_file.to_lowercase().contains("not a directory"), "{below_file}");

    // A directory dvc refuses to hash: the reason is given, not "does not exist".
    let refused = chain(&try_add(d.path(), "dir").expect_err("refused"));
    assert!(!refused.contains("does not exist") && refused.contains("dir/.dvcignore"), "{refused}");
    assert!(!d.path().join("dir.dvc").exists());
}

#[test]
fn an_unknown_hash_in_a_dvc_file_is_an_error_naming_file_line_and_value() {
    let d = repo(&[("data.csv", b"a,b\n")]);
    write(
        d.path(),
        &[(
            "data.csv.dvc",
            b"outs:\n- md5: f69f5b72bc79a92dc70c63c9aa142e36\n  size: 4\n  hash: sha256\n  path: data.csv\n",
        )],
    );
    let err = Project::open(d.path()).expect_err("sha256 is not a DVC hash");
    let text = err.to_string();
    assert!(text.contains("data.csv.dvc:2") && text.contains("'sha256'"), "{text}");
    // The same entry without `hash:` is a DVC 2.x one (md5-dos2unix), as in dvc.lock.
    write(
        d.path(),
        &[("data.csv.dvc", b"outs:\n- md5: f69f5b72bc79a92dc70c63c9aa142e36\n  size: 4\n  path: data.csv\n")],
    );
    assert_eq!(our_status(d.path()), serde_json::json!({}));
}

#[test]
fn a_failed_cache_write_leaves_no_temporary_file() {
    let d = repo(&[("data.csv", b"a,b\n")]);
    // The object's final name is taken by a directory: the rename into place fails.
    let object = d.path().join(".dvc/cache/files/md5/f6/9f5b72bc79a92dc70c63c9aa142e36");
    write(&object, &[("blocker", b"")]);
    let err = chain(&try_add(d.path(), "data.csv").expect_err("cannot cache"));
    assert!(err.contains("caching") && err.contains("data.csv"), "{err}");
    let names: Vec<String> = std::fs::read_dir(object.parent().expect("parent"))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["9f5b72bc79a92dc70c63c9aa142e36"], "a temporary file was left behind");
    assert!(!d.path().join("data.csv.dvc").exists());
}
