//! The registry end to end on a local directory and on the in-process S3 server, as a user of
//! the library sees it: publish, list, read cards, move aliases, resolve, roll back, download,
//! collect garbage, poll, and the errors for damaged objects.

mod common;

use std::path::{Path, PathBuf};

use model_registry::{AliasPoll, ModelRef, Registry, RegistryError};

/// A registry and where its objects lie on disk (to damage them as a broken writer would).
struct Fixture {
    registry: Registry,
    objects: PathBuf,
    _dirs: Vec<tempfile::TempDir>,
    models: tempfile::TempDir,
}

async fn local() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path().to_str().unwrap()).unwrap();
    Fixture { registry, objects: dir.path().to_path_buf(), _dirs: vec![dir], models: tempfile::tempdir().unwrap() }
}

async fn s3() -> Fixture {
    let (registry, root) = common::s3_registry().await;
    let objects = root.path().join("models/registry");
    Fixture { registry, objects, _dirs: vec![root], models: tempfile::tempdir().unwrap() }
}

impl Fixture {
    /// Publishes a model made from `seed` as `ae`; returns its version.
    async fn publish(&self, seed: u64) -> String {
        let dir = self.models.path().join(format!("m{seed}"));
        common::save_model(&dir, seed);
        // Versions are stamped to the millisecond: keep publications in distinct ones.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        self.registry.publish("ae", &dir, common::info("tester@host")).await.unwrap().version
    }

