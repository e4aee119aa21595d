//! The sections of a study's report, one function each; every number is a
//! mean over seeds with its 95% Student-t CI ([`Estimate`]).

use super::claims::claims;
use super::departures::departures;
use super::doc::{Block, Table};
use super::load::{Run, Study};
use super::measures::{
    accuracy_after, accuracy_drop, clean_accuracy, ds, robust_accuracy, scale_free_ds, LEVELS,
    PHOTOMETRIC, SEMANTIC,
};
use super::stats::Estimate;
use std::collections::BTreeMap;

mod alpha;
mod discontinuity;
mod fairness;
mod margin;
mod transfer;
pub use alpha::{alpha_section, alphas, at_alpha};
pub use discontinuity::discontinuity_section;
pub use fairness::{fairness_section, groups as fairness_groups};
pub use margin::{bands as margin_bands, log_margin_estimate, margin_section};
pub use transfer::transfer_section;

/// The paper's Table 2 (CIFAR-100, ResNet18): clean and PGD accuracy, %.
pub const PAPER_TABLE2: [(&str, f64, f64); 4] = [
    ("base", 66.99, 9.34),
    ("c", 67.01, 16.01),
    ("adv", 63.80, 44.30),
    ("adv-c", 59.62, 54.04),
];

/// The mean [CI] over seeds of `f` for `regime`, times `scale`; `-` if no run has it.
pub fn cell(
    study: &Study,
    regime: &str,
    scale: f64,
    decimals: usize,
    f: &dyn Fn(&Run) -> Option<f64>,
) -> String {
    let v: Vec<f64> = study
        .per_seed(regime, f)
        .into_iter()
        .map(|(_, x)| x)
        .collect();
    Estimate::of(&v).map_or_else(|| "-".into(), |e| e.scaled(scale).display(decimals))
}

/// The opening paragraph: what ran, and how to read the numbers.
pub fn intro(study: &Study) -> Vec<Block> {
    let m = &study.manifest;
    let meta = study
        .runs
        .iter()
        .find_map(|r| r.train.as_ref().and_then(|t| t.meta.clone()));
    let mut s = format!(
        "Produced by `{}`{}. {} runs over the regimes {}. ",
        m.command,
        m.git_revision
            .as_ref()
            .map(|g| format!(" at revision `{g}`"))
            .unwrap_or_default(),
        study.runs.len(),
        study.regimes().join(", ")
    );
    if let Some(meta) = meta {
        s.push_str(&format!(
            "semcon {} on `{}`. ",
            meta.semcon_version, meta.device
        ));
    }
    s.push_str(
        "Every number is a mean over seeds with its 95% confidence interval in brackets \
         (Student t over seeds, `mean [lo, hi]`); every comparison is a paired difference over \
         seeds (each seed trains every regime and evaluates it on the same test images). \
         Re-render from the JSON with `sc-bench report DIR`.",
    );
    vec![Block::Para(s)]
}

/// The claims table.
pub fn claims_section(study: &Study) -> Vec<Block> {
    let mut t = Table::new(&[
        "claim",
        "what the paper says",
        "measure",
        "paper found",
        "we found: A - B, mean [95% CI]",
        "verdict",
    ]);
    for c in claims(study) {
        t.row(vec![
            c.id.clone(),
            c.claim.clone(),
            if c.comparison.is_empty() {
                c.measure.clone()
            } else {
                format!("{}: {}", c.comparison, c.measure)
            },
            c.paper.clone(),
            c.ours_text(),
            format!("**{}**", c.verdict.label()),
        ]);
    }
    vec![
        Block::Heading(1, "Claims".into()),
        Block::Para(
            "One row per claim and comparison. The verdict comes from the CI of the paired \
             difference alone: **holds** when it excludes zero in the paper's direction, \
             **contradicted** when it excludes zero in the other, **inconclusive** when it \
             contains zero (or there is one seed). Rows of stages this study did not run say so."
                .into(),
        ),
        Block::Table(t),
    ]
}

