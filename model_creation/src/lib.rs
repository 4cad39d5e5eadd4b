//! The training workspace behind the `model-creation` binary: synthetic data, training in
//! burn, evaluation and batch scoring. The DVC-compatible pipeline runner lives in the
//! `dvc_pipeline` crate; this crate adds the ML commands its stages run.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod batch_score;
pub mod benchmark;
pub mod collect;
pub mod commands;
pub mod experiment;
pub mod gate;
pub mod identity;
pub mod merge_set;
pub mod params;
pub mod promote;
pub mod publish;
pub mod registry_cli;
pub mod select;
pub mod set_commands;
pub mod set_transfer;
pub mod shard;
pub mod simulate;
pub mod train;
