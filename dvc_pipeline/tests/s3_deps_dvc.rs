//! S3 data as dependencies and imports, against the in-process S3 server. Real dvc first, for
//! the facts `docs/dvc-s3-dependencies.md` records: an object is locked by its ETag (unquoted)
//! and size, a prefix by the md5 of its listing (`.dir`), size and file count; a changed object
//! or listing is a modified dependency. (That also holds the server to what dvc needs of a
//! listing: each object's ETag, and an empty delimiter taken as none, as real S3 does.) Then our
//! engine: the same locks, exactly the stages whose data changed rerun, `import-url`/`update`
//! files that real dvc reads and updates, and the reverse.

mod support;

use std::path::Path;

use dvc_pipeline::Project;
use dvc_pipeline::imports::{self, Imported};
use dvc_pipeline::repro::{Outcome, ReproOptions};
use md5::{Digest, Md5};
use object_storage::AwsEnv;
use support::*;

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

/// dvc.lock's entry of an S3 object dependency, as dvc writes it.
fn object_entry(path: &str, body: &[u8]) -> String {
    format!("    - path: {path}\n      hash: md5\n      etag: {}\n      size: {}\n", md5_hex(body), body.len())
}

/// dvc.lock's entry of an S3 prefix dependency, as dvc writes it.
fn prefix_entry(path: &str, objects: &[(&str, &[u8])]) -> String {
    let size: usize = objects.iter().map(|(_, b)| b.len()).sum();
    format!(
        "    - path: {path}\n      hash: md5\n      md5: {}\n      size: {size}\n      nfiles: {}\n",
        listing_hash(objects),
        objects.len()
    )
}

/// The four S3 entries dvc.lock holds after a first repro of FLEET_YAML over `fill_bucket`'s
/// bucket (`raw`: its `raw/` objects), byte for byte as dvc writes them.
fn assert_fresh_lock(lock: &str, raw: &[(&str, &[u8])]) {
    for expected in [
        object_entry("remote://lake/raw/a.csv", b"x,y\n1,2\n"),
        object_entry("s3://bucket/raw/b.csv", b"x,y\n3,4\n5,6\n"),
        prefix_entry("remote://lake/raw", raw),
        prefix_entry("s3://bucket/other/", &[("x.csv", b"x\n")]),
    ] {
        assert!(lock.contains(&expected), "expected\n{expected}in\n{lock}");
    }
}