/// Where this study departs from the paper.
pub fn departures_section(study: &Study) -> Vec<Block> {
    let mut out = vec![
        Block::Heading(1, "Where this study departs from the paper".into()),
        Block::Para(
            "Generated from the configuration the runs stored (training config, attack \
             parameters, image counts), not from intentions."
                .into(),
        ),
        Block::Table(departures(study)),
    ];
    if !study.manifest.notes.is_empty() {
        out.push(Block::List(study.manifest.notes.clone()));
    }
    out
}

/// Adversarial robustness (Table 2), with the per-image worst case.
pub fn robustness_section(study: &Study) -> Vec<Block> {
    let names: Vec<String> = study
        .runs
        .iter()
        .find_map(|r| r.eval.as_ref())
        .map(|e| e.attacks.iter().map(|a| a.name.clone()).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return Vec::new();
    }
    let mut header = vec!["regime".to_string(), "clean".into()];
    header.extend(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| if i == 0 { n.clone() } else { format!("+ {n}") }),
    );
    header.extend([
        "robust".into(),
        "paper clean".into(),
        "paper PGD".into(),
        "sanity checks".into(),
    ]);
    let mut t = Table::new(&header);
    for regime in study.regimes() {
        let mut row = vec![
            regime.clone(),
            cell(study, &regime, 100.0, 2, &clean_accuracy),
        ];
        for k in 0..names.len() {
            row.push(cell(study, &regime, 100.0, 2, &|r| accuracy_after(r, k)));
        }
        row.push(format!(
            "**{}**",
            cell(study, &regime, 100.0, 2, &robust_accuracy)
        ));
        let paper = PAPER_TABLE2.iter().find(|(r, ..)| *r == regime);
        row.push(paper.map_or("-".into(), |p| format!("{:.2}", p.1)));
        row.push(paper.map_or("-".into(), |p| format!("{:.2}", p.2)));
        let (mut total, mut failed) = (0, Vec::new());
        for r in study.runs.iter().filter(|r| r.regime == regime) {
            for c in r.eval.iter().flat_map(|e| &e.sanity) {
                total += 1;
                if !c.passed {
                    failed.push(format!("{} (seed {})", c.name, r.seed));
                }
            }
        }
        row.push(if failed.is_empty() {
            format!("{total}/{total} pass")
        } else {
            format!(
                "{}/{total} pass; FAILED: {}",
                total - failed.len(),
                failed.join(", ")
            )
        });
        t.row(row);
    }
    vec![
        Block::Heading(1, "Adversarial robustness (paper Table 2)".into()),
        Block::Para(
            "Accuracy in %, after each attack in turn (each column counts an image as broken \
             once any attack so far broke it); **robust** is the per-image worst case over all \
             of them, the number to trust, and a single attack's accuracy is only an upper \
             bound. The paper's numbers are ResNet18 on CIFAR-100 under PGD-10: compare trends, \
             not levels."
                .into(),
        ),
        Block::Table(t),
    ]
}

/// The mean same-class DS per regime: the unit of the scale-free DS.
fn same_class_table(study: &Study) -> Table {
    let mut t = Table::new(&[
        "regime",
        "mean DS between same-class images",
        "clean accuracy of the sweep, %",
    ]);
    for regime in study.regimes() {
        t.row(vec![
            regime.clone(),
            cell(study, &regime, 1.0, 3, &|r| r.sweep.as_ref()?.same_class_ds),
            cell(study, &regime, 100.0, 2, &|r| {
                Some(r.sweep.as_ref()?.clean_accuracy)
            }),
        ]);
    }
    t
}

/// A table of `f(run, kind, level)` per regime and level.
fn level_table(
    study: &Study,
    kind: &str,
    scale: f64,
    decimals: usize,
    f: fn(&Run, &str, u8) -> Option<f64>,
) -> Table {
    let mut header = vec!["regime".to_string()];
    header.extend(LEVELS.iter().map(|l| format!("level {l}")));
    let mut t = Table::new(&header);
    for regime in study.regimes() {
        let mut row = vec![regime.clone()];
        for l in LEVELS {
            row.push(cell(study, &regime, scale, decimals, &|r| f(r, kind, l)));
        }
        t.row(row);
    }
    t
}

