//! `sc-bench probe KIND`: measurements of trained models, one file per kind.

mod margin;

use anyhow::Result;
use clap::Subcommand;

/// The probes.
#[derive(Subcommand)]
pub enum ProbeCommand {
    /// Margins to the decision boundary along DCT frequency bands (Hold me tight).
    Margin(margin::MarginArgs),
}

/// Runs one probe.
pub fn run(command: ProbeCommand) -> Result<()> {
    match command {
        ProbeCommand::Margin(args) => margin::run(args),
    }
}
