//! `sc-bench`: the command line of semcon. It parses arguments and composes
//! the library crates; the science lives in the crates.
//!
//! Every subcommand takes `--json`: one JSON object on stdout, human text on
//! stderr. Bad input exits non-zero with a one-line error on stderr that
//! starts with `error:`, whether clap or the command finds it.

mod alpha_sweep;
mod args;
mod attribute;
mod data;
mod eval;
mod fairness;
mod meta;
mod model;
#[cfg(feature = "nccl")]
mod nccl;
mod perturb;
mod probe;
mod report;
mod speed;
mod sweep;
mod train;
mod transfer;

use clap::{Parser, Subcommand};

/// candle allocates a fresh buffer for every tensor op; with glibc's malloc
/// each large one is a new mmap whose pages fault in (a third of a training
/// step's time, measured with perf). mimalloc reuses freed memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sc-bench",
    version,
    about = "Semantic continuity of image classifiers: data, perturbations, models, attacks, probes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect, preview and download data sets.
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Apply a perturbation of the paper to a data set (before/after grid, per-image change).
    Perturb(perturb::PerturbArgs),
    /// Train a classifier in one of the four regimes: base, c, adv, adv-c.
    Train(train::TrainArgs),
    /// Clean and adversarial accuracy with sanity checks.
    Eval(eval::EvalArgs),
    /// Distance score and accuracy under every perturbation kind and level.
    Sweep(sweep::SweepArgs),
    /// Attribution maps (saliency, IG, GradCAM), their smoothness and mass on the object.
    Attribute(attribute::AttributeArgs),
    /// Train one regime-C model per alpha, then accuracy and continuity score per alpha (Fig. 4).
    AlphaSweep(alpha_sweep::AlphaSweepArgs),
    /// Probes of a trained model: discontinuity (paper Sec. 2.2), margins per frequency band.
    Probe {
        #[command(subcommand)]
        command: probe::ProbeCommand,
    },
    /// Render a study directory (study.json and its stage files) into
    /// REPORT.md, a self-contained report.html and figures.
    Report(report::ReportArgs),
    /// Accuracy per background colour, gap and counterfactual flip rate on a
    /// Colorful set (a trained run, or --regime to train one first).
    Fairness(fairness::FairnessArgs),
    /// Fine-tune a trained run on another data set, optionally beside the
    /// same network trained from scratch.
    Transfer(transfer::TransferArgs),
    /// Throughput of training, continuity, PGD-10 and IG-32 steps and of the
    /// convolutions, in the format of the PyTorch anchor (`cargo xtask bench`).
    Speed(speed::SpeedArgs),
}

/// Where human-readable text goes: stderr when stdout carries JSON.
pub struct Out {
    json: bool,
}

impl Out {
    /// Human text on stderr when `json`, else on stdout.
    pub fn new(json: bool) -> Self {
        Out { json }
    }

    /// Prints a line of human text.
    pub fn say(&self, line: impl std::fmt::Display) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// Prints the JSON result when `--json` was given.
    pub fn json(&self, value: &serde_json::Value) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(value)?);
        }
        Ok(())
    }
}

/// mimalloc v3's `mi_option_purge_delay` (its `mimalloc.h` enum; v3 is
/// what `libmimalloc-sys` 0.1.49 builds).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Keep freed memory instead of returning it to the OS after 1 s:
    // training and attack steps free and re-allocate the same buffers
    // every few hundred ms, and re-faulted pages are zeroed by the kernel
    // (18% of a PGD run under perf; 5-10% faster steps without it).
    // SAFETY: sets an option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => exit_with_clap_error(e),
    };
    let result = match cli.command {
        Command::Data { command } => data::run(command),
        Command::Perturb(args) => perturb::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::AlphaSweep(args) => alpha_sweep::run(args),
        Command::Speed(args) => speed::run(args),
        Command::Attribute(args) => attribute::run(args),
        Command::Probe { command } => probe::run(command),
        Command::Report(args) => report::run(args),
        Command::Fairness(args) => fairness::run(args),
        Command::Transfer(args) => transfer::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {}", one_line(&format!("{e:#}")));
        std::process::exit(1);
    }
}

/// Help and version go to stdout as clap prints them; a usage error is
/// printed as one line (clap's message, its possible values and tip,
/// without the usage block) and exits with clap's code, 2.
fn exit_with_clap_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let message = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .filter(|l| !l.starts_with("For more information"))
        .collect::<Vec<_>>()
        .join(" ");
    let message = one_line(message.trim_start_matches("error:"));
    eprintln!("error: {message}");
    std::process::exit(e.exit_code());
}

/// `text` on one line: line breaks and runs of spaces become single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
