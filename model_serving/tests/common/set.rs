//! A model set trained once per test binary: three simulated machines (the third faulty), one
//! model each plus a fallback trained on every row, and a copy without the fallback.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use model_creation::commands::Kind;
use model_creation::params::Params;
use model_creation::simulate::{FleetOptions, generate_fleet, write_fleet};
use model_creation::train::groups::Selection;

pub struct SetFixture {
    /// The set with a fallback model.
    pub with_fallback: PathBuf,
    /// The same set without it.
    pub without_fallback: PathBuf,
    /// The fleet's test rows: (machine, row).
    pub test: Vec<(String, [f64; 6])>,
}

/// Three machines, one set trained once per test binary (3 epochs), plus a copy without the
/// fallback model.
pub fn set_fixture() -> &'static SetFixture {
    static FIXTURE: OnceLock<SetFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let fleet =
            generate_fleet(&FleetOptions { seed: 5, machines: 3, faulty: Some(3), train_rows: 600, test_rows: 200 });
        write_fleet(&dir.join("fleet"), &fleet, 600).unwrap();
        let mut params = Params::default();
        params.train.epochs = 3;
        params.data.group_by = Some("machine".into());
        params.data.group_fallback = true;
        let with_fallback = dir.join("set");
        model_creation::commands::train_groups(
            &dir.join("fleet/train.csv"),
            &with_fallback,
            &params,
            &dir.join("plots"),
            Kind::Autoencoder,
            &Selection::All,
        )
        .unwrap();
        let without_fallback = dir.join("set-no-fallback");
        copy_dir(&with_fallback, &without_fallback);
        std::fs::remove_dir_all(without_fallback.join("fallback")).unwrap();
        let manifest = without_fallback.join("set.json");
        let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        json["fallback"] = serde_json::Value::Null;
        std::fs::write(&manifest, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        let test = fleet.iter().flat_map(|m| m.test.iter().map(|r| (m.name.clone(), *r))).collect();
        SetFixture { with_fallback, without_fallback, test }
    })
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
