//! `semcon`: the semantic continuity study of deep image classifiers
//! (Wu, Sang, Zhao, Chen, "An Experimental Study of Semantic Continuity for
//! Deep Learning Models", arXiv 2011.09789), as a toolkit.
//!
//! This facade re-exports the focused crates, so one dependency gives all of
//! them; depend on a single crate (`sc-data`, `sc-core`, ...) to take only
//! what you use. The `sc-bench` binary composes them on the command line.
//!
//! ```
//! use semcon::data::DataSpec;
//!
//! let data = "shapes:50".parse::<DataSpec>()?.load()?;
//! assert_eq!(data.train.as_ref().map(|s| s.len()), Some(50));
//! # Ok::<(), semcon::data::Error>(())
//! ```

pub use sc_attack as attack;
pub use sc_core as core;
pub use sc_data as data;
pub use sc_interpret as interpret;
pub use sc_loss as loss;
pub use sc_models as models;
pub use sc_perturb as perturb;
pub use sc_probes as probes;
pub use sc_report as report;
pub use sc_train as train;