    fn object(&self, key: &str) -> PathBuf {
        self.objects.join(key)
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

async fn round_trip(f: Fixture) {
    let r = &f.registry;
    let v1 = f.publish(1).await;
    let v2 = f.publish(2).await;
    assert!(v1 < v2, "versions sort in creation order: {v1} {v2}");
    assert_eq!(r.names().await.unwrap(), vec!["ae".to_string()]);
    let versions: Vec<String> = r.versions("ae").await.unwrap().into_iter().map(|c| c.version).collect();
    assert_eq!(versions, vec![v1.clone(), v2.clone()]);

    let card = r.card("ae", &v1).await.unwrap();
    assert_eq!(card.published_by, "tester@host");
    assert_eq!(card.git_commit.as_deref(), Some("abc123"));
    assert_eq!(card.features, vec!["a", "b", "c"]);
    assert_eq!(card.data_md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(card.params["train"]["seed"], 1);
    assert!(
        card.files.contains(&"weights.safetensors".to_string()) && card.files.contains(&"metadata.json".to_string())
    );

    // No champion yet: a bare name does not resolve.
    let e = r.resolve(&"ae".parse().unwrap()).await.unwrap_err();
    assert!(matches!(e, RegistryError::AliasNotFound { .. }), "{e}");

    r.set_alias("ae", "champion", &v1, "tester").await.unwrap();
    let rec = r.set_alias("ae", "champion", &v2, "tester").await.unwrap();
    assert_eq!(rec.history.len(), 1);
    assert_eq!(rec.history[0].version, v1);
    assert_eq!(r.resolve(&"ae".parse().unwrap()).await.unwrap().version, v2);
    assert_eq!(r.resolve(&"ae@champion".parse().unwrap()).await.unwrap().version, v2);
    let pinned: ModelRef = format!("ae:{v1}").parse().unwrap();
    assert_eq!(r.resolve(&pinned).await.unwrap().version, v1);

    let e = r.set_alias("ae", "champion", "20000101T000000000Z-00000000", "tester").await.unwrap_err();
    assert!(matches!(e, RegistryError::VersionNotFound { .. }), "{e}");

    let back = r.rollback("ae", "champion", "tester").await.unwrap();
    assert_eq!(back.version, v1);
    assert_eq!(r.get_alias("ae", "champion").await.unwrap().unwrap().version, v1);
    let e = r.rollback("ae", "champion", "tester").await.unwrap_err();
    assert!(matches!(e, RegistryError::NoHistory { .. }), "{e}");

    // pull writes a model that loads, with its card beside it.
    let out = f.models.path().join("pulled");
    r.pull("ae", &v2, &out).await.unwrap();
    let model = model_core::Model::load(&out).unwrap();
    assert_eq!(model.meta.version, "seed2");
    assert!(out.join("card.json").is_file());

    r.delete_alias("ae", "champion").await.unwrap();
    assert_eq!(r.get_alias("ae", "champion").await.unwrap(), None);
}

#[tokio::test]
async fn local_round_trip() {
    round_trip(local().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_round_trip() {
    round_trip(s3().await).await;
}

async fn damage_is_reported(f: Fixture) {
    let r = &f.registry;
    let v1 = f.publish(1).await;
    let v2 = f.publish(2).await;

    // A version whose card is not written yet (or was deleted first) is invisible.
    std::fs::remove_file(f.object(&format!("ae/versions/{v2}/card.json"))).unwrap();
    let versions: Vec<String> = r.versions("ae").await.unwrap().into_iter().map(|c| c.version).collect();
    assert_eq!(versions, vec![v1.clone()]);
    assert!(matches!(r.card("ae", &v2).await, Err(RegistryError::VersionNotFound { .. })));
    assert!(matches!(r.fetch("ae", &v2).await, Err(RegistryError::VersionNotFound { .. })));

    // Tampered weights: fetch refuses, naming the object.
    let weights = f.object(&format!("ae/versions/{v1}/weights.safetensors"));
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    write(&weights, &bytes);
    let e = r.fetch("ae", &v1).await.unwrap_err();
    assert!(matches!(e, RegistryError::Checksum { .. }), "{e}");
    assert!(e.to_string().contains(&format!("ae/versions/{v1}/weights.safetensors")), "{e}");
    let out = f.models.path().join("pulled");
    assert!(matches!(r.pull("ae", &v1, &out).await, Err(RegistryError::Checksum { .. })));
    assert!(!out.exists(), "a refused download leaves nothing behind");

    // A corrupt card names its object.
    write(&f.object(&format!("ae/versions/{v1}/card.json")), b"{not json");
    let e = r.card("ae", &v1).await.unwrap_err().to_string();
    assert!(e.contains(&format!("ae/versions/{v1}/card.json")) && e.contains(&r.describe()), "{e}");

    // A corrupt alias names its object; so does an alias naming a missing version.
    std::fs::create_dir_all(f.object("ae/aliases")).unwrap();
    write(&f.object("ae/aliases/champion.json"), b"[]");
    let e = r.get_alias("ae", "champion").await.unwrap_err().to_string();
    assert!(e.contains("ae/aliases/champion.json"), "{e}");
    write(
        &f.object("ae/aliases/champion.json"),
        format!(r#"{{"alias":"champion","version":"{v2}","set_at":"x","set_by":"y","history":[]}}"#).as_bytes(),
    );
    let e = r.resolve(&"ae".parse().unwrap()).await.unwrap_err();
    assert!(matches!(e, RegistryError::AliasTargetMissing { .. }), "{e}");
    assert!(e.to_string().contains("ae/aliases/champion.json") && e.to_string().contains(&v2), "{e}");
}

#[tokio::test]
async fn local_damage_is_reported() {
    damage_is_reported(local().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_damage_is_reported() {
    damage_is_reported(s3().await).await;
}

async fn gc_keeps_aliased_versions(f: Fixture) {
    let r = &f.registry;
    let mut v = Vec::new();
    for seed in 1..=5 {
        v.push(f.publish(seed).await);
    }
    r.set_alias("ae", "champion", &v[0], "tester").await.unwrap();
    r.set_alias("ae", "staging", &v[2], "tester").await.unwrap();
    let planned = r.gc("ae", 2, true).await.unwrap();
    assert_eq!(planned, vec![v[1].clone()]);
    assert_eq!(r.versions("ae").await.unwrap().len(), 5, "a dry run deletes nothing");
    assert_eq!(r.gc("ae", 2, false).await.unwrap(), vec![v[1].clone()]);
    let left: Vec<String> = r.versions("ae").await.unwrap().into_iter().map(|c| c.version).collect();
    assert_eq!(left, vec![v[0].clone(), v[2].clone(), v[3].clone(), v[4].clone()]);
    assert!(!f.object(&format!("ae/versions/{}/weights.safetensors", v[1])).exists());
}

#[tokio::test]
async fn local_gc_keeps_aliased_versions() {
    gc_keeps_aliased_versions(local().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_gc_keeps_aliased_versions() {
    gc_keeps_aliased_versions(s3().await).await;
}

async fn poll_sees_moves(f: Fixture) {
    let r = &f.registry;
    let v1 = f.publish(1).await;
    let v2 = f.publish(2).await;
    assert_eq!(r.poll_alias("ae", "champion", None).await.unwrap(), AliasPoll::Missing);
    r.set_alias("ae", "champion", &v1, "tester").await.unwrap();
    let AliasPoll::Changed { record, etag } = r.poll_alias("ae", "champion", None).await.unwrap() else {
        panic!("a new alias is a change")
    };
    assert_eq!(record.version, v1);
    assert!(etag.is_some());
    assert_eq!(r.poll_alias("ae", "champion", etag.as_deref()).await.unwrap(), AliasPoll::Unchanged);
    r.set_alias("ae", "champion", &v2, "tester").await.unwrap();
    let AliasPoll::Changed { record, .. } = r.poll_alias("ae", "champion", etag.as_deref()).await.unwrap() else {
        panic!("a moved alias is a change")
    };
    assert_eq!(record.version, v2);
}

#[tokio::test]
async fn local_poll_sees_moves() {
    poll_sees_moves(local().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_poll_sees_moves() {
    poll_sees_moves(s3().await).await;
}

#[tokio::test]
async fn publishing_refuses_a_directory_that_is_not_a_model() {
    let f = local().await;
    let dir = f.models.path().join("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let e = f.registry.publish("ae", &dir, common::info("t")).await.unwrap_err();
    assert!(matches!(e, RegistryError::Model { .. }), "{e}");
    let e = f.registry.publish("a@b", &dir, common::info("t")).await.unwrap_err();
    assert!(e.to_string().contains("invalid model name 'a@b'"), "{e}");
    assert!(f.registry.names().await.unwrap().is_empty());
}
