//! DVC 3 compatible pipeline engine: reads `dvc.yaml` / `params.yaml`, keeps `dvc.lock`, the
//! md5 cache and run-cache in DVC's own formats, and moves cache objects to S3 or local
//! remotes, so a project can be run with this engine or with real DVC interchangeably.
//!
//! Modules, roughly in data-flow order: [`yaml`] (YAML 1.2 in/out), [`dvcfile`] (stage
//! schema, vars, foreach/matrix) with [`interp`] and [`params`], [`pipeline`] (the DAG),
//! [`hashing`] + [`state`] + [`ignore`], [`lock`], [`cache`], [`runcache`], [`engine`] (an opened repo),
//! [`repro`], [`status`], [`add`], [`workspace`] (checkout, gc, metrics), [`config`],
//! [`remote`], [`transfer`] (push/fetch) and [`publish`].

pub mod add;
pub mod cache;
pub mod config;
pub mod dvcfile;
pub mod engine;
pub mod error;
pub mod hashing;
pub mod ignore;
pub mod interp;
pub mod lock;
pub mod params;
pub mod pipeline;
pub mod publish;
pub mod pyjson;
pub mod remote;
pub mod repo;
pub mod repro;
pub mod runcache;
pub mod state;
pub mod status;
pub mod transfer;
pub mod workspace;
pub mod yaml;

pub use engine::Engine;
pub use error::{Error, Result};
pub use repo::Repo;
