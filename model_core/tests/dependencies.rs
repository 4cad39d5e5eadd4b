//! model_core is a leaf: training and serving share it, so it links no storage, no async
//! runtime and no ML framework (workspace_hack, which only evens out features, is left out).

use std::process::Command;

#[test]
fn model_core_links_no_storage_runtime_or_framework() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", "model_core", "-e", "normal", "--prune", "workspace_hack"])
        .args(["--prefix", "none", "--manifest-path", manifest])
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(tree.lines().any(|l| l.starts_with("matrixmultiply ")), "unexpected tree:\n{tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let heavy = name.starts_with("aws-")
            || name.starts_with("tokio")
            || name.starts_with("burn")
            || ["object_storage", "hyper", "reqwest", "dvc_pipeline"].contains(&name);
        assert!(!heavy, "model_core links {name}:\n{line}");
    }
}
