//! `cargo xtask bench`: semcon's workloads beside their peers', measured on
//! the same machine in one sitting. `sc-bench speed` times ours; the other
//! column comes from the PyTorch anchor (`../shared/bench/torch_anchor.py`,
//! run through `bench/anchor_rss.py`) for the training, continuity, PGD, IG
//! and ceiling workloads (a-d, f), and from `bench/peers.py` for the
//! DeepFool margins (g: a batched PyTorch DeepFool), LIME (h: the `lime`
//! package) and t-SNE (i: scikit-learn); all with `--python`, or from a
//! JSON file written earlier (`--torch-json`).
//!
//! Every workload (model x letter) runs in a process of its own on both
//! sides, ours then the peer's, so that the peak resident memory each
//! record carries (`peak_rss_mib`) is that workload's and not what an
//! earlier one left allocated. The per-process files go to `DIR/runs/`;
//! `DIR/semcon.json` and `DIR/torch.json` merge them (format:
//! [`merge`]); the table goes to stdout and `DIR/BENCH.md`, the paired rows
//! and both merged files to `DIR/bench.json`, `DIR` being `--out` (default
//! `target/bench`).

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `cargo xtask bench` was asked.
pub struct Options {
    pub out: PathBuf,
    pub python: Option<String>,
    pub torch_json: Option<PathBuf>,
    pub anchor: PathBuf,
    /// `bench/anchor_rss.py`: runs the anchor with peak RSS per record.
    pub rss_wrapper: PathBuf,
    /// `bench/peers.py`: the peers of g, h and i.
    pub peers: PathBuf,
    pub models: String,
    pub reps: usize,
    pub only: String,
}

/// The letters `--only` takes (those of `sc-bench speed`).
pub const LETTERS: &str = "abcdfghi";

/// What a row measures, and so its unit and which way is faster.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Metric {
    ImagesPerS,
    Gflops,
    /// The median time of one run: lower is faster.
    Seconds,
}

impl Metric {
    fn field(self) -> &'static str {
        match self {
            Metric::ImagesPerS => "images_per_s",
            Metric::Gflops => "gflops",
            Metric::Seconds => "median_s",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::ImagesPerS => "img/s",
            Metric::Gflops => "GFLOP/s",
            Metric::Seconds => "s",
        }
    }

    /// semcon's speed over the peer's: above 1, semcon is faster.
    fn speed_ratio(self, ours: f64, theirs: f64) -> Option<f64> {
        let r = match self {
            Metric::Seconds => theirs / ours,
            _ => ours / theirs,
        };
        (ours > 0.0 && theirs > 0.0 && r.is_finite()).then_some(r)
    }
}

use Metric::{Gflops, ImagesPerS, Seconds};

