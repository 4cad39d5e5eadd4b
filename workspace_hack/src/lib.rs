//! Build-only crate: see Cargo.toml. It has no code.