/// Whether any run measured `kind`.
fn measured(study: &Study, kind: &str) -> bool {
    study.runs.iter().any(|r| {
        r.sweep
            .as_ref()
            .is_some_and(|s| s.entries.iter().any(|e| e.kind == kind))
    })
}

/// DS under photometric perturbations (Fig. 3), raw and scale-free;
/// `figure(kind)` gives each kind's figure.
pub fn ds_section(study: &Study, figure: &mut dyn FnMut(&str) -> Vec<Block>) -> Vec<Block> {
    if !study.runs.iter().any(|r| r.sweep.is_some()) {
        return Vec::new();
    }
    let mut out = vec![
        Block::Heading(
            1,
            "Distance score under photometric perturbations (paper Fig. 3)".into(),
        ),
        Block::Para(
            "`DS(x, P(x)) = ||F(P(x)) - F(x)||^2` of the logits, summed over classes and \
             averaged over the test images, per level of Table 1. Beside it the **scale-free DS**: \
             DS divided by the mean DS between two different test images of the same class (the \
             comparison of Fig. 1). Both are shown because raw DS grows with the logit scale: a \
             regime with smaller logits (adversarial training, or a model that has not learned) \
             has a smaller DS without being any more continuous; the scale-free DS says how far \
             the perturbation moves an image relative to the spread of its class. DS is only \
             comparable between models of similar clean accuracy (see the training table)."
                .into(),
        ),
        Block::Table(same_class_table(study)),
    ];
    for kind in PHOTOMETRIC {
        if !measured(study, kind) {
            continue;
        }
        out.push(Block::Heading(2, kind.to_string()));
        out.extend(figure(kind));
        out.push(Block::Para(format!("DS under {kind}:")));
        out.push(Block::Table(level_table(study, kind, 1.0, 3, ds)));
        out.push(Block::Para(format!("Scale-free DS under {kind}:")));
        out.push(Block::Table(level_table(
            study,
            kind,
            1.0,
            4,
            scale_free_ds,
        )));
    }
    out
}

/// Accuracy under the semantic-destroying probes (Sec. 4.3, Figs. 6, 8, 10).
pub fn probes_section(study: &Study, figure: &mut dyn FnMut(&str) -> Vec<Block>) -> Vec<Block> {
    let kinds: Vec<&str> = SEMANTIC
        .into_iter()
        .filter(|k| measured(study, k))
        .collect();
    if kinds.is_empty() {
        return Vec::new();
    }
    let mut out = vec![
        Block::Heading(
            1,
            "Accuracy under semantic-destroying perturbations (paper Sec. 4.3)".into(),
        ),
        Block::Para(
            "Accuracy lost (clean minus perturbed, points) per level: RGB channel translation, \
             a shuffled centre square, a sliding puzzle. The paper: constrained models lose more \
             (they rely more on the object's semantics and less on texture and colour statistics)."
                .into(),
        ),
    ];
    for kind in kinds {
        out.push(Block::Heading(2, kind.to_string()));
        out.extend(figure(kind));
        out.push(Block::Table(level_table(
            study,
            kind,
            100.0,
            2,
            accuracy_drop,
        )));
    }
    out
}