/// The rows of the table: JSON key, label, metric. The key names the
/// process that produces it (see [`job_of`]).
const ROWS: [(&str, &str, Metric); 22] = [
    (
        "small.a_train",
        "small-cnn training step (B=128)",
        ImagesPerS,
    ),
    (
        "small.b_sc_train",
        "small-cnn continuity step (B=128, fwd 2B)",
        ImagesPerS,
    ),
    ("small.c_pgd10", "small-cnn PGD-10 (B=128)", ImagesPerS),
    ("small.d_ig32", "small-cnn IG-32 (B=16)", ImagesPerS),
    (
        "resnet18.a_train",
        "resnet18 training step (B=128)",
        ImagesPerS,
    ),
    (
        "resnet18.b_sc_train",
        "resnet18 continuity step (B=128, fwd 2B)",
        ImagesPerS,
    ),
    ("resnet18.c_pgd10", "resnet18 PGD-10 (B=128)", ImagesPerS),
    ("resnet18.d_ig32", "resnet18 IG-32 (B=16)", ImagesPerS),
    (
        "resnet18.g_margin_dct8",
        "resnet18 DeepFool margins, 8x8 DCT band 0 (B=32, 10 classes)",
        ImagesPerS,
    ),
    (
        "small.h_lime1000",
        "small-cnn LIME-1000 (8 images, 10 classes; lime)",
        ImagesPerS,
    ),
    (
        "i.tsne1000",
        "t-SNE exact, 1000 points x 10 (scikit-learn exact)",
        Seconds,
    ),
    (
        "i.tsne1000_bh",
        "t-SNE Barnes-Hut, 1000 points x 10 (scikit-learn only)",
        Seconds,
    ),
    ("f.matmul2048", "matmul 2048^3", Gflops),
    (
        "f.conv 64->64 3x3 @32x32",
        "conv 64->64 3x3 @32x32 forward",
        Gflops,
    ),
    (
        "f.conv 64->64 3x3 @32x32 input-grad",
        "conv 64->64 3x3 @32x32 input gradient",
        Gflops,
    ),
    (
        "f.conv 64->64 3x3 @32x32 weight-grad",
        "conv 64->64 3x3 @32x32 weight gradient",
        Gflops,
    ),
    (
        "f.conv 128->128 3x3 @16x16",
        "conv 128->128 3x3 @16x16 forward",
        Gflops,
    ),
    (
        "f.conv 128->128 3x3 @16x16 input-grad",
        "conv 128->128 3x3 @16x16 input gradient",
        Gflops,
    ),
    (
        "f.conv 128->128 3x3 @16x16 weight-grad",
        "conv 128->128 3x3 @16x16 weight gradient",
        Gflops,
    ),
    (
        "f.conv 256->256 3x3 @8x8",
        "conv 256->256 3x3 @8x8 forward",
        Gflops,
    ),
    (
        "f.conv 256->256 3x3 @8x8 input-grad",
        "conv 256->256 3x3 @8x8 input gradient",
        Gflops,
    ),
    (
        "f.conv 256->256 3x3 @8x8 weight-grad",
        "conv 256->256 3x3 @8x8 weight gradient",
        Gflops,
    ),
];

/// One process on each side: a workload letter, of one model (the
/// anchor's tag, `small` or `resnet18`) or of none (f, i).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Job {
    pub model: Option<&'static str>,
    pub letter: char,
}

impl Job {
    /// `sc-bench speed --models`' name of the model (any one for f and i,
    /// which use none).
    fn semcon_model(self) -> &'static str {
        match self.model {
            Some("resnet18") => "resnet18",
            _ => "small-cnn",
        }
    }

    /// The name of its files in `runs/`.
    fn stem(self) -> String {
        match self.model {
            Some(m) => format!("{m}-{}", self.letter),
            None => self.letter.to_string(),
        }
    }

    /// Whether `bench/peers.py` (not the anchor) runs its peer.
    fn by_peers(self) -> bool {
        "ghi".contains(self.letter)
    }
}

/// The process that writes a row's key: `small.c_pgd10` is small-cnn's c,
/// `f.matmul2048` is f, `i.tsne1000_bh` is i (the peer's i writes both t-SNE rows).
fn job_of(key: &str) -> Job {
    let (prefix, rest) = key.split_once('.').unwrap_or((key, ""));
    match prefix {
        "small" => Job {
            model: Some("small"),
            letter: rest.chars().next().unwrap_or('?'),
        },
        "resnet18" => Job {
            model: Some("resnet18"),
            letter: rest.chars().next().unwrap_or('?'),
        },
        _ => Job {
            model: None,
            letter: prefix.chars().next().unwrap_or('?'),
        },
    }
}

/// The anchor's tags of `--models` (small-cnn, resnet18), checked.
pub fn model_tags(models: &str) -> Result<Vec<&'static str>> {
    let mut tags = Vec::new();
    for m in models.split(',') {
        let tag = match m.trim() {
            "small-cnn" => "small",
            "resnet18" => "resnet18",
            other => {
                bail!(
                    "--models: {other:?} has no peer workloads: expected small-cnn and/or resnet18"
                )
            }
        };
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

/// The processes to run, in the table's order: one per row's job whose
/// letter is in `only` and whose model (if any) is in `tags`.
pub fn jobs(tags: &[&str], only: &str) -> Result<Vec<Job>> {
    if only.is_empty() {
        bail!("--only is empty: expected letters of {LETTERS}");
    }
    if let Some(bad) = only.chars().find(|c| !LETTERS.contains(*c)) {
        bail!("--only: unknown workload {bad:?}: expected letters of {LETTERS}");
    }
    let mut out: Vec<Job> = Vec::new();
    for (key, _, _) in ROWS {
        let job = job_of(key);
        let wanted = only.contains(job.letter) && job.model.is_none_or(|m| tags.contains(&m));
        if wanted && !out.contains(&job) {
            out.push(job);
        }
    }
    if out.is_empty() {
        bail!(
            "--only {only} with --models {}: no workload to run (g is resnet18's, h small-cnn's)",
            tags.join(",")
        );
    }
    Ok(out)
}

fn record<'a>(results: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    results?.get("results")?.get(key)
}

