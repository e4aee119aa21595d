//! Project automation (`cargo xtask <command>`), in the style of rust-analyzer:
//! plain Rust instead of shell scripts, so it runs wherever cargo does. It
//! uses no workspace crate; it drives `cargo` and the `sc-bench` binary.
//!
//! Every command accepts only its own flags (listed below): an unknown flag,
//! a flag given twice or without its value, and a stray argument are errors
//! that name it, so `reproduce --quikc` never runs the full study.
//!
//! Commands:
//! - `tidy`: the checkable rules of ARCHITECTURE.md (see [`tidy`]):
//!   formatting, crate docs with examples, workspace lints, no stubs, the
//!   dependency direction, libraries that print nothing and read no
//!   environment.
//! - `test`: `tidy`, then the whole test suite (what CI runs).
//! - `reproduce [--quick | --medium | --smoke [--medium]] [--data SPEC] [--model M]
//!   [--fairness-data SPEC] [--transfer-data SPEC] [--seeds N] [--epochs E] [--out DIR]
//!   [--device D] [--sc-bench PATH]`:
//!   the paper's study end to end over seeds (train the four regimes, PGD
//!   and worst-case evaluation with sanity checks, DS per perturbation and
//!   level, semantic-feature probes, IG and GradCAM maps with their
//!   smoothness and mass on the object), one JSON file per stage and seed,
//!   then `study.json` and `sc-bench report` (REPORT.md, report.html,
//!   figures). `--quick`: `shapes` on the CPU, 3 seeds; `--medium`: real
//!   images on the CPU (CIFAR-10's JPEG folders from `../shared` unless
//!   `--data` says otherwise; fairness on Colorful MNIST, transfer to MNIST),
//!   3 seeds; `--smoke`: every stage on tiny subsets in seconds (CI), of the
//!   medium setting's data with `--medium`; otherwise the paper's setting,
//!   ResNet18 on `--data SPEC` (e.g. `cifar100:DIR`) on CUDA (builds with
//!   `--features cuda`). Every preset takes any data spec through `--data`.
//!   A plan and its estimated training time (from a training step timed on
//!   the spot) are printed first; the wall time per stage at the end.
//!   Re-running skips finished stages and resumes training.
//!   `--device` overrides the plan's device; `--sc-bench PATH` runs a
//!   prebuilt binary instead of building one (a GPU host without cargo).
//! - `bench [--python PY | --torch-json FILE] [--anchor PATH] [--models M]
//!   [--reps N] [--only LETTERS] [--out DIR]`: images/s of the training,
//!   continuity, PGD-10 and IG-32 steps of small-cnn and resnet18, GFLOP/s
//!   of the convolutions, images/s of subspace DeepFool margins (resnet18)
//!   and LIME (small-cnn), seconds of an exact t-SNE, each with its peak
//!   resident memory, beside the peers' (`../shared/bench/torch_anchor.py`
//!   through `bench/anchor_rss.py`, and `bench/peers.py`: PyTorch, lime,
//!   scikit-learn, run by `--python`; or a JSON file they wrote earlier),
//!   one process per workload, into `target/bench/BENCH.md`.
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

/// The flags of each command: those that take a value, then switches.
/// Anything else on the command line is an error naming it.
const COMMANDS: [(&str, &[&str], &[&str]); 5] = [
    ("tidy", &[], &[]),
    ("test", &[], &[]),
    ("demo", &["--out"], &[]),
    (
        "bench",
        &[
            "--out",
            "--python",
            "--torch-json",
            "--anchor",
            "--models",
            "--reps",
            "--only",
        ],
        &[],
    ),
    (
        "reproduce",
        &[
            "--out",
            "--data",
            "--seeds",
            "--epochs",
            "--device",
            "--sc-bench",
            "--model",
            "--fairness-data",
            "--transfer-data",
        ],
        &["--quick", "--smoke", "--medium"],
    ),
];

/// A command line checked against [`COMMANDS`]: the command, its flags
/// with their values, and its switches.
#[derive(Debug, PartialEq)]
struct Parsed {
    command: &'static str,
    values: Vec<(&'static str, String)>,
    switches: Vec<&'static str>,
}

impl Parsed {
    /// The value of `--name`, if given.
    fn value(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }

