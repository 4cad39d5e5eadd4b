//! push from one tool, pull with the other: local directory remotes and S3 (in-process s3s
//! server that checks signatures, with dvc as a subprocess talking to it).

mod pipeline_support;

use pipeline_support::*;
use std::path::Path;

const DVC_YAML: &str = "stages:\n  gen:\n    cmd: mkdir -p out/deep && printf 'a\\r\\nb\\r\\n' > out/crlf.txt && printf '' > out/empty && echo n > 'out/deep/\u{e9}t\u{e9}.txt' && echo h > out/.hid && echo m > model.bin\n    deps:\n    - data.txt\n    outs:\n    - out\n    - model.bin\n    metrics:\n    - m.json:\n        cache: false\n";

fn make(dir: &Path) {
    let yaml = DVC_YAML.replace("model.bin\n    deps", "model.bin && echo '{\"a\":1}' > m.json\n    deps");
    write(dir, &[("data.txt", b"input\n"), ("dvc.yaml", yaml.as_bytes())]);
    write(dir, &[("big.bin", &vec![7u8; 300_000])]);
}

/// A fresh clone: the committed files only (no outs, no cache).
fn clone_committed(src: &Path, dst: &Path) {
    for f in ["dvc.yaml", "dvc.lock", "data.txt", "big.bin.dvc"] {
        if src.join(f).exists() {
            std::fs::copy(src.join(f), dst.join(f)).expect("copy");
        }
    }
    std::fs::create_dir_all(dst.join(".dvc")).expect("mkdir");
    for f in ["config", "config.local"] {
        if src.join(".dvc").join(f).exists() {
            std::fs::copy(src.join(".dvc").join(f), dst.join(".dvc").join(f)).expect("copy");
        }
    }
}

fn produce(tool: &Path, dir: &Path, is_dvc: bool) {
    make(dir);
    if is_dvc {
        run_ok(tool, dir, &["init", "--no-scm", "-q"]);
    } else {
        run_ok(tool, dir, &["init"]);
    }
    run_ok(tool, dir, &["repro"]);
    run_ok(tool, dir, &["add", "big.bin"]);
}

fn roundtrip(from: &Path, from_is_dvc: bool, to: &Path, setup_remote: &dyn Fn(&Path, &Path)) {
    let a = tempfile::tempdir().expect("tempdir");
    produce(from, a.path(), from_is_dvc);
    setup_remote(from, a.path());
    run_ok(from, a.path(), &["push"]);
    let b = tempfile::tempdir().expect("tempdir");
    clone_committed(a.path(), b.path());
    run_ok(to, b.path(), &["pull"]);
    let mut want = snapshot(a.path());
    // cache: false outs are not pushed, so a pull does not restore them (as with dvc).
    want.retain(|(k, _)| k != "m.json" && !k.ends_with(".gitignore"));
    let got: Vec<_> = snapshot(b.path()).into_iter().filter(|(k, _)| !k.ends_with(".gitignore")).collect();
    assert_eq!(want.iter().map(|(k, _)| k).collect::<Vec<_>>(), got.iter().map(|(k, _)| k).collect::<Vec<_>>());
    assert_eq!(want, got, "pulled files differ from the pushed workspace");
}

fn local_remote(remote: &Path) -> impl Fn(&Path, &Path) + '_ {
    move |tool: &Path, dir: &Path| {
        run_ok(tool, dir, &["remote", "add", "-d", "store", remote.to_str().expect("utf8")]);
    }
}

#[test]
fn dvc_push_then_our_pull_on_a_local_remote() {
    let Some(dvc) = dvc() else { return };
    let r = tempfile::tempdir().expect("tempdir");
    roundtrip(&dvc, true, &ours(), &local_remote(r.path()));
}

#[test]
fn our_push_then_dvc_pull_on_a_local_remote() {
    let Some(dvc) = dvc() else { return };
    let r = tempfile::tempdir().expect("tempdir");
    roundtrip(&ours(), false, &dvc, &local_remote(r.path()));
}