fn number(record: Option<&Value>, field: &str) -> Option<f64> {
    record?.get(field)?.as_f64()
}

/// The paired rows and the markdown table of two result files (the second optional).
pub fn table(ours: &Value, torch: Option<&Value>) -> (Vec<Value>, String) {
    let mut rows = Vec::new();
    let mut md = String::from(
        "| workload | unit | semcon | PyTorch | semcon / PyTorch | semcon peak RSS MiB | PyTorch peak RSS MiB |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (key, label, metric) in ROWS {
        let (ra, rb) = (record(Some(ours), key), record(torch, key));
        let a = number(ra, metric.field());
        let b = number(rb, metric.field());
        if a.is_none() && b.is_none() {
            continue;
        }
        let ratio = match (a, b) {
            (Some(a), Some(b)) => metric.speed_ratio(a, b),
            _ => None,
        };
        let (ma, mb) = (number(ra, "peak_rss_mib"), number(rb, "peak_rss_mib"));
        let dash = || "—".to_string();
        let cell = |v: Option<f64>| {
            v.map_or_else(dash, |v| match metric {
                Seconds => format!("{v:.2}"),
                _ => format!("{v:.1}"),
            })
        };
        let mib = |v: Option<f64>| v.map_or_else(dash, |v| format!("{v:.0}"));
        md.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {} |\n",
            metric.unit(),
            cell(a),
            cell(b),
            ratio.map_or_else(dash, |r| format!("{r:.2}x")),
            mib(ma),
            mib(mb),
        ));
        rows.push(json!({
            "key": key, "label": label, "unit": metric.unit(),
            "semcon": a, "pytorch": b, "ratio": ratio,
            "semcon_peak_rss_mib": ma, "pytorch_peak_rss_mib": mb,
        }));
    }
    md.push_str(
        "\nsemcon / PyTorch compares speed (above 1: semcon is faster); for rows in \
         seconds it is the peer's time over semcon's. The peers of the DeepFool, LIME and \
         t-SNE rows are `bench/peers.py`'s: a batched PyTorch DeepFool of the same algorithm, \
         the `lime` package, scikit-learn; the DeepFool peer runs semcon's weights, and its margins \
         are checked against semcon's image by image. Peak RSS: the process's VmHWM over the workload \
         (warm-up included), one process per workload on each side.\n",
    );
    (rows, md)
}

/// The result files of several processes as one, in the format of a
/// single one (`{"info": ..., "results": {key: record}}`, what `sc-bench
/// speed --out` and the anchor's `--json` write): `info` is the first
/// file's, `runs` lists every file's `info` in order, `results` is the
/// union of theirs. A key two files both hold is an error. `--torch-json`
/// takes such a file, merged or not.
pub fn merge(files: &[Value]) -> Result<Value> {
    let mut results = Map::new();
    let mut runs = Vec::new();
    for (n, file) in files.iter().enumerate() {
        runs.push(file.get("info").cloned().unwrap_or(Value::Null));
        let Some(these) = file.get("results").and_then(Value::as_object) else {
            bail!("run {n}: no \"results\" object");
        };
        for (key, r) in these {
            if results.insert(key.clone(), r.clone()).is_some() {
                bail!("result {key:?} comes from two runs");
            }
        }
    }
    Ok(json!({
        "info": runs.first().cloned().unwrap_or(Value::Null),
        "runs": runs,
        "results": results,
    }))
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs `cmd`, failing with `what` named.
fn run(mut cmd: Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// A field of a merged file's `info`, or of the first of its `runs` that has it.
fn info_field<'a>(file: &'a Value, field: &str) -> Option<&'a Value> {
    file.get("info")
        .and_then(|i| i.get(field))
        .or_else(|| {
            file.get("runs")?
                .as_array()?
                .iter()
                .find_map(|i| i.get(field))
        })
        .filter(|v| !v.is_null())
}