/// Attribution maps (Sec. 4.5) with numbers, and their pictures.
pub fn attribution_section(
    study: &Study,
    pictures: &mut dyn FnMut(&str, &str) -> Vec<Block>,
) -> Vec<Block> {
    let mut methods: Vec<String> = study
        .runs
        .iter()
        .flat_map(|r| r.attribution.keys().cloned())
        .collect();
    methods.sort();
    methods.dedup();
    if methods.is_empty() {
        return Vec::new();
    }
    let mut out = vec![
        Block::Heading(1, "Attribution maps (paper Sec. 4.5)".into()),
        Block::Para(
            "Per map, explaining the true label: total variation over absolute mass (lower = \
             smoother), the share of absolute mass on the object (sets with object masks; an \
             evenly spread map scores the object's area), the share in the central box (the \
             middle half of each side, on every set: photographs are mostly framed on their \
             object), and the deletion/insertion AUCs (lower deletion and higher insertion = \
             more faithful)."
                .into(),
        ),
    ];
    let has_masks = study.runs.iter().any(|r| {
        r.attribution
            .values()
            .any(|a| a.mean_mass_on_object.is_some())
    });
    if !has_masks {
        out.push(Block::Para(
            "Mass on the object: not available on this data (it has no object masks); the \
             central-box share stands in for it."
                .into(),
        ));
    }
    for method in &methods {
        let mut header = vec!["regime", "total variation"];
        if has_masks {
            header.extend(["mass on object", "object area"]);
        }
        header.extend([
            "mass in central box",
            "central box area",
            "deletion AUC",
            "insertion AUC",
        ]);
        let mut t = Table::new(&header);
        for regime in study.regimes() {
            let a = |f: fn(&super::stages::AttributionResult) -> Option<f64>| {
                let m = method.clone();
                move |r: &Run| r.attribution.get(&m).and_then(f)
            };
            let mut row = vec![
                regime.clone(),
                cell(study, &regime, 1.0, 4, &a(|x| Some(x.mean_total_variation))),
            ];
            if has_masks {
                row.push(cell(study, &regime, 1.0, 4, &a(|x| x.mean_mass_on_object)));
                row.push(cell(study, &regime, 1.0, 4, &a(|x| x.mean_object_area)));
            }
            row.extend([
                cell(study, &regime, 1.0, 4, &a(|x| x.mean_mass_in_centre)),
                cell(study, &regime, 1.0, 4, &a(|x| x.centre_area)),
                cell(study, &regime, 1.0, 4, &a(|x| Some(x.metrics.deletion_auc))),
                cell(
                    study,
                    &regime,
                    1.0,
                    4,
                    &a(|x| Some(x.metrics.insertion_auc)),
                ),
            ]);
            t.row(row);
        }
        out.push(Block::Heading(2, method.clone()));
        out.push(Block::Table(t));
        for regime in study.regimes() {
            out.extend(pictures(&regime, method));
        }
    }
    out
}

