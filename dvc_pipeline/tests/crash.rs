//! Crash safety: killing repro in the middle of a stage or while a large out is being cached
//! leaves no partial object under a final cache name and the last good dvc.lock; an
//! interrupted push completes when re-run. The process killed is this test binary itself,
//! started again to run one engine command (see [`engine_command_in_a_child_process`]).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const CHILD_DIR: &str = "DVC_PIPELINE_CRASH_TEST_DIR";
const CHILD_COMMAND: &str = "DVC_PIPELINE_CRASH_TEST_COMMAND";

/// Not a test of its own (ignored in a normal run, so it never counts as a passing test): the
/// child process [`spawn`] starts runs it, with the variables set, to run one engine command in
/// the given directory, in a process the test can kill.
#[test]
#[ignore = "a helper: the crash tests run it in a child process they kill"]
fn engine_command_in_a_child_process() {
    let (Some(dir), Ok(command)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_COMMAND)) else {
        panic!("{CHILD_DIR} and {CHILD_COMMAND} are not set: this helper runs only in a crash test's child process");
    };
    let dir = Path::new(&dir);
    match command.as_str() {
        "repro" => {
            repro(dir);
        }
        "push -j 1" => {
            push_with_jobs(dir, 1);
        }
        other => panic!("unknown child command {other}"),
    }
}

/// Starts this test binary running `command` (`repro`, `push -j 1`) in `dir`, in a process
/// group of its own (so the stage's shell dies with it).
fn spawn(dir: &Path, command: &str, env: &[(&str, &str)]) -> Child {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "engine_command_in_a_child_process", "--ignored", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_COMMAND, command)
        .env("SHELL", "/bin/sh")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.process_group(0);
    cmd.spawn().expect("spawn")
}

fn kill_group(child: &mut Child) {
    let _ = Command::new("kill").args(["-9", "--", &format!("-{}", child.id())]).status();
    let _ = child.wait();
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every object under a final (non-temporary) name holds the bytes its name says.
fn assert_cache_sound(root: &Path) {
    for (key, bytes) in cache_objects(root) {
        let name = key.replace('/', "");
        let want = name.trim_end_matches(".dir");
        let got = dvc_pipeline::checksum::hex(&<md5::Md5 as md5::Digest>::digest(&bytes));
        assert_eq!(got, want, "cache object {key} is partial or corrupt");
    }
}

const YAML: &str = "stages:\n  s:\n    cmd: cat in.txt > out.txt && sleep $((STAGE_PAUSE+0)) && head -c 8000000 /dev/zero > big.out && cat in.txt >> big.out\n    deps:\n    - in.txt\n    outs:\n    - out.txt\n    - big.out\n";

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), &[("in.txt", b"v1\n"), ("dvc.yaml", YAML.as_bytes())]);
    init(d.path());
    repro(d.path());
    d
}

#[test]
fn killed_during_a_stage_keeps_the_last_good_lock() {
    let d = setup();
    let lock = std::fs::read(d.path().join("dvc.lock")).expect("lock");
    std::fs::write(d.path().join("in.txt"), b"v2\n").expect("write");
    let mut child = spawn(d.path(), "repro", &[("STAGE_PAUSE", "30")]);
    wait_for("the stage to start", || std::fs::read(d.path().join("out.txt")).is_ok_and(|b| b == b"v2\n"));
    kill_group(&mut child);
    assert_eq!(std::fs::read(d.path().join("dvc.lock")).expect("lock"), lock, "lock changed by a killed run");
    assert_cache_sound(d.path());
    let out = repro(d.path());
    assert!(out.contains("Running stage 's'"), "{out}");
    assert_eq!(our_status(d.path()), serde_json::json!({}));
}

#[test]
fn killed_while_caching_a_large_out_leaves_no_partial_object() {
    let d = setup();
    let lock = std::fs::read(d.path().join("dvc.lock")).expect("lock");
    std::fs::write(d.path().join("in.txt"), b"v3\n").expect("write");
    let mut child = spawn(d.path(), "repro", &[("DVC_PIPELINE_TEST_PAUSE_CACHING", "30000")]);
    let objects = d.path().join(".dvc/cache/files/md5");
    let has_tmp = || {
        std::fs::read_dir(&objects).into_iter().flatten().flatten().any(|sub| {
            std::fs::read_dir(sub.path())
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| f.file_name().to_string_lossy().ends_with(".tmp"))
        })
    };
    wait_for("caching to start", has_tmp);
    kill_group(&mut child);
    assert_eq!(std::fs::read(d.path().join("dvc.lock")).expect("lock"), lock, "lock changed by a killed run");
    assert_cache_sound(d.path());
    repro(d.path());
    assert_cache_sound(d.path());
    assert_eq!(our_status(d.path()), serde_json::json!({}));
}

