//! push from one tool, pull with the other: local directory remotes and S3 (the in-process
//! s3s server, which checks signatures, with dvc as a subprocess talking to it). Our side runs
//! through the library API.

mod support;

use std::path::{Path, PathBuf};
use support::*;

const DVC_YAML: &str = "stages:\n  gen:\n    cmd: mkdir -p out/deep && printf 'a\\r\\nb\\r\\n' > out/crlf.txt && printf '' > out/empty && echo n > 'out/deep/\u{e9}t\u{e9}.txt' && echo h > out/.hid && echo m > model.bin\n    deps:\n    - data.txt\n    outs:\n    - out\n    - model.bin\n    metrics:\n    - m.json:\n        cache: false\n";

/// Real dvc (a subprocess) or our engine (the library).
enum Tool {
    Dvc(PathBuf),
    Ours,
}

impl Tool {
    fn run(&self, dir: &Path, args: &[&str]) {
        let Tool::Dvc(dvc) = self else { unreachable!("dvc commands only") };
        run_ok(dvc, dir, args);
    }

    fn produce(&self, dir: &Path) {
        make(dir);
        match self {
            Tool::Dvc(_) => {
                self.run(dir, &["init", "--no-scm", "-q"]);
                self.run(dir, &["repro"]);
                self.run(dir, &["add", "big.bin"]);
            }
            Tool::Ours => {
                init(dir);
                repro(dir);
                add(dir, "big.bin");
            }
        }
    }

    fn remote_add_default(&self, dir: &Path, name: &str, url: &str) {
        match self {
            Tool::Dvc(_) => self.run(dir, &["remote", "add", "-d", name, url]),
            Tool::Ours => support::remote_add_default(dir, name, url),
        }
    }

    fn remote_modify(&self, dir: &Path, name: &str, key: &str, value: &str, local: bool) {
        match self {
            Tool::Dvc(_) if local => self.run(dir, &["remote", "modify", "--local", name, key, value]),
            Tool::Dvc(_) => self.run(dir, &["remote", "modify", name, key, value]),
            Tool::Ours => support::remote_modify(dir, name, key, value, local),
        }
    }

    fn push(&self, dir: &Path) {
        match self {
            Tool::Dvc(_) => self.run(dir, &["push"]),
            Tool::Ours => {
                push(dir);
            }
        }
    }

    fn pull(&self, dir: &Path) {
        match self {
            Tool::Dvc(_) => self.run(dir, &["pull"]),
            Tool::Ours => {
                pull(dir);
            }
        }
    }
}

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

fn roundtrip(from: &Tool, to: &Tool, setup_remote: &dyn Fn(&Tool, &Path)) {
    let a = tempfile::tempdir().expect("tempdir");
    from.produce(a.path());
    setup_remote(from, a.path());
    from.push(a.path());
    let b = tempfile::tempdir().expect("tempdir");
    clone_committed(a.path(), b.path());
    to.pull(b.path());
    let mut want = snapshot(a.path());
    // cache: false outs are not pushed, so a pull does not restore them (as with dvc).
    want.retain(|(k, _)| k != "m.json" && !k.ends_with(".gitignore"));
    let got: Vec<_> = snapshot(b.path()).into_iter().filter(|(k, _)| !k.ends_with(".gitignore")).collect();
    assert_eq!(want.iter().map(|(k, _)| k).collect::<Vec<_>>(), got.iter().map(|(k, _)| k).collect::<Vec<_>>());
    assert_eq!(want, got, "pulled files differ from the pushed workspace");
}

fn local_remote(remote: &Path) -> impl Fn(&Tool, &Path) + '_ {
    move |tool: &Tool, dir: &Path| tool.remote_add_default(dir, "store", remote.to_str().expect("utf8"))
}

#[test]
fn dvc_push_then_our_pull_on_a_local_remote() {
    let Some(dvc) = dvc() else { return };
    let r = tempfile::tempdir().expect("tempdir");
    roundtrip(&Tool::Dvc(dvc), &Tool::Ours, &local_remote(r.path()));
}

#[test]
fn our_push_then_dvc_pull_on_a_local_remote() {
    let Some(dvc) = dvc() else { return };
    let r = tempfile::tempdir().expect("tempdir");
    roundtrip(&Tool::Ours, &Tool::Dvc(dvc), &local_remote(r.path()));
}

fn s3_remote(server: &S3Server) -> impl Fn(&Tool, &Path) + '_ {
    move |tool: &Tool, dir: &Path| {
        tool.remote_add_default(dir, "s3r", "s3://dvcpeer/store");
        tool.remote_modify(dir, "s3r", "endpointurl", &server.endpoint, false);
        tool.remote_modify(dir, "s3r", "access_key_id", AK, true);
        tool.remote_modify(dir, "s3r", "secret_access_key", SK, true);
        tool.remote_modify(dir, "s3r", "region", "us-east-1", false);
    }
}

