//! dvc.yaml errors name file, line and key; hashing matches the values DVC-FORMAT.md verified
//! against real dvc; YAML 1.2 values are written back as dvc writes them.

use std::path::Path;

use dvc_pipeline::checksum::{self, Algo};
use dvc_pipeline::{Error, Project, Repo};

fn repo_with(yaml: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    Repo::init(d.path()).expect("init");
    std::fs::write(d.path().join("dvc.yaml"), yaml).expect("write");
    for (f, c) in files {
        std::fs::write(d.path().join(f), c).expect("write");
    }
    d
}

fn open_err(d: &Path) -> String {
    Project::open(d).expect_err("must fail").to_string()
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let d = repo_with("stages:\n  train:\n    cmd: echo\n    outz:\n    - a\n", &[]);
    let e = open_err(d.path());
    assert!(e.contains("dvc.yaml:4") && e.contains("stages.train.outz") && e.contains("unknown key"), "{e}");
}

#[test]
fn wrong_type_names_what_was_expected() {
    let d = repo_with("stages:\n  train:\n    cmd: echo\n    deps: data.txt\n", &[]);
    let e = open_err(d.path());
    assert!(e.contains("dvc.yaml:4") && e.contains("stages.train.deps") && e.contains("expected a list"), "{e}");
    let d = repo_with("stages:\n  t:\n    cmd:\n    - echo '{\"acc\": 0.9}' > m.json\n", &[]);
    let e = open_err(d.path());
    assert!(e.contains("stages.t.cmd") && e.contains("': '"), "{e}");
    let d = repo_with("stages:\n  t:\n    cmd: echo\n    frozen: maybe\n", &[]);
    assert!(open_err(d.path()).contains("expected true or false"));
}

#[test]
fn missing_dep_duplicate_out_and_cycle_are_named() {
    let d = repo_with("stages:\n  a:\n    cmd: echo\n    deps:\n    - nowhere.txt\n", &[]);
    let e = open_err(d.path());
    assert!(
        matches!(Project::open(d.path()), Err(Error::MissingDep { .. }))
            && e.contains("nowhere.txt")
            && e.contains("'a'"),
        "{e}"
    );

    let d = repo_with("stages:\n  a:\n    cmd: echo\n    outs: [x]\n  b:\n    cmd: echo\n    outs: [x]\n", &[]);
    let e = open_err(d.path());
    assert!(e.contains("'x'") && e.contains("'a'") && e.contains("'b'"), "{e}");

    let d = repo_with(
        "stages:\n  a:\n    cmd: echo\n    deps: [y]\n    outs: [x]\n  b:\n    cmd: echo\n    deps: [x]\n    outs: [y]\n",
        &[],
    );
    let e = open_err(d.path());
    assert!(e.contains("cycle") && e.contains("a") && e.contains("b"), "{e}");
}

#[test]
fn yaml_syntax_error_has_a_line() {
    let d = repo_with("stages:\n  a:\n    cmd: [unclosed\n", &[]);
    let e = open_err(d.path());
    assert!(e.contains("dvc.yaml:") && e.contains("YAML syntax error"), "{e}");
}

#[test]
fn undefined_interpolation_is_an_error_with_the_name() {
    let d = repo_with("stages:\n  a:\n    cmd: echo ${nope.x}\n", &[("params.yaml", "lr: 1\n")]);
    let e = open_err(d.path());
    assert!(e.contains("nope.x") && e.contains("stages.a.cmd"), "{e}");
}

#[test]
fn crlf_files_hash_raw_for_dvc3_and_normalised_for_dvc2() {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join("raw.csv");
    std::fs::write(&p, b"id,label\r\n1,cat\r\n").expect("write");
    assert_eq!(checksum::md5_file(&p, Algo::Md5).expect("md5"), "6083408197351d735ced0eb0728912e1");
    assert_eq!(checksum::md5_file(&p, Algo::Dos2Unix).expect("md5"), "0f73e4cad20754a1eec8c0884f93c799");
    std::fs::write(&p, b"line1\r\nline2\r\n").expect("write");
    assert_eq!(checksum::md5_file(&p, Algo::Md5).expect("md5"), "c6242222cf6ccdb15a43e0e5b1a08810");
}

#[test]
fn large_files_hash_the_same_through_the_two_thread_reader() {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join("big.bin");
    // Not a multiple of the read size, above the two-thread threshold.
    let data: Vec<u8> = (0..9_437_187u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&p, &data).expect("write");
    let want = checksum::hex(&<md5::Md5 as md5::Digest>::digest(&data));
    assert_eq!(checksum::md5_file(&p, Algo::Md5).expect("md5"), want);
}
