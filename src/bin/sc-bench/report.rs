//! `sc-bench report STUDY_DIR`: renders a study directory (`study.json` and
//! the stage files it lists) into `REPORT.md`, a self-contained
//! `report.html` and `figures/`, from the JSON alone (issue 14). `cargo
//! xtask reproduce` ends with it; users run it on their own studies.

use crate::Out;
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

/// Renders a study directory into REPORT.md, report.html and figures/.
#[derive(Args)]
pub struct ReportArgs {
    /// The study directory: its study.json lists each run's stage files.
    study: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let out = Out::new(args.json);
    let rendered = sc_report::study::render(&args.study)
        .with_context(|| format!("rendering the study in {}", args.study.display()))?;
    for c in &rendered.claims {
        out.say(format!(
            "{:>3} {:<14} {:<22} {} ({})",
            c.id,
            c.comparison,
            c.verdict.label(),
            c.ours_text(),
            c.measure
        ));
    }
    out.say(format!(
        "wrote {} and {} ({} figure files)",
        rendered.markdown.display(),
        rendered.html.display(),
        rendered.figures.len()
    ));
    out.json(&json!({
        "markdown": rendered.markdown,
        "html": rendered.html,
        "figures": rendered.figures,
        "claims": rendered.claims.iter().map(|c| json!({
            "id": c.id,
            "comparison": c.comparison,
            "measure": c.measure,
            "verdict": c.verdict,
            "difference": c.ours,
        })).collect::<Vec<_>>(),
    }))
}
