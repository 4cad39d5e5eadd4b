//! Real dvc's S3 dependencies against the in-process S3 server, the facts
//! `docs/dvc-s3-dependencies.md` records: an object is locked by its ETag (unquoted) and size, a
//! prefix by the md5 of its listing (`.dir`), size and file count; a changed object or listing
//! is a modified dependency. It also holds the server to what dvc needs of a listing: each
//! object's ETag, and an empty delimiter taken as none (as real S3 does).

mod support;

use md5::{Digest, Md5};
use support::*;

const DVC_YAML: &str = "stages:
  one:
    cmd: echo one > one.txt
    deps:
    - remote://lake/raw/a.csv
    outs:
    - one.txt
  all:
    cmd: echo all > all.txt
    deps:
    - remote://lake/raw
    outs:
    - all.txt
";

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `.dir` hash dvc gives a prefix: md5 of `[{"etag": .., "relpath": ..}, ..]` sorted by
/// relpath, as Python's `json.dumps(sort_keys=True)` writes it.
fn listing_hash(objects: &[(&str, &[u8])]) -> String {
    let mut sorted = objects.to_vec();
    sorted.sort_by_key(|(key, _)| *key);
    let entries: Vec<String> = sorted
        .iter()
        .map(|(key, body)| format!("{{\"etag\": \"{}\", \"relpath\": \"{key}\"}}", md5_hex(body)))
        .collect();
    format!("{}.dir", md5_hex(format!("[{}]", entries.join(", ")).as_bytes()))
}

#[test]
fn real_dvc_locks_an_s3_object_by_etag_and_a_prefix_by_its_listing() {
    let Some(dvc) = dvc() else { return };
    let server = S3Server::start(&["bucket"]);
    let put = |key: &str, body: &[u8]| {
        let path = server.root.path().join("bucket").join(key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write object");
    };
    let mut objects: Vec<(&str, &[u8])> =
        vec![("a.csv", b"x,y\n1,2\n"), ("b.csv", b"x,y\n3,4\n5,6\n"), ("sub/c.csv", b"z\n")];
    for (key, body) in &objects {
        put(&format!("raw/{key}"), body);
    }
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    write(dir, &[("dvc.yaml", DVC_YAML.as_bytes())]);
    run_ok(&dvc, dir, &["init", "--no-scm", "-q"]);
    run_ok(&dvc, dir, &["remote", "add", "lake", "s3://bucket"]);
    run_ok(&dvc, dir, &["remote", "modify", "lake", "endpointurl", &server.endpoint]);
    run_ok(&dvc, dir, &["remote", "modify", "lake", "region", "us-east-1"]);
    run_ok(&dvc, dir, &["remote", "modify", "--local", "lake", "access_key_id", AK]);
    run_ok(&dvc, dir, &["remote", "modify", "--local", "lake", "secret_access_key", SK]);
    run_ok(&dvc, dir, &["repro"]);

    let lock = std::fs::read_to_string(dir.join("dvc.lock")).expect("dvc.lock");
    let object = format!(
        "    - path: remote://lake/raw/a.csv\n      hash: md5\n      etag: {}\n      size: 8\n",
        md5_hex(b"x,y\n1,2\n")
    );
    assert!(lock.contains(&object), "object dependency:\n{object}\nnot in:\n{lock}");
    let prefix = format!(
        "    - path: remote://lake/raw\n      hash: md5\n      md5: {}\n      size: 22\n      nfiles: 3\n",
        listing_hash(&objects)
    );
    assert!(lock.contains(&prefix), "prefix dependency:\n{prefix}\nnot in:\n{lock}");
    assert_eq!(run_ok(&dvc, dir, &["status", "--json"]).trim(), "{}", "an unchanged bucket is up to date");

    // A new object under the prefix changes the listing, not the other object.
    objects.push(("d.csv", b"new\n"));
    put("raw/d.csv", b"new\n");
    let status: serde_json::Value =
        serde_json::from_str(&run_ok(&dvc, dir, &["status", "--json"])).expect("status --json");
    assert_eq!(status, serde_json::json!({"all": [{"changed deps": {"remote://lake/raw": "modified"}}]}));
    run_ok(&dvc, dir, &["repro"]);
    let lock = std::fs::read_to_string(dir.join("dvc.lock")).expect("dvc.lock");
    assert!(
        lock.contains(&format!("      md5: {}\n      size: 26\n      nfiles: 4\n", listing_hash(&objects))),
        "{lock}"
    );

    // A changed object is a modified dependency of both stages.
    put("raw/a.csv", b"x,y\n9,9\n");
    let status: serde_json::Value =
        serde_json::from_str(&run_ok(&dvc, dir, &["status", "--json"])).expect("status --json");
    assert_eq!(
        status,
        serde_json::json!({
            "one": [{"changed deps": {"remote://lake/raw/a.csv": "modified"}}],
            "all": [{"changed deps": {"remote://lake/raw": "modified"}}]
        })
    );
}
