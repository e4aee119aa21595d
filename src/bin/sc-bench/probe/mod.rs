//! `sc-bench probe KIND`: measurements of a trained model that are not
//! part of the training loop (issue 11). Dispatch only; each kind lives in
//! its own module.

mod discontinuity;
mod margin;

use anyhow::Result;
use clap::Subcommand;

/// The probes.
#[derive(Subcommand)]
pub enum ProbeCommand {
    /// The paper's evidence of discontinuity (Sec. 2.2): Fig. 1's share of
    /// images with a same-class image closer than their perturbed version,
    /// and Fig. 2's PCA, t-SNE and UMAP pictures of one class's logits.
    Discontinuity(discontinuity::DiscontinuityArgs),
    /// Margins to the decision boundary along DCT frequency bands (Hold me tight).
    Margin(margin::MarginArgs),
}

/// Runs one probe.
pub fn run(command: ProbeCommand) -> Result<()> {
    match command {
        ProbeCommand::Discontinuity(args) => discontinuity::run(args),
        ProbeCommand::Margin(args) => margin::run(args),
    }
}
