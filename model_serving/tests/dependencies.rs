//! The serving binary links no training code: no burn, no autodiff, no optimiser.

use std::process::Command;

#[test]
fn serving_links_no_training_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "model_serving",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(tree.lines().any(|l| l.starts_with("model_core ")), "unexpected tree:\n{tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let training = name.starts_with("burn")
            || name.contains("autodiff")
            || name.contains("optim")
            || name.starts_with("candle")
            || ["model_creation", "tch", "ndarray", "dvc_pipeline"].contains(&name);
        assert!(!training, "model_serving links the training crate {name}:\n{line}");
    }
}
