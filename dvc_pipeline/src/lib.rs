//! DVC 3 compatible pipeline engine: reads `dvc.yaml` / `params.yaml`, keeps `dvc.lock`, the
//! md5 cache and run-cache in DVC's own formats, and moves cache objects to S3 or local
//! remotes, so a project can be run with this crate or with real DVC interchangeably.
//!
//! Modules, roughly in data-flow order: `yaml` (YAML 1.2 in/out), `dvcfile` (stage schema,
//! vars, foreach/matrix) with `interp` and `params`, `pipeline` (the DAG), [`checksum`] (md5 of
//! bytes) + `hashing` (of paths) + `state` + `ignore`, `lock` (dvc.lock and `.dvc` files),
//! `cache`, `runcache`, `project` (an opened repository: [`Project`]), [`repro`], [`status`],
//! `add`, `external` (S3 dependencies) and [`imports`] (`import-url`, `update`), [`workspace`] (checkout, gc, metrics), [`config`], [`remote`], [`transfer`]
//! (push/fetch) and [`publish`].

// The API model_creation and the tests use; everything else is crate-internal.
pub mod checksum;
pub mod config;
pub mod external;
pub mod imports;
pub mod publish;
pub mod remote;
pub mod repro;
pub mod status;
pub mod transfer;
pub mod workspace;

mod add;
mod cache;
mod dvcfile;
mod error;
mod hashing;
mod ignore;
mod interp;
mod lock;
mod params;
mod pipeline;
mod project;
mod pyjson;
mod repo;
mod runcache;
mod state;
mod yaml;

pub use add::add;
pub use error::{Error, Result};
pub use lock::LockFile;
pub use project::Project;
pub use repo::Repo;

/// Reads the pipeline files in `dir` as `status` and `repro` read them, without running, hashing
/// or writing anything: `dvc.yaml` into concrete stages (`vars`, `params.yaml`, `foreach`,
/// `matrix`, `${...}` interpolation), every stage's parameters from its params files (missing
/// ones left out, as `status` does), and `dvc.lock` with each stage's entry. Returns the number
/// of stages. Public for checks of the parsers on arbitrary files (the fuzz targets); the
/// commands reach the same code through [`Project`].
pub fn read_pipeline_files(dir: &std::path::Path) -> Result<usize> {
    let stages = dvcfile::load(&dir.join("dvc.yaml"))?;
    let lock = LockFile::load(&dir.join("dvc.lock"))?;
    for stage in &stages {
        params::read(stage, false)?;
        lock.get(&stage.name);
    }
    Ok(stages.len())
}