/// Training results and the provenance of every run.
pub fn training_section(study: &Study) -> Vec<Block> {
    let mut t = Table::new(&[
        "regime",
        "train accuracy (last epoch), %",
        "test accuracy, %",
        "held-out DS",
        "seconds",
    ]);
    for regime in study.regimes() {
        t.row(vec![
            regime.clone(),
            cell(study, &regime, 100.0, 2, &|r| {
                r.train.as_ref()?.train_accuracy
            }),
            cell(study, &regime, 100.0, 2, &|r| {
                r.train.as_ref()?.test_accuracy
            }),
            cell(study, &regime, 1.0, 3, &|r| r.train.as_ref()?.heldout_ds),
            cell(study, &regime, 1.0, 0, &|r| Some(r.train.as_ref()?.seconds)),
        ]);
    }
    let mut runs = Table::new(&[
        "regime",
        "seed",
        "device",
        "semcon",
        "config sha256",
        "checkpoint",
        "checkpoint sha256",
    ]);
    let short = |s: &Option<String>| {
        s.as_ref()
            .map_or("-".into(), |s| format!("`{}`", &s[..s.len().min(12)]))
    };
    for r in &study.runs {
        let Some(m) = r.train.as_ref().and_then(|t| t.meta.as_ref()) else {
            runs.row(vec![
                r.regime.clone(),
                r.seed.to_string(),
                "not recorded".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
            continue;
        };
        runs.row(vec![
            r.regime.clone(),
            r.seed.to_string(),
            m.device.clone(),
            m.semcon_version.clone(),
            short(&m.config_sha256),
            m.checkpoint.clone().unwrap_or_else(|| "-".into()),
            short(&m.checkpoint_sha256),
        ]);
    }
    vec![
        Block::Heading(1, "Training".into()),
        Block::Table(t),
        Block::Para("Provenance of each run (the first 12 hex digits of the SHA-256 of its `config.toml` and of its final weights):".into()),
        Block::Table(runs),
    ]
}

/// The stage of a stage file: `base-s0.train.json` -> `train`,
/// `alpha-sweep-s0.json` -> `alpha-sweep`.
pub fn stage_of(file: &str) -> String {
    let stem = file.strip_suffix(".json").unwrap_or(file);
    match stem.split_once('.') {
        Some((_, stage)) => stage.to_string(),
        None => stem
            .rsplit_once("-s")
            .filter(|(_, seed)| seed.chars().all(|c| c.is_ascii_digit()))
            .map_or(stem, |(name, _)| name)
            .to_string(),
    }
}

/// Wall time per stage (summed over runs and seeds), as the driver
/// measured it: where the study's time goes.
pub fn timings_section(study: &Study) -> Vec<Block> {
    let timings = &study.manifest.timings;
    if timings.is_empty() {
        return Vec::new();
    }
    let mut per_stage: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for (file, seconds) in timings {
        let e = per_stage.entry(stage_of(file)).or_default();
        e.0 += 1;
        e.1 += seconds;
    }
    let total: f64 = per_stage.values().map(|v| v.1).sum();
    let mut t = Table::new(&["stage", "files", "seconds", "share"]);
    let mut rows: Vec<_> = per_stage.into_iter().collect();
    rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (stage, (n, s)) in rows {
        t.row(vec![
            stage,
            n.to_string(),
            format!("{s:.0}"),
            format!("{:.1}%", 100.0 * s / total.max(1e-9)),
        ]);
    }
    t.row(vec![
        "total".into(),
        timings.len().to_string(),
        format!("{total:.0}"),
        "100%".into(),
    ]);
    vec![
        Block::Heading(1, "Wall time per stage".into()),
        Block::Para(
            "Seconds of each stage summed over runs and seeds, as `cargo xtask reproduce` \
             measured them (for a stage resumed after an interruption, the invocation that \
             finished it)."
                .into(),
        ),
        Block::Table(t),
    ]
}

/// The stages of the paper this study did not run.
pub fn not_run_section(study: &Study) -> Vec<Block> {
    let mut missing: Vec<String> = Vec::new();
    if study.alpha_sweeps.is_empty() {
        missing.push("the alpha sweep (Fig. 4, claim C2)".into());
    }
    if !study.runs.iter().any(|r| r.transfer.is_some()) {
        missing.push("transfer by fine-tuning (Table 3, claim C8)".into());
    }
    if !study.runs.iter().any(|r| r.fairness.is_some()) {
        missing.push("fairness under a colour bias (Table 4, claim C9)".into());
    }
    if !study.runs.iter().any(|r| r.margin.is_some()) {
        missing.push("margins per DCT band (the companion paper, claim M)".into());
    }
    if !study.runs.iter().any(|r| r.discontinuity.is_some()) {
        missing.push("the evidence of discontinuity (Figs. 1-2, row F1)".into());
    }
    if !study.runs.iter().any(|r| r.eval.is_some()) {
        missing.push("adversarial robustness (Table 2, claim C6)".into());
    }
    if !study.runs.iter().any(|r| r.sweep.is_some()) {
        missing.push("the perturbation sweep (Fig. 3, Sec. 4.3, claims C1, C3-C5)".into());
    }
    if missing.is_empty() {
        return Vec::new();
    }
    vec![
        Block::Heading(1, "Not run in this study".into()),
        Block::List(missing),
    ]
}

#[cfg(test)]
mod tests {
    use super::stage_of;

    #[test]
    fn a_stage_file_names_its_stage() {
        for (file, stage) in [
            ("base-s0.train.json", "train"),
            ("adv-c-s12.eval-auto.json", "eval-auto"),
            ("c-s1.ig.json", "ig"),
            ("alpha-sweep-s0.json", "alpha-sweep"),
            ("alpha-sweep-s10.json", "alpha-sweep"),
            ("odd-name.json", "odd-name"),
        ] {
            assert_eq!(stage_of(file), stage, "{file}");
        }
    }
}
