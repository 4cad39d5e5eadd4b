//! Shared helpers: the `model-creation` binary under test, plus the helpers `dvc_pipeline`'s
//! tests use (real dvc's finder, running a program in a workspace, reading what it left),
//! included from there so both crates find tools the same way.
#![allow(dead_code)] // each test binary uses some of the helpers

use std::path::PathBuf;

#[path = "../../../dvc_pipeline/tests/support/shared.rs"]
mod shared;

pub use shared::*;

/// Our engine: the `model-creation` binary built with these tests.
pub fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_model-creation"))
}

#[allow(unused_imports)] // not every test binary uses the S3 server
pub use s3_test_server::{ACCESS_KEY as AK, S3Server, SECRET_KEY as SK};