#[test]
fn dvc_push_then_our_pull_on_s3() {
    let Some(dvc) = dvc() else { return };
    let server = S3Server::start(&["dvcpeer"]);
    roundtrip(&Tool::Dvc(dvc), &Tool::Ours, &s3_remote(&server));
}

#[test]
fn our_push_then_dvc_pull_on_s3() {
    let Some(dvc) = dvc() else { return };
    let server = S3Server::start(&["dvcpeer"]);
    roundtrip(&Tool::Ours, &Tool::Dvc(dvc), &s3_remote(&server));
}

#[test]
fn our_push_then_our_pull_on_s3_and_on_a_local_remote() {
    // Without real dvc too, a transfer round trip runs in every environment.
    let server = S3Server::start(&["dvcpeer"]);
    roundtrip(&Tool::Ours, &Tool::Ours, &s3_remote(&server));
    let r = tempfile::tempdir().expect("tempdir");
    roundtrip(&Tool::Ours, &Tool::Ours, &local_remote(r.path()));
}

#[test]
fn second_push_sends_nothing_and_wrong_secret_is_explained() {
    let server = S3Server::start(&["dvcpeer"]);
    let a = tempfile::tempdir().expect("tempdir");
    Tool::Ours.produce(a.path());
    s3_remote(&server)(&Tool::Ours, a.path());
    let first = push(a.path());
    assert!(first.transferred > 0, "{first:?}");
    let second = push(a.path());
    assert_eq!(second.transferred, 0, "already-present objects were re-sent: {second:?}");

    remote_modify(a.path(), "s3r", "secret_access_key", "wrong", true);
    std::fs::write(a.path().join("data.txt"), b"changed\n").expect("write");
    repro(a.path());
    let err = chain(&try_push(a.path()).expect_err("the server refuses the secret"));
    assert!(err.contains("rejected the credentials") && err.contains("secret_access_key"), "unclear error: {err}");
}

/// The file's permission bits, in octal as `ls` and `chmod` write them.
fn mode(path: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    format!("{:o}", std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777)
}

#[test]
fn config_local_holding_keys_is_readable_by_its_owner_only() {
    let d = tempfile::tempdir().expect("tempdir");
    init(d.path());
    remote_add_default(d.path(), "s3r", "s3://bucket/cache");
    remote_modify(d.path(), "s3r", "access_key_id", "AKIAEXAMPLE", true);
    remote_modify(d.path(), "s3r", "secret_access_key", "wJalrXUtnFEMI", true);
    let local = d.path().join(".dvc/config.local");
    assert_eq!(mode(&local), "600", "a new config.local");
    let text = std::fs::read_to_string(&local).expect("read");
    assert!(text.contains("secret_access_key = wJalrXUtnFEMI"), "{text}");
    // The shared config is a normal file (it goes into git, without keys).
    assert_ne!(mode(&d.path().join(".dvc/config")), "600");

    // One made readable by others (by dvc, or by hand) is private again after the next write.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    remote_modify(d.path(), "s3r", "region", "eu-west-1", true);
    assert_eq!(mode(&local), "600", "an existing config.local");
    let text = std::fs::read_to_string(&local).expect("read");
    assert!(text.contains("secret_access_key = wJalrXUtnFEMI") && text.contains("region = eu-west-1"), "{text}");
}

#[test]
fn remote_errors_hide_the_credentials_of_urls() {
    let secret = "s3cr3tpw";
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), &[("data.txt", b"x\n")]);
    init(d.path());
    add(d.path(), "data.txt");
    // A bucket URL with credentials in it: not a valid bucket, and said without them.
    remote_add_default(d.path(), "bad", &format!("s3://AKIA:{secret}@bucket/cache"));
    let e = chain(&try_push(d.path()).expect_err("not a bucket name"));
    assert!(!e.contains(secret) && e.contains("s3://***@bucket/cache"), "{e}");
    // An endpoint with credentials that nothing answers at: the error names it without them.
    remote_add_default(d.path(), "down", "s3://bucket/cache");
    remote_modify(d.path(), "down", "endpointurl", &format!("http://minio:{secret}@127.0.0.1:9"), false);
    remote_modify(d.path(), "down", "access_key_id", "AKIAEXAMPLE", true);
    remote_modify(d.path(), "down", "secret_access_key", "wJalrXUtnFEMI", true);
    let e = chain(&try_push(d.path()).expect_err("nothing listens on port 9"));
    assert!(!e.contains(secret) && e.contains("http://***@127.0.0.1:9"), "{e}");
    // Not a valid endpoint either.
    remote_modify(d.path(), "down", "endpointurl", &format!("minio:{secret}@127.0.0.1:9"), false);
    let e = chain(&try_push(d.path()).expect_err("not an http URL"));
    assert!(!e.contains(secret) && e.contains("endpointurl"), "{e}");
}