    /// Whether the switch `--name` was given.
    fn switch(&self, name: &str) -> bool {
        self.switches.contains(&name)
    }
}

/// Parses `args` (without the program name). Unknown commands and flags,
/// positional arguments, a flag given twice and a flag without its value
/// are errors that name the offending word and list what is accepted.
fn parse(args: &[String]) -> Result<Parsed> {
    let names = COMMANDS.map(|(c, _, _)| c).join(", ");
    let Some(first) = args.first() else {
        bail!("usage: cargo xtask <command> [flags]; commands: {names}");
    };
    let &(command, valued, switches) = COMMANDS
        .iter()
        .find(|(c, _, _)| c == first)
        .with_context(|| format!("unknown command {first:?}: expected {names}"))?;
    let accepted = || {
        let all: Vec<&str> = valued.iter().chain(switches).copied().collect();
        if all.is_empty() {
            format!("{command} takes no flags")
        } else {
            format!("{command} accepts {}", all.join(", "))
        }
    };
    let mut parsed = Parsed {
        command,
        values: Vec::new(),
        switches: Vec::new(),
    };
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let seen =
            parsed.values.iter().any(|(k, _)| k == arg) || parsed.switches.contains(&arg.as_str());
        if seen {
            bail!("{arg} is given twice");
        }
        if let Some(&flag) = valued.iter().find(|f| **f == arg) {
            match rest.next() {
                Some(v) if !v.starts_with("--") => parsed.values.push((flag, v.clone())),
                _ => bail!("{flag} needs a value"),
            }
        } else if let Some(&switch) = switches.iter().find(|f| **f == arg) {
            parsed.switches.push(switch);
        } else if arg.starts_with('-') {
            bail!("unknown flag {arg:?}: {}", accepted());
        } else {
            bail!("unexpected argument {arg:?}: {}", accepted());
        }
    }
    Ok(parsed)
}

