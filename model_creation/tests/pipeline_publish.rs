//! `publish`: the binary resolves the destination from `--to` and the AWS_* variables and
//! uploads a model directory, metadata.json last, to the in-process S3 server.

mod pipeline_support;

use pipeline_support::*;
use std::path::Path;

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