fn s3_remote(server: &S3Server) -> impl Fn(&Path, &Path) + '_ {
    move |tool: &Path, dir: &Path| {
        run_ok(tool, dir, &["remote", "add", "-d", "s3r", "s3://dvcpeer/store"]);
        run_ok(tool, dir, &["remote", "modify", "s3r", "endpointurl", &server.endpoint]);
        run_ok(tool, dir, &["remote", "modify", "--local", "s3r", "access_key_id", AK]);
        run_ok(tool, dir, &["remote", "modify", "--local", "s3r", "secret_access_key", SK]);
        run_ok(tool, dir, &["remote", "modify", "s3r", "region", "us-east-1"]);
    }
}

#[test]
fn dvc_push_then_our_pull_on_s3() {
    let Some(dvc) = dvc() else { return };
    let server = S3Server::start(&["dvcpeer"]);
    roundtrip(&dvc, true, &ours(), &s3_remote(&server));
}

#[test]
fn our_push_then_dvc_pull_on_s3() {
    let Some(dvc) = dvc() else { return };
    let server = S3Server::start(&["dvcpeer"]);
    roundtrip(&ours(), false, &dvc, &s3_remote(&server));
}

#[test]
fn second_push_sends_nothing_and_wrong_secret_is_explained() {
    let server = S3Server::start(&["dvcpeer"]);
    let a = tempfile::tempdir().expect("tempdir");
    produce(&ours(), a.path(), false);
    s3_remote(&server)(&ours(), a.path());
    let first = run_ok(&ours(), a.path(), &["push"]);
    assert!(first.contains("pushed") && !first.starts_with("0 files"), "{first}");
    let second = run_ok(&ours(), a.path(), &["push"]);
    assert!(second.starts_with("0 files pushed"), "already-present objects were re-sent: {second}");

    run_ok(&ours(), a.path(), &["remote", "modify", "--local", "s3r", "secret_access_key", "wrong"]);
    std::fs::write(a.path().join("data.txt"), b"changed\n").expect("write");
    run_ok(&ours(), a.path(), &["repro"]);
    let out = run(&ours(), a.path(), &["push"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rejected the credentials") && err.contains("secret_access_key"), "unclear error: {err}");
}

#[test]
fn publish_uploads_a_model_directory_metadata_last_and_refuses_to_overwrite() {
    let server = S3Server::start(&["models"]);
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        &[
            ("model/metadata.json", b"{\"version\":1}"),
            ("model/weights.safetensors", &[1u8; 5000]),
            ("model/plots/loss.png", b"png"),
        ],
    );
    let env = [
        ("AWS_ENDPOINT_URL", server.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", AK),
        ("AWS_SECRET_ACCESS_KEY", SK),
        ("AWS_REGION", "us-east-1"),
    ];
    let to = "s3://models/models/ae/1/";
    let out = run(&ours(), d.path(), &["publish", "--model", "model", "--to", to], &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let base = server.root.path().join("models/models/ae/1");
    assert_eq!(std::fs::read(base.join("weights.safetensors")).expect("weights"), vec![1u8; 5000]);
    assert_eq!(std::fs::read(base.join("plots/loss.png")).expect("plot"), b"png");
    assert_eq!(std::fs::read(base.join("metadata.json")).expect("metadata"), b"{\"version\":1}");
    // metadata.json is written last: its mtime is not older than any other file's.
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).expect("mtime");
    assert!(mtime(&base.join("metadata.json")) >= mtime(&base.join("weights.safetensors")));

    let again = run(&ours(), d.path(), &["publish", "--model", "model", "--to", to], &env);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already published"));
    let forced = run(&ours(), d.path(), &["publish", "--model", "model", "--to", to, "--force"], &env);
    assert!(forced.status.success());

    write(d.path(), &[("notamodel/x.bin", b"x")]);
    let bad = run(&ours(), d.path(), &["publish", "--model", "notamodel", "--to", "s3://models/models/ae/2/"], &env);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("metadata.json"));
}