#[test]
fn real_dvc_locks_an_s3_object_by_etag_and_a_prefix_by_its_listing() {
    let Some(dvc) = dvc() else { return };
    let server = S3Server::start(&["bucket"]);
    let mut objects = fill_bucket(&server);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    write(dir, &[("dvc.yaml", FLEET_YAML.as_bytes()), ("raw.txt", b"local\n")]);
    let vars = aws_vars(&server);
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dvc_ok = |args: &[&str]| -> String {
        let out = run(&dvc, dir, args, &env);
        assert!(out.status.success(), "dvc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    dvc_ok(&["init", "--no-scm", "-q"]);
    dvc_ok(&["remote", "add", "lake", "s3://bucket"]);
    dvc_ok(&["remote", "modify", "lake", "endpointurl", &server.endpoint]);
    dvc_ok(&["remote", "modify", "lake", "region", "us-east-1"]);
    dvc_ok(&["remote", "modify", "--local", "lake", "access_key_id", AK]);
    dvc_ok(&["remote", "modify", "--local", "lake", "secret_access_key", SK]);
    dvc_ok(&["repro"]);

    let lock = std::fs::read_to_string(dir.join("dvc.lock")).expect("dvc.lock");
    assert_fresh_lock(&lock, &objects);
    assert_eq!(dvc_ok(&["status", "--json"]).trim(), "{}", "an unchanged bucket is up to date");

    // A new object under the prefix changes the listing, not the other object.
    objects.push(("d.csv", b"new\n"));
    put(&server, "bucket/raw/d.csv", b"new\n");
    let status: serde_json::Value = serde_json::from_str(&dvc_ok(&["status", "--json"])).expect("status --json");
    assert_eq!(status, serde_json::json!({"all": [{"changed deps": {"remote://lake/raw": "modified"}}]}));
    dvc_ok(&["repro"]);
    let lock = std::fs::read_to_string(dir.join("dvc.lock")).expect("dvc.lock");
    assert!(lock.contains(&prefix_entry("remote://lake/raw", &objects)), "{lock}");

    // A changed object is a modified dependency of both stages.
    put(&server, "bucket/raw/a.csv", b"x,y\n9,9\n");
    let status: serde_json::Value = serde_json::from_str(&dvc_ok(&["status", "--json"])).expect("status --json");
    assert_eq!(
        status,
        serde_json::json!({
            "one": [{"changed deps": {"remote://lake/raw/a.csv": "modified"}}],
            "all": [{"changed deps": {"remote://lake/raw": "modified"}}]
        })
    );
}

/// The bucket FLEET_YAML's stages read: `raw/` (returned, keys relative to it) and `other/x.csv`.
fn fill_bucket(server: &S3Server) -> Vec<(&'static str, &'static [u8])> {
    let raw: Vec<(&'static str, &'static [u8])> =
        vec![("a.csv", b"x,y\n1,2\n"), ("b.csv", b"x,y\n3,4\n5,6\n"), ("sub/c.csv", b"z\n")];
    for (key, body) in &raw {
        put(server, &format!("bucket/raw/{key}"), body);
    }
    put(server, "bucket/other/x.csv", b"x\n");
    raw
}

/// Puts an object straight into the server's directory.
fn put(server: &S3Server, key: &str, body: &[u8]) {
    let path = server.root.path().join(key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, body).expect("write object");
}

/// The AWS variables a plain `s3://` URL needs to reach the server, as dvc takes them.
fn aws_vars(server: &S3Server) -> [(&'static str, String); 3] {
    [
        ("AWS_ENDPOINT_URL", server.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", AK.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SK.to_string()),
    ]
}

/// Our project in `dir`, with the server's AWS variables (never the developer's).
fn project(dir: &Path, server: &S3Server) -> Project {
    let vars = aws_vars(server);
    let env = AwsEnv::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()));
    open(dir).with_aws_env(env)
}

fn our_repro(dir: &Path, server: &S3Server) -> Result<Vec<(String, Outcome)>, dvc_pipeline::Error> {
    dvc_pipeline::repro::repro(&project(dir, server), &ReproOptions::default(), &mut |_| {})
}

fn status_with(dir: &Path, server: &S3Server) -> serde_json::Value {
    let items = dvc_pipeline::status::status(&project(dir, server)).unwrap_or_else(|e| panic!("status: {}", chain(&e)));
    serde_json::Value::Object(items.into_iter().collect())
}

fn ran(results: &[(String, Outcome)]) -> Vec<&str> {
    results.iter().filter(|(_, o)| *o == Outcome::Ran).map(|(n, _)| n.as_str()).collect()
}

/// A repository (ours: `init`; `remote add lake s3://bucket` with the server's endpoint and keys).
fn repo_with_lake(dir: &Path, server: &S3Server) {
    init(dir);
    remote_add_default(dir, "lake", "s3://bucket");
    remote_modify(dir, "lake", "endpointurl", &server.endpoint, false);
    remote_modify(dir, "lake", "access_key_id", AK, true);
    remote_modify(dir, "lake", "secret_access_key", SK, true);
}

const FLEET_YAML: &str = "stages:
  one:
    cmd: cp raw.txt one.txt
    deps:
    - remote://lake/raw/a.csv
    - raw.txt
    outs:
    - one.txt
  all:
    cmd: echo all > all.txt
    deps:
    - remote://lake/raw
    outs:
    - all.txt
  plain:
    cmd: echo plain > plain.txt
    deps:
    - s3://bucket/raw/b.csv
    outs:
    - plain.txt
  other:
    cmd: echo other > other.txt
    deps:
    - s3://bucket/other/
    outs:
    - other.txt
  local:
    cmd: cp one.txt local.txt
    deps:
    - one.txt
    outs:
    - local.txt
";

#[test]
fn an_s3_dependency_that_changes_reruns_exactly_the_stages_that_use_it() {
    let server = S3Server::start(&["bucket"]);
    let mut raw = fill_bucket(&server);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    repo_with_lake(dir, &server);
    write(dir, &[("dvc.yaml", FLEET_YAML.as_bytes()), ("raw.txt", b"local\n")]);

    let first = our_repro(dir, &server).unwrap_or_else(|e| panic!("repro: {}", chain(&e)));
    assert_eq!(ran(&first), ["one", "all", "plain", "other", "local"]);
    // dvc's lock entries (docs/dvc-s3-dependencies.md 2.1), byte for byte.
    let lock = std::fs::read_to_string(dir.join("dvc.lock")).expect("dvc.lock");
    assert_fresh_lock(&lock, &raw);
    assert_eq!(status_with(dir, &server), serde_json::json!({}));
    assert_eq!(
        ran(&our_repro(dir, &server).expect("second repro")),
        Vec::<&str>::new(),
        "an unchanged bucket reruns nothing"
    );

    // One object changes: the stages on it and on its prefix rerun, and what depends on their outs.
    raw[0] = ("a.csv", b"x,y\n7,8\n");
    put(&server, "bucket/raw/a.csv", raw[0].1);
    assert_eq!(
        status_with(dir, &server),
        serde_json::json!({
            "one": [{"changed deps": {"remote://lake/raw/a.csv": "modified"}}],
            "all": [{"changed deps": {"remote://lake/raw": "modified"}}]
        })
    );
    assert_eq!(ran(&our_repro(dir, &server).expect("repro after a change")), ["one", "all"]);
    let lock = std::fs::read_to_string(dir.join("dvc.lock")).expect("dvc.lock");
    assert!(lock.contains(&object_entry("remote://lake/raw/a.csv", raw[0].1)), "{lock}");
    assert!(lock.contains(&prefix_entry("remote://lake/raw", &raw)), "{lock}");

    // A new object under a prefix is a change of that prefix only.
    put(&server, "bucket/other/y.csv", b"y\n");
    assert_eq!(ran(&our_repro(dir, &server).expect("repro after a new object")), ["other"]);

    // A deleted object: status says so, repro names the URL.
    std::fs::remove_file(server.root.path().join("bucket/raw/b.csv")).expect("delete object");
    assert_eq!(
        status_with(dir, &server),
        serde_json::json!({
            "all": [{"changed deps": {"remote://lake/raw": "modified"}}],
            "plain": [{"changed deps": {"s3://bucket/raw/b.csv": "deleted"}}]
        })
    );
    let err = our_repro(dir, &server).expect_err("a missing object fails repro");
    let message = chain(&err);
    assert!(message.contains("stage 'plain': dependency 's3://bucket/raw/b.csv' does not exist"), "{message}");
}

#[test]
fn real_dvc_and_our_engine_read_each_others_s3_locks() {
    let Some(dvc) = dvc() else { return };
    let server = S3Server::start(&["bucket"]);
    fill_bucket(&server);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    repo_with_lake(dir, &server);
    write(dir, &[("dvc.yaml", FLEET_YAML.as_bytes()), ("raw.txt", b"local\n")]);
    let vars = aws_vars(&server);
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dvc_json = |args: &[&str]| -> serde_json::Value {
        let out = run(&dvc, dir, args, &env);
        assert!(out.status.success(), "dvc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("dvc status --json")
    };

    our_repro(dir, &server).unwrap_or_else(|e| panic!("repro: {}", chain(&e)));
    assert_eq!(dvc_json(&["status", "--json"]), serde_json::json!({}), "real dvc reads our lock as up to date");
    put(&server, "bucket/raw/b.csv", b"x,y\n0,0\n");
    let expected = serde_json::json!({
        "all": [{"changed deps": {"remote://lake/raw": "modified"}}],
        "plain": [{"changed deps": {"s3://bucket/raw/b.csv": "modified"}}]
    });
    assert_eq!(dvc_json(&["status", "--json"]), expected);
    assert_eq!(status_with(dir, &server), expected);

    // dvc reruns them and writes the lock; we read its entries as current.
    let out = run(&dvc, dir, &["repro"], &env);
    assert!(out.status.success(), "dvc repro: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(status_with(dir, &server), serde_json::json!({}));
    let lock_before = std::fs::read(dir.join("dvc.lock")).expect("dvc.lock");
    assert_eq!(ran(&our_repro(dir, &server).expect("our repro")), Vec::<&str>::new());
    assert_eq!(std::fs::read(dir.join("dvc.lock")).expect("dvc.lock"), lock_before, "nothing ran, nothing rewritten");
}

#[test]
fn imports_are_read_and_updated_by_real_dvc_and_by_us() {
    let Some(dvc) = dvc() else { return };
    let server = S3Server::start(&["bucket"]);
    put(&server, "bucket/raw/a.csv", b"x,y\n1,2\n");
    put(&server, "bucket/raw/b.csv", b"x,y\n3,4\n");
    put(&server, "bucket/raw/sub/c.csv", b"z\n");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    repo_with_lake(dir, &server);
    std::fs::create_dir(dir.join("data")).expect("mkdir data");
    let vars = aws_vars(&server);
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dvc_ok = |args: &[&str]| -> String {
        let out = run(&dvc, dir, args, &env);
        assert!(out.status.success(), "dvc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let import = |url: &str, out: &str| -> Imported {
        imports::import_url(&project(dir, &server), url, &dir.join(out), false)
            .unwrap_or_else(|e| panic!("import-url {url}: {}", chain(&e)))
    };
    let update = |file: &str| -> Imported {
        imports::update(&project(dir, &server), &dir.join(file))
            .unwrap_or_else(|e| panic!("update {file}: {}", chain(&e)))
    };
    let read = |rel: &str| std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let text = |rel: &str| String::from_utf8_lossy(&read(rel)).into_owned();

    // Ours, read by dvc: the object (remote://) and the prefix (plain s3://, AWS variables).
    let a = import("remote://lake/raw/a.csv", "data");
    assert_eq!(a.out, dir.join("data/a.csv"), "an existing directory receives the URL's last name");
    import("s3://bucket/raw/", "data/rawdir");
    assert_eq!(read("data/a.csv"), b"x,y\n1,2\n");
    assert_eq!(read("data/rawdir/sub/c.csv"), b"z\n");
    assert_eq!(dvc_ok(&["status", "--json"]).trim(), "{}");
    let ours = (text("data/a.csv.dvc"), text("data/rawdir.dvc"));
    dvc_ok(&["update", "data/a.csv.dvc", "data/rawdir.dvc"]);
    assert_eq!((text("data/a.csv.dvc"), text("data/rawdir.dvc")), ours, "dvc finds our imports current");

    // The source changes: we update the prefix, dvc the object (our file); we read dvc's as current.
    put(&server, "bucket/raw/a.csv", b"x,y\n1,2\n3,4\n");
    assert!(update("data/rawdir.dvc").changed);
    assert_eq!(read("data/rawdir/a.csv"), b"x,y\n1,2\n3,4\n");
    dvc_ok(&["update", "data/a.csv.dvc"]);
    assert_eq!(read("data/a.csv"), b"x,y\n1,2\n3,4\n");
    assert!(!update("data/a.csv.dvc").changed, "dvc's update is current for us");
    assert_eq!(our_status(dir), serde_json::json!({}));

    // The prefix changes: we update, dvc finds our file current.
    put(&server, "bucket/raw/d.csv", b"d\n");
    assert!(update("data/rawdir.dvc").changed);
    assert_eq!(read("data/rawdir/d.csv"), b"d\n");
    let ours = text("data/rawdir.dvc");
    dvc_ok(&["update", "data/rawdir.dvc"]);
    assert_eq!(text("data/rawdir.dvc"), ours, "dvc finds our update current");

    // dvc's import, updated by us.
    dvc_ok(&["import-url", "remote://lake/raw/b.csv", "data/b.csv"]);
    assert!(!update("data/b.csv.dvc").changed);
    put(&server, "bucket/raw/b.csv", b"x,y\n9,9\n");
    assert!(update("data/b.csv.dvc").changed);
    assert_eq!(read("data/b.csv"), b"x,y\n9,9\n");
    assert_eq!(dvc_ok(&["status", "--json"]).trim(), "{}");
    let ours = text("data/b.csv.dvc");
    dvc_ok(&["update", "data/b.csv.dvc"]);
    assert_eq!(text("data/b.csv.dvc"), ours);

    // A source that does not exist: an error naming it, and nothing written.
    let err =
        imports::import_url(&project(dir, &server), "s3://bucket/raw/missing.csv", &dir.join("data/m.csv"), false)
            .expect_err("a missing source fails");
    assert!(chain(&err).contains("'s3://bucket/raw/missing.csv': it does not exist"), "{}", chain(&err));
    assert!(!dir.join("data/m.csv").exists() && !dir.join("data/m.csv.dvc").exists());
}