/// A count flag (repetitions, seeds, epochs: at least 1), or `default`
/// when absent.
fn count<T: TryFrom<u64>>(parsed: &Parsed, name: &str, default: T) -> Result<T> {
    let Some(v) = parsed.value(name) else {
        return Ok(default);
    };
    match v.parse::<u64>().ok().filter(|&n| n >= 1).map(T::try_from) {
        Some(Ok(n)) => Ok(n),
        _ => bail!("{name} {v:?}: expected a positive integer"),
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = parse(&args)?;
    let root = project_root()?;
    match parsed.command {
        "tidy" => tidy::tidy(&root),
        "test" => {
            tidy::tidy(&root)?;
            cargo(&root, &["test", "--workspace"])
        }
        "demo" => {
            let out = parsed
                .value("--out")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("runs/demo"));
            demo(&root, &out)
        }
        "bench" => {
            let opts = bench::Options {
                out: parsed
                    .value("--out")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join("target/bench")),
                python: parsed.value("--python"),
                torch_json: parsed.value("--torch-json").map(PathBuf::from),
                anchor: parsed
                    .value("--anchor")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join("../shared/bench/torch_anchor.py")),
                rss_wrapper: root.join("bench/anchor_rss.py"),
                peers: root.join("bench/peers.py"),
                models: parsed
                    .value("--models")
                    .unwrap_or_else(|| "small-cnn,resnet18".into()),
                reps: count(&parsed, "--reps", 5)?,
                only: parsed
                    .value("--only")
                    .unwrap_or_else(|| bench::LETTERS.into()),
            };
            // Bad --models or --only fail before the build.
            bench::jobs(&bench::model_tags(&opts.models)?, &opts.only)?;
            cargo(&root, &["build", "--release", "--bin", "sc-bench"])?;
            bench::bench(&target_dir(&root).join("release/sc-bench"), &opts)
        }
        "reproduce" => {
            let (quick, smoke, medium) = (
                parsed.switch("--quick"),
                parsed.switch("--smoke"),
                parsed.switch("--medium"),
            );
            if quick && (smoke || medium) {
                bail!("--quick is a study of its own: give it without --smoke or --medium");
            }
            let out = parsed.value("--out").map(PathBuf::from).unwrap_or_else(|| {
                root.join(match (quick, smoke, medium) {
                    (true, _, _) => "runs/quick",
                    (_, true, true) => "runs/smoke-medium",
                    (_, true, _) => "runs/smoke",
                    (_, _, true) => "runs/medium",
                    _ => "runs/paper",
                })
            });
            let data = parsed.value("--data");
            let mut plan = if medium {
                // The real-data setting: CIFAR-10 and MNIST from ../shared
                // unless --data / --fairness-data / --transfer-data say
                // otherwise.
                let shared = root.join("../shared/data");
                let shared = shared.canonicalize().unwrap_or(shared);
                let data = match data {
                    Some(d) => d,
                    None => {
                        let dir = shared.join("cifar10-jpg");
                        if !dir.is_dir() {
                            bail!(
                                "--medium runs on --data SPEC (e.g. folder:DIR of class folders); \
                                 its default {} is absent",
                                dir.display()
                            );
                        }
                        format!("folder:{}", dir.display())
                    }
                };
                let mnist = shared.join("mnist");
                let needs_mnist = parsed.value("--fairness-data").is_none()
                    || parsed.value("--transfer-data").is_none();
                if needs_mnist && !mnist.is_dir() {
                    bail!(
                        "--medium trains fairness on Colorful MNIST and transfers to MNIST from {}, \
                         which is absent: give --fairness-data SPEC and --transfer-data SPEC",
                        mnist.display()
                    );
                }
                if smoke {
                    reproduce::Plan::smoke_medium(out, &data, &mnist)
                } else {
                    reproduce::Plan::medium(out, &data, &mnist)
                }
            } else if quick || smoke {
                let plan = if smoke {
                    reproduce::Plan::smoke(out)
                } else {
                    reproduce::Plan::quick(out)
                };
                match data {
                    Some(d) => plan.on_data(&d),
                    None => plan,
                }
            } else {
                let data = data.context(
                    "the full reproduction needs --data SPEC (e.g. cifar100:DIR, the CIFAR-100 binary folder from `sc-bench data fetch cifar100 --dir DIR`), or --quick, --medium or --smoke",
                )?;
                reproduce::Plan::full(out, &data)
            };
            if let Some(d) = parsed.value("--fairness-data") {
                plan.fairness_data = d;
            }
            if let Some(d) = parsed.value("--transfer-data") {
                plan.transfer_data = d;
            }
            if let Some(m) = parsed.value("--model") {
                plan.model = m;
            }
            plan.command = format!("cargo xtask {}", args.join(" "));
            plan.seeds = count(&parsed, "--seeds", plan.seeds)?;
            plan.epochs = count(&parsed, "--epochs", plan.epochs)?;
            if let Some(d) = parsed.value("--device") {
                plan.device = d;
            }
            // A prebuilt binary (a GPU host without cargo) is used as it is.
            if let Some(bin) = parsed.value("--sc-bench") {
                return reproduce::reproduce(&root, Path::new(&bin), &plan);
            }
            // The smoke studies use the dev build that the tests already made
            // (no second, release build in CI); the others the release build.
            let profile = if smoke { "debug" } else { "release" };
            let mut build = vec!["build", "--bin", "sc-bench"];
            if !smoke {
                build.push("--release");
            }
            if plan.device.starts_with("cuda") {
                build.extend(["--features", "cuda"]);
            }
            cargo(&root, &build)?;
            let bin = target_dir(&root).join(profile).join("sc-bench");
            reproduce::reproduce(&root, &bin, &plan)
        }
        other => bail!("internal: command {other:?} has no handler"),
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

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target/`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn error(line: &str) -> String {
        parse(&args(line)).unwrap_err().to_string()
    }

    #[test]
    fn every_command_rejects_an_unknown_flag_by_name() {
        for (command, _, _) in COMMANDS {
            let e = error(&format!("{command} --quikc"));
            assert!(e.contains("unknown flag \"--quikc\""), "{command}: {e}");
            assert!(e.starts_with("unknown flag"), "{command}: {e}");
        }
        let e = error("reproduce --quick --quikc");
        assert!(e.contains("--quikc") && e.contains("--quick"), "{e}");
        assert!(error("tidy extra").contains("unexpected argument \"extra\""));
        assert!(error("tidy --out x").contains("tidy takes no flags"));
    }

    #[test]
    fn values_switches_and_their_errors() {
        let p = parse(&args("reproduce --quick --seeds 3 --out runs/x")).unwrap();
        assert_eq!(p.command, "reproduce");
        assert!(p.switch("--quick"));
        assert_eq!(p.value("--seeds").as_deref(), Some("3"));
        assert_eq!(p.value("--out").as_deref(), Some("runs/x"));
        assert_eq!(p.value("--data"), None);
        assert_eq!(count(&p, "--seeds", 1u64).unwrap(), 3);
        assert_eq!(count(&p, "--epochs", 7u64).unwrap(), 7);
        for bad in ["x", "0", "-1"] {
            let p = parse(&args(&format!("reproduce --seeds {bad}"))).unwrap();
            let e = count(&p, "--seeds", 1u64).unwrap_err().to_string();
            assert!(
                e.contains(&format!("--seeds \"{bad}\": expected a positive integer")),
                "{e}"
            );
        }
        assert!(error("reproduce --out").contains("--out needs a value"));
        assert!(error("reproduce --out --quick").contains("--out needs a value"));
        assert!(error("reproduce --quick --quick").contains("--quick is given twice"));
        assert!(error("bench --reps 3 --reps 4").contains("--reps is given twice"));
        assert!(error("build").contains("unknown command \"build\""));
        assert!(parse(&[]).unwrap_err().to_string().contains("usage"));
        assert!(!parse(&args("reproduce")).unwrap().switch("--quick"));
    }
}
