//! Tests that need more than one module of the crate.

#[cfg(feature = "cuda")]
mod cuda;