#[test]
fn interrupted_push_completes_when_rerun() {
    let d = tempfile::tempdir().expect("tempdir");
    let remote = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..400 {
        files.push((format!("data/f{i:04}.txt"), vec![b'a' + (i % 26) as u8; 20_000 + i]));
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
    write(d.path(), &refs);
    init(d.path());
    add(d.path(), "data");
    remote_add_default(d.path(), "r", remote.path().to_str().expect("utf8"));
    let mut child = spawn(d.path(), "push -j 1", &[("DVC_PIPELINE_TEST_PAUSE_TRANSFER", "50")]);
    let objects = remote.path().join("files/md5");
    wait_for("the upload to start", || std::fs::read_dir(&objects).map(|r| r.count() > 3).unwrap_or(false));
    kill_group(&mut child);
    let report = push(d.path());
    assert!(report.missing.is_empty(), "{report:?}");
    // A fresh clone pulls everything back intact.
    let c = tempfile::tempdir().expect("tempdir");
    write(c.path(), &[]);
    std::fs::copy(d.path().join("data.dvc"), c.path().join("data.dvc")).expect("copy");
    init(c.path());
    remote_add_default(c.path(), "r", remote.path().to_str().expect("utf8"));
    pull(c.path());
    let want: Vec<_> = snapshot(d.path()).into_iter().filter(|(k, _)| k.starts_with("data/")).collect();
    let got: Vec<_> = snapshot(c.path()).into_iter().filter(|(k, _)| k.starts_with("data/")).collect();
    assert_eq!(want.len(), 400);
    assert_eq!(want, got);
}

/// A file named as `atomic_file` names a write in progress, holding `bytes`, last written
/// `age` ago.
fn temp_file(dir: &Path, final_name: &str, random: &str, bytes: &[u8], age: Duration) -> std::path::PathBuf {
    let path = dir.join(format!(".{final_name}.{random}.tmp"));
    assert!(atomic_file::is_temp_name(&path.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, bytes).expect("write");
    let file = std::fs::File::options().write(true).open(&path).expect("open");
    file.set_modified(std::time::SystemTime::now() - age).expect("set mtime");
    path
}

#[test]
fn the_next_push_removes_temporary_files_a_killed_push_left_on_a_local_remote() {
    let d = tempfile::tempdir().expect("tempdir");
    let remote = tempfile::tempdir().expect("tempdir");
    let files: Vec<(String, Vec<u8>)> =
        (0..6).map(|i| (format!("data/f{i}.txt"), vec![b'a' + i as u8; 1000])).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
    write(d.path(), &refs);
    init(d.path());
    add(d.path(), "data");
    remote_add_default(d.path(), "r", remote.path().to_str().expect("utf8"));
    push(d.path());

    // As a push killed while copying leaves it: an object missing, part of it under a temporary
    // name in its directory, hours old; next to an object the remote does have, another one.
    let objects = cache_objects(d.path());
    let (lost, _) = objects.iter().find(|(k, _)| !k.ends_with(".dir")).expect("a file object");
    let lost_path = remote.path().join("files/md5").join(lost);
    std::fs::remove_file(&lost_path).expect("remove");
    let lost_dir = lost_path.parent().expect("dir").to_path_buf();
    let lost_name = lost_path.file_name().unwrap().to_string_lossy().into_owned();
    let hours = Duration::from_secs(2 * 3600);
    let stale = temp_file(&lost_dir, &lost_name, "Xy12Ab", b"half of it", hours);
    let (kept, _) = objects.iter().find(|(k, _)| k != lost).expect("another object");
    let kept_path = remote.path().join("files/md5").join(kept);
    let kept_dir = kept_path.parent().expect("dir").to_path_buf();
    let stale_too = temp_file(&kept_dir, "0123456789abcdef", "Qw34Er", b"old", hours);
    // A push running now in another process: its file is being written, so it stays.
    let live = temp_file(&lost_dir, "fedcba9876543210", "Zx56Cv", b"in progress", Duration::ZERO);
    // Not of the store's naming: never touched, however old.
    let other = lost_dir.join("notes.txt");
    std::fs::write(&other, b"mine").expect("write");
    std::fs::File::options()
        .write(true)
        .open(&other)
        .expect("open")
        .set_modified(std::time::SystemTime::now() - hours)
        .expect("mtime");

    let report = push(d.path());
    assert_eq!(report.stale_temp_files_removed, 2, "{report:?}");
    assert_eq!(report.transferred, 1, "{report:?}");
    assert!(!stale.exists() && !stale_too.exists(), "stale temporary files are left");
    assert!(live.exists(), "a fresh temporary file (another push's) was removed");
    assert!(other.exists(), "a file not named as a temporary one was removed");
    // Every object is on the remote, whole.
    for (key, bytes) in &objects {
        let on_remote = std::fs::read(remote.path().join("files/md5").join(key)).expect("object on the remote");
        assert_eq!(&on_remote, bytes, "{key}");
    }
    // Nothing stale left: the next push removes nothing.
    assert_eq!(push(d.path()).stale_temp_files_removed, 0);
}
