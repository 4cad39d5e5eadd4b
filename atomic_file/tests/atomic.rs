//! What a caller of the one atomic write can rely on: the destination holds the old or the new
//! content, a failed or abandoned write leaves no temporary file, new files get ordinary
//! permissions, and directories are swapped whole.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use atomic_file::{AtomicDir, AtomicFile, Durability, copy, is_temp_name, write, write_with};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn write_replaces_the_file_and_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("a/b/out.txt");
    write(&dest, b"one", Durability::Durable).unwrap();
    write(&dest, b"two", Durability::Fast).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"two");
    assert_eq!(names(&dir.path().join("a/b")), ["out.txt"], "no temporary file is left behind");
}

#[test]
fn new_files_get_the_permissions_of_an_ordinary_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"x").unwrap();
    let atomic = dir.path().join("atomic");
    write(&atomic, b"x", Durability::Fast).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&atomic), mode(&plain), "not tempfile's 0600");
}

#[test]
fn a_failing_body_keeps_the_old_content_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("data.csv");
    write(&dest, b"old", Durability::Fast).unwrap();
    let err = write_with(&dest, Durability::Fast, |w| {
        w.write_all(b"half of the new")?;
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "disk full");
    assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    assert_eq!(names(dir.path()), ["data.csv"]);
}

#[test]
fn an_uncommitted_file_is_invisible_under_the_final_name_and_removed_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("model.bin");
    let mut f = AtomicFile::create(&dest, Durability::Durable).unwrap();
    f.write_all(b"partial").unwrap();
    assert!(!dest.exists());
    let listed = names(dir.path());
    assert_eq!(listed.len(), 1);
    assert!(is_temp_name(&listed[0]) && listed[0].starts_with(".model.bin."), "{listed:?}");
    drop(f);
    assert!(names(dir.path()).is_empty());
}

#[test]
fn copy_makes_a_writable_copy_of_a_read_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, b"cached object").unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o444)).unwrap();
    let dest = dir.path().join("out/copy");
    assert_eq!(copy(&src, &dest, Durability::Durable).unwrap(), 13);
    assert_eq!(std::fs::read(&dest).unwrap(), b"cached object");
    assert!(!std::fs::metadata(&dest).unwrap().permissions().readonly());
    let missing = copy(&dir.path().join("nope"), &dest, Durability::Fast).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(std::fs::read(&dest).unwrap(), b"cached object");
}

#[test]
fn a_directory_is_replaced_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("model");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("old.txt"), b"old").unwrap();

    // Abandoned: the old directory stays as it was, the temporary one goes.
    let new = AtomicDir::create(&dest).unwrap();
    write(&new.path().join("weights"), b"w", Durability::Durable).unwrap();
    drop(new);
    assert_eq!(names(&dest), ["old.txt"]);
    assert_eq!(names(dir.path()), ["model"]);

    let new = AtomicDir::create(&dest).unwrap();
    write(&new.path().join("weights"), b"w", Durability::Durable).unwrap();
    write(&new.path().join("metadata.json"), b"{}", Durability::Durable).unwrap();
    new.commit().unwrap();
    assert_eq!(names(&dest), ["metadata.json", "weights"]);
    assert_eq!(names(dir.path()), ["model"], "the replaced directory is removed");
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_ne!(mode, 0o700, "an ordinary directory, not tempfile's private one");
}

#[test]
fn temporary_names_are_recognised() {
    assert!(is_temp_name(".dvc.lock.a1B2c3.tmp"));
    assert!(!is_temp_name("dvc.lock"));
    assert!(!is_temp_name("keep.tmp"), "a user's file that only ends in .tmp is data");
}
