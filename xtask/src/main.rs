//! Project automation (`cargo xtask <command>`), in the style of rust-analyzer:
//! plain Rust instead of shell scripts, so it runs wherever cargo does. It
//! uses no workspace crate; it drives `cargo` and the `sc-bench` binary.
//!
//! Commands:
//! - `tidy`: the checkable rules of ARCHITECTURE.md (see [`tidy`]):
//!   formatting, crate docs with examples, workspace lints, no stubs, the
//!   dependency direction, libraries that print nothing and read no
//!   environment.
//! - `test`: `tidy`, then the whole test suite (what CI runs).
//! - `reproduce [--quick] [--data DIR] [--seeds N] [--epochs E] [--out DIR]`:
//!   the paper's study end to end (train the four regimes, PGD evaluation
//!   with sanity checks, DS per perturbation and level, semantic-feature
//!   probes, IG and GradCAM maps with their smoothness and mass on the
//!   object) into `REPORT.md` + `report.json`. `--quick`: `shapes` on the
//!   CPU in minutes; otherwise CIFAR-100 (`--data` = its binary folder) with
//!   ResNet18 on CUDA (builds with `--features cuda`). Re-running skips
//!   finished stages and resumes training.
//! - `bench [--python PY | --torch-json FILE] [--models M] [--reps N]
//!   [--only LETTERS] [--out DIR]`: images/s of the training, continuity,
//!   PGD-10 and IG-32 steps of small-cnn and resnet18 and GFLOP/s of the
//!   convolutions, beside PyTorch's (`../shared/bench/torch_anchor.py` run
//!   by `--python`, or its earlier JSON), into `target/bench/BENCH.md`.
//! - `demo [--out DIR]`: the most complete job the project has today, in
//!   release mode: describes the embedded `shapes` set and the real data
//!   under `../shared/data` when present, draws preview grids, applies every
//!   perturbation of the paper at every level to `shapes` and writes a table
//!   of their strength to `REPORT.md`.

mod bench;
mod reproduce;
mod tidy;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root()?;
    match args.first().map(String::as_str) {
        Some("tidy") => tidy::tidy(&root),
        Some("test") => {
            tidy::tidy(&root)?;
            cargo(&root, &["test", "--workspace"])
        }
        Some("demo") => {
            let out = match args.iter().position(|a| a == "--out") {
                Some(i) => PathBuf::from(args.get(i + 1).context("--out needs a directory")?),
                None => root.join("runs/demo"),
            };
            demo(&root, &out)
        }
        Some("bench") => {
            let flag = |name: &str| flag(&args, name);
            let opts = bench::Options {
                out: flag("--out")?
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join("target/bench")),
                python: flag("--python")?,
                torch_json: flag("--torch-json")?.map(PathBuf::from),
                anchor: flag("--anchor")?.map(PathBuf::from).unwrap_or_else(|| {
                    root.join("../shared/bench/torch_anchor.py")
                }),
                models: flag("--models")?.unwrap_or_else(|| "small-cnn,resnet18".into()),
                reps: match flag("--reps")? {
                    Some(r) => r.parse().with_context(|| format!("--reps {r:?}"))?,
                    None => 5,
                },
                only: flag("--only")?.unwrap_or_else(|| "abcdf".into()),
            };
            cargo(&root, &["build", "--release", "--bin", "sc-bench"])?;
            bench::bench(&root.join("target/release/sc-bench"), &opts)
        }
        Some("reproduce") => {
            let flag = |name: &str| flag(&args, name);
            let quick = args.iter().any(|a| a == "--quick");
            let out = flag("--out")?
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(if quick { "runs/quick" } else { "runs/paper" }));
            let mut plan = if quick {
                reproduce::Plan::quick(out)
            } else {
                let data = flag("--data")?.context(
                    "the full reproduction needs --data DIR (the CIFAR-100 binary folder; `sc-bench data fetch cifar100 --dir DIR`), or --quick",
                )?;
                reproduce::Plan::full(out, Path::new(&data))
            };
            if let Some(s) = flag("--seeds")? {
                plan.seeds = s.parse().with_context(|| format!("--seeds {s:?}"))?;
            }
            if let Some(e) = flag("--epochs")? {
                plan.epochs = e.parse().with_context(|| format!("--epochs {e:?}"))?;
            }
            if let Some(d) = flag("--device")? {
                plan.device = d;
            }
            let mut build = vec!["build", "--release", "--bin", "sc-bench"];
            if plan.device.starts_with("cuda") {
                build.extend(["--features", "cuda"]);
            }
            cargo(&root, &build)?;
            reproduce::reproduce(&root.join("target/release/sc-bench"), &plan)
        }
        Some(other) => bail!("unknown command {other:?}: expected tidy, test, demo, bench or reproduce"),
        None => bail!("usage: cargo xtask <tidy|test|demo [--out DIR]|bench [--python PY] ...|reproduce [--quick] ...>"),
    }
}