/// Runs both sides, one process per workload, and writes the table.
pub fn bench(sc_bench: &Path, opts: &Options) -> Result<()> {
    let tags = model_tags(&opts.models)?;
    let jobs = jobs(&tags, &opts.only)?;
    if opts.python.is_some() && opts.torch_json.is_some() {
        bail!("give --python or --torch-json, not both");
    }
    if opts.python.is_some() {
        for (what, path) in [
            ("the PyTorch anchor", &opts.anchor),
            ("bench/anchor_rss.py", &opts.rss_wrapper),
            ("bench/peers.py", &opts.peers),
        ] {
            if !path.is_file() {
                bail!(
                    "--python: {what} ({}) does not exist{}",
                    path.display(),
                    if path == &opts.anchor {
                        " (give --anchor PATH)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    let runs_dir = opts.out.join("runs");
    std::fs::create_dir_all(&runs_dir)
        .with_context(|| format!("creating {}", runs_dir.display()))?;
    let load_before = loadavg();
    let reps = opts.reps.to_string();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for job in &jobs {
        let letter = job.letter.to_string();
        let ours_path = runs_dir.join(format!("semcon-{}.json", job.stem()));
        // DeepFool's cost is its number of steps, which the model's
        // geometry sets: the peer runs semcon's weights (so the same
        // computation) and checks that its margins are semcon's.
        let weights = runs_dir.join(format!("weights-{}.safetensors", job.stem()));
        let mut cmd = Command::new(sc_bench);
        cmd.args(["speed", "--models", job.semcon_model(), "--reps", &reps])
            .args(["--only", &letter, "--out"])
            .arg(&ours_path);
        if job.letter == 'g' {
            cmd.arg("--margin-weights").arg(&weights);
        }
        run(
            cmd,
            &format!("sc-bench speed --only {letter} ({})", job.stem()),
        )?;
        ours.push(read_json(&ours_path)?);
        let Some(python) = &opts.python else {
            continue;
        };
        let path = runs_dir.join(format!("peer-{}.json", job.stem()));
        let mut cmd = Command::new(python);
        cmd.env("OMP_NUM_THREADS", "2");
        if job.by_peers() {
            cmd.arg(&opts.peers);
        } else {
            cmd.arg(&opts.rss_wrapper);
        }
        cmd.arg("--anchor")
            .arg(&opts.anchor)
            .args(["--threads", "2", "--models", job.model.unwrap_or("small")])
            .args(["--reps", &reps, "--only", &letter, "--json"])
            .arg(&path);
        if job.letter == 'g' {
            cmd.arg("--weights")
                .arg(&weights)
                .arg("--compare")
                .arg(&ours_path);
        }
        let script = if job.by_peers() {
            "bench/peers.py"
        } else {
            "the PyTorch anchor"
        };
        run(
            cmd,
            &format!("{script} --only {letter} ({}) under {python}", job.stem()),
        )
        .context("are torch, numpy, scikit-learn, lime and scikit-image installed for it?")?;
        theirs.push(read_json(&path)?);
    }
    let ours = merge(&ours)?;
    crate::write_atomic(
        &opts.out.join("semcon.json"),
        serde_json::to_string_pretty(&ours)?,
    )?;
    let torch = match (&opts.python, &opts.torch_json) {
        (Some(_), _) => {
            let merged = merge(&theirs)?;
            crate::write_atomic(
                &opts.out.join("torch.json"),
                serde_json::to_string_pretty(&merged)?,
            )?;
            Some(merged)
        }
        (None, Some(path)) => Some(read_json(path)?),
        (None, None) => None,
    };
    let (rows, md) = table(&ours, torch.as_ref());
    let load_after = loadavg();
    let text_of = |t: &Value, field: &str| {
        info_field(t, field).map_or("?".to_string(), |v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let peers = torch.as_ref().map_or(String::new(), |t| {
        if info_field(t, "scikit-learn").is_some() {
            format!(
                "; peers: scikit-learn {}, lime {}, scikit-image {}",
                text_of(t, "scikit-learn"),
                text_of(t, "lime"),
                text_of(t, "scikit-image")
            )
        } else {
            String::new()
        }
    });
    let header = format!(
        "Measured in one sitting on this machine, one process per workload; load average {load_before} before, {load_after} after.\n\
         semcon: `sc-bench speed` (median of {reps}); PyTorch: {}{peers}.\n\n",
        torch
            .as_ref()
            .map_or("not run (give --python or --torch-json)".to_string(), |t| format!(
                "torch {} ({} threads, {})",
                text_of(t, "torch"),
                text_of(t, "threads"),
                text_of(t, "cpu_capability"),
            ))
    );
    let text = format!("{header}{md}");
    println!("{text}");
    crate::write_atomic(&opts.out.join("BENCH.md"), &text)?;
    let combined = json!({
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "rows": rows,
        "semcon": ours,
        "pytorch": torch,
    });
    crate::write_atomic(
        &opts.out.join("bench.json"),
        serde_json::to_string_pretty(&combined)?,
    )?;
    eprintln!("wrote {}", opts.out.join("BENCH.md").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_rows_and_computes_ratios() {
        let ours = json!({"results": {
            "small.a_train": {"images_per_s": 300.0},
            "f.conv 64->64 3x3 @32x32": {"gflops": 100.0},
            "f.conv 64->64 3x3 @32x32 input-grad": {"gflops": 50.0}
        }});
        let torch = json!({"results": {
            "small.a_train": {"images_per_s": 600.0},
            "small.c_pgd10": {"images_per_s": 70.0},
            "f.conv 64->64 3x3 @32x32": {"gflops": 80.0}
        }});
        let (rows, md) = table(&ours, Some(&torch));
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0]["ratio"], json!(0.5));
        assert!(rows[1]["semcon"].is_null()); // PGD: PyTorch only
        assert_eq!(rows[2]["ratio"], json!(1.25));
        assert!(rows[3]["pytorch"].is_null()); // input gradient: ours only
        assert!(md.contains(
            "| small-cnn training step (B=128) | img/s | 300.0 | 600.0 | 0.50x | — | — |"
        ));
        let (alone, _) = table(&ours, None);
        assert!(alone.iter().all(|r| r["ratio"].is_null()));
    }

    /// The new rows pair, peak RSS beside them; a row in seconds compares
    /// speed (the peer's time over ours), so above 1 still means semcon is faster.
    #[test]
    fn peer_rows_pair_with_peak_rss_and_seconds_invert() {
        let ours = json!({"results": {
            "resnet18.g_margin_dct8": {"images_per_s": 20.0, "peak_rss_mib": 812.4},
            "small.h_lime1000": {"images_per_s": 4.0, "peak_rss_mib": 150.0},
            "i.tsne1000": {"median_s": 2.0, "peak_rss_mib": 60.0}
        }});
        let torch = json!({"results": {
            "resnet18.g_margin_dct8": {"images_per_s": 10.0, "peak_rss_mib": 1024.0},
            "small.h_lime1000": {"images_per_s": 8.0},
            "i.tsne1000": {"median_s": 10.0, "peak_rss_mib": 300.5},
            "i.tsne1000_bh": {"median_s": 3.0, "peak_rss_mib": 280.0}
        }});
        let (rows, md) = table(&ours, Some(&torch));
        let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "resnet18.g_margin_dct8",
                "small.h_lime1000",
                "i.tsne1000",
                "i.tsne1000_bh"
            ]
        );
        assert_eq!(rows[0]["ratio"], json!(2.0));
        assert_eq!(rows[0]["semcon_peak_rss_mib"], json!(812.4));
        assert_eq!(rows[0]["pytorch_peak_rss_mib"], json!(1024.0));
        assert!(rows[1]["pytorch_peak_rss_mib"].is_null());
        assert_eq!(rows[2]["ratio"], json!(5.0), "10 s against 2 s: 5x faster");
        assert_eq!(rows[2]["unit"], "s");
        assert!(rows[3]["semcon"].is_null() && rows[3]["ratio"].is_null());
        assert!(md.contains("semcon peak RSS MiB | PyTorch peak RSS MiB |"));
        assert!(md.contains(
            "| resnet18 DeepFool margins, 8x8 DCT band 0 (B=32, 10 classes) | img/s | 20.0 | 10.0 | 2.00x | 812 | 1024 |"
        ), "{md}");
        assert!(md.contains("| small-cnn LIME-1000 (8 images, 10 classes; lime) | img/s | 4.0 | 8.0 | 0.50x | 150 | — |"));
        assert!(md.contains(
            "| t-SNE exact, 1000 points x 10 (scikit-learn exact) | s | 2.00 | 10.00 | 5.00x | 60 | 300 |"
        ), "{md}");
    }

    #[test]
    fn one_process_per_workload_in_the_tables_order() {
        let all = jobs(&["small", "resnet18"], LETTERS).unwrap();
        let names: Vec<String> = all.iter().map(|j| j.stem()).collect();
        assert_eq!(
            names,
            [
                "small-a",
                "small-b",
                "small-c",
                "small-d",
                "resnet18-a",
                "resnet18-b",
                "resnet18-c",
                "resnet18-d",
                "resnet18-g",
                "small-h",
                "i",
                "f"
            ]
        );
        assert!(all.iter().filter(|j| j.by_peers()).count() == 3);
        let some = jobs(&["small"], "gif").unwrap();
        assert_eq!(
            some,
            [
                Job {
                    model: None,
                    letter: 'i'
                },
                Job {
                    model: None,
                    letter: 'f'
                }
            ],
            "g is resnet18's only"
        );
        assert_eq!(some[0].semcon_model(), "small-cnn");
        let e = jobs(&["small"], "g").unwrap_err().to_string();
        assert!(e.contains("no workload to run"), "{e}");
        let e = jobs(&["small"], "ax").unwrap_err().to_string();
        assert!(e.contains("--only: unknown workload 'x'"), "{e}");
        assert!(jobs(&["small"], "")
            .unwrap_err()
            .to_string()
            .contains("--only is empty"));
        assert_eq!(
            model_tags("small-cnn,resnet18,small-cnn").unwrap(),
            ["small", "resnet18"]
        );
        let e = model_tags("small-cnn,vgg").unwrap_err().to_string();
        assert!(e.contains("--models: \"vgg\""), "{e}");
    }

    #[test]
    fn merging_keeps_every_run_and_refuses_a_key_twice() {
        let a = json!({"info": {"torch": "2.15"}, "results": {"small.a_train": {"peak_rss_mib": 100.0}}});
        let b =
            json!({"info": {"scikit-learn": "1.9"}, "results": {"i.tsne1000": {"median_s": 3.0}}});
        let m = merge(&[a.clone(), b]).unwrap();
        assert_eq!(m["info"]["torch"], "2.15");
        assert_eq!(m["runs"].as_array().unwrap().len(), 2);
        assert_eq!(m["results"]["small.a_train"]["peak_rss_mib"], json!(100.0));
        assert_eq!(m["results"]["i.tsne1000"]["median_s"], json!(3.0));
        assert_eq!(info_field(&m, "scikit-learn"), Some(&json!("1.9")));
        // A merged file merges again (what --torch-json reads is either).
        assert_eq!(
            merge(std::slice::from_ref(&m)).unwrap()["results"],
            m["results"]
        );
        let e = merge(&[a.clone(), a]).unwrap_err().to_string();
        assert!(e.contains("\"small.a_train\" comes from two runs"), "{e}");
        assert!(merge(&[json!({"info": {}})]).is_err());
    }

    /// Writes an executable shell script (callers hold `FAKE_BENCH`).
    fn script(path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Stand-ins for sc-bench and Python that log their calls and write one
    /// record per workload (the peers' t-SNE two): each workload runs in a
    /// process of its own, ours then the peer's, g and i by `peers.py`, f
    /// by `anchor_rss.py`; the merged files and the table hold them all.
    #[test]
    fn each_workload_runs_in_its_own_process_on_both_sides() {
        let _lock = crate::reproduce::tests::FAKE_BENCH
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("calls.log");
        // $K: the record's key, from --models and --only.
        let keys = r#"
case "$M" in small-cnn) T=small;; *) T=$M;; esac
case "$L" in
  f) K='"f.matmul2048": {"gflops": 100.0, "peak_rss_mib": 64.0}';;
  i) K='"i.tsne1000": {"median_s": 4.0, "peak_rss_mib": 70.0}';;
  g) K="\"$T.g_margin_dct8\": {\"images_per_s\": 30.0, \"peak_rss_mib\": 800.0}";;
esac
"#;
        let sc_bench = dir.join("fake-sc-bench");
        script(
            &sc_bench,
            &format!(
                "echo \"sc-bench $*\" >> '{}'\n\
                 while [ $# -gt 0 ]; do case \"$1\" in --only) L=$2;; --models) M=$2;; --out) O=$2;; esac; shift; done\n\
                 {keys}\n\
                 echo \"{{\\\"info\\\": {{}}, \\\"results\\\": {{$K}}}}\" > \"$O\"\n",
                log.display()
            ),
        );
        let python = dir.join("fake-python");
        script(
            &python,
            &format!(
                "echo \"python $(basename $1) $*\" >> '{}'\n\
                 while [ $# -gt 0 ]; do case \"$1\" in --only) L=$2;; --models) M=$2;; --json) O=$2;; esac; shift; done\n\
                 {keys}\n\
                 [ \"$L\" = i ] && K=\"$K, \\\"i.tsne1000_bh\\\": {{\\\"median_s\\\": 2.0}}\"\n\
                 echo \"{{\\\"info\\\": {{\\\"torch\\\": \\\"9.9\\\", \\\"threads\\\": 2}}, \\\"results\\\": {{$K}}}}\" > \"$O\"\n",
                log.display()
            ),
        );
        let (anchor, rss, peers) = (
            dir.join("torch_anchor.py"),
            dir.join("anchor_rss.py"),
            dir.join("peers.py"),
        );
        for f in [&anchor, &rss, &peers] {
            std::fs::write(f, "").unwrap();
        }
        let opts = Options {
            out: dir.join("out"),
            python: Some(python.display().to_string()),
            torch_json: None,
            anchor,
            rss_wrapper: rss,
            peers,
            models: "resnet18".into(),
            reps: 1,
            only: "gif".into(),
        };
        bench(&sc_bench, &opts).unwrap();
        let log = std::fs::read_to_string(&log).unwrap();
        let calls: Vec<&str> = log
            .lines()
            .map(|l| l.split(" --anchor").next().unwrap())
            .collect();
        let runs = opts.out.join("runs");
        let semcon = |m: &str, l: &str, stem: &str| {
            format!(
                "sc-bench speed --models {m} --reps 1 --only {l} --out {}",
                runs.join(format!("semcon-{stem}.json")).display()
            )
        };
        let weights = runs.join("weights-resnet18-g.safetensors");
        let peer = |script: &str| format!("python {script} {}", dir.join(script).display());
        assert_eq!(
            calls,
            [
                format!(
                    "{} --margin-weights {}",
                    semcon("resnet18", "g", "resnet18-g"),
                    weights.display()
                ),
                peer("peers.py"),
                semcon("small-cnn", "i", "i"),
                peer("peers.py"),
                semcon("small-cnn", "f", "f"),
                peer("anchor_rss.py"),
            ]
        );
        // g's peer runs semcon's weights and checks its margins against semcon's.
        let g_peer = log.lines().nth(1).unwrap();
        assert!(
            g_peer.ends_with(&format!(
                "--weights {} --compare {}",
                weights.display(),
                runs.join("semcon-resnet18-g.json").display()
            )),
            "{g_peer}"
        );
        let torch = read_json(&opts.out.join("torch.json")).unwrap();
        assert_eq!(torch["runs"].as_array().unwrap().len(), 3);
        assert_eq!(torch["results"].as_object().unwrap().len(), 4);
        let md = std::fs::read_to_string(opts.out.join("BENCH.md")).unwrap();
        assert!(md.contains("| 30.0 | 30.0 | 1.00x | 800 | 800 |"), "{md}");
        assert!(md.contains("| s | 4.00 | 4.00 | 1.00x | 70 | 70 |"), "{md}");
        assert!(md.contains("| s | — | 2.00 | — | — | — |"), "{md}");
        assert!(md.contains("torch 9.9 (2 threads"), "{md}");
        let combined = read_json(&opts.out.join("bench.json")).unwrap();
        assert_eq!(combined["rows"].as_array().unwrap().len(), 4);
        // The same table from the merged file again, without Python.
        let again = Options {
            python: None,
            torch_json: Some(opts.out.join("torch.json")),
            out: dir.join("again"),
            ..opts
        };
        bench(&sc_bench, &again).unwrap();
        let md2 = std::fs::read_to_string(again.out.join("BENCH.md")).unwrap();
        assert!(md2.contains("| s | — | 2.00 | — | — | — |"), "{md2}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