/// Writes `bytes` to a temporary name beside `path`, then renames it, so
/// an interrupted run never leaves a torn file.
fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| tmp.display().to_string())?;
    std::fs::rename(&tmp, path).with_context(|| path.display().to_string())
}

/// The value after `name` in `args`, if the flag is there.
fn flag(args: &[String], name: &str) -> Result<Option<String>> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(Some(
            args.get(i + 1)
                .with_context(|| format!("{name} needs a value"))?
                .clone(),
        )),
        None => Ok(None),
    }
}

fn project_root() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}

fn cargo(root: &Path, args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn demo(root: &Path, out: &Path) -> Result<()> {
    cargo(root, &["build", "--release", "--bin", "sc-bench"])?;
    let bin = root.join("target/release/sc-bench");
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    let mut sets = vec![("shapes".to_string(), "shapes".to_string())];
    let shared = root.join("../shared/data");
    if shared.is_dir() {
        for (name, spec) in [
            ("mnist", format!("mnist:{}", shared.join("mnist").display())),
            (
                "fashion-mnist",
                format!("fashion-mnist:{}", shared.join("fashion-mnist").display()),
            ),
            (
                "cifar10",
                format!(
                    "cifar10:{}",
                    shared.join("cifar10/binary-first20").display()
                ),
            ),
        ] {
            sets.push((name.to_string(), spec));
        }
    } else {
        eprintln!("demo: ../shared/data not found; showing the embedded set only");
    }
    for (name, spec) in sets {
        let json = out.join(format!("{name}.json"));
        let png = out.join(format!("{name}.png"));
        let info = Command::new(&bin)
            .args(["data", "info", "--data", &spec, "--json"])
            .output()
            .context("running sc-bench data info")?;
        if !info.status.success() {
            bail!(
                "data info {spec}: {}",
                String::from_utf8_lossy(&info.stderr)
            );
        }
        write_atomic(&json, &info.stdout)?;
        let status = Command::new(&bin)
            .args(["data", "preview", "--data", &spec, "--out"])
            .arg(&png)
            .status()
            .context("running sc-bench data preview")?;
        if !status.success() {
            bail!("data preview {spec} failed");
        }
        eprint!("{}", String::from_utf8_lossy(&info.stderr));
    }
    perturbation_table(&bin, out)?;
    eprintln!("demo: wrote {}", out.display());
    Ok(())
}

/// Every perturbation of the paper at every level on the `shapes` test
/// split: a before/after grid each, and a table of mean absolute pixel change.
fn perturbation_table(bin: &Path, out: &Path) -> Result<()> {
    const KINDS: [&str; 7] = [
        "brightness",
        "contrast",
        "saturation",
        "hue",
        "channel-translation",
        "centre-shuffle",
        "sliding-puzzle",
    ];
    let mut table = String::from(
        "# Perturbations on `shapes` (500 test images)\n\n\
         Mean absolute pixel change, in [0, 1] units, per kind and level \
         (levels: the paper's Table 1 for the photometric kinds, Sec. 4.3 for the others).\n\n\
         | kind | level 1 | level 2 | level 3 | level 4 |\n|---|---|---|---|---|\n",
    );
    for kind in KINDS {
        table.push_str(&format!("| {kind} |"));
        for level in 1..=4 {
            let png = out.join(format!("perturb-{kind}-{level}.png"));
            let result = Command::new(bin)
                .args([
                    "perturb",
                    "--data",
                    "shapes:2500",
                    "--kind",
                    kind,
                    "--level",
                ])
                .arg(level.to_string())
                .arg("--out")
                .arg(&png)
                .arg("--json")
                .output()
                .context("running sc-bench perturb")?;
            if !result.status.success() {
                bail!(
                    "perturb {kind} {level}: {}",
                    String::from_utf8_lossy(&result.stderr)
                );
            }
            let text = String::from_utf8_lossy(&result.stdout);
            let changes = text
                .split("\"mean_abs_change\":[")
                .nth(1)
                .and_then(|rest| rest.split(']').next())
                .context("perturb --json has no mean_abs_change")?;
            let values: Vec<f64> = changes
                .split(',')
                .filter_map(|v| v.trim().parse().ok())
                .collect();
            let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            table.push_str(&format!(" {mean:.4} |"));
        }
        table.push('\n');
    }
    let path = out.join("REPORT.md");
    write_atomic(&path, table)?;
    eprintln!("demo: perturbation table in {}", path.display());
    Ok(())
}
