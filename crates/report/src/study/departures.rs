//! "Where this study departs from the paper": generated from the
//! configuration the runs actually used (their stored training config,
//! the evaluation's attack parameters, the image counts), beside the
//! paper's setting for CIFAR-100 (Sec. 4.1, 4.4; PAPER.md).

use super::doc::Table;
use super::load::Study;
use super::stages::TrainSettings;

/// An epsilon or step size as `k/255` when it is one, else as a decimal.
pub fn fraction(x: f64) -> String {
    let k = x * 255.0;
    if x != 0.0 && (k - k.round()).abs() < 1e-6 {
        format!("{}/255", k.round())
    } else {
        format!("{x}")
    }
}

/// The distinct values of `f` over `items`, in first-seen order, joined.
fn distinct<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    let mut seen: Vec<String> = Vec::new();
    for i in items {
        let v = f(i);
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    if seen.is_empty() {
        "not recorded".into()
    } else {
        seen.join("; ")
    }
}

/// One row: aspect, the paper's setting, ours, and whether they differ
/// (`None`: the paper does not say).
fn row(t: &mut Table, aspect: &str, paper: &str, ours: String, differs: Option<bool>) {
    let mark = match differs {
        Some(true) => "**departs**",
        Some(false) => "same",
        None => "paper does not say",
    };
    t.row(vec![aspect.into(), paper.into(), ours, mark.into()]);
}

/// The departures table of `study`.
pub fn departures(study: &Study) -> Table {
    let mut t = Table::new(&["aspect", "paper (CIFAR-100)", "this study", ""]);
    let configs: Vec<(&str, &TrainSettings)> = study
        .runs
        .iter()
        .filter_map(|r| {
            let c = r.train.as_ref()?.config.as_ref()?;
            Some((r.regime.as_str(), c))
        })
        .collect();
    let all: Vec<&TrainSettings> = configs.iter().map(|(_, c)| *c).collect();
    let of = |regimes: &[&str]| -> Vec<&TrainSettings> {
        configs
            .iter()
            .filter(|(r, _)| regimes.contains(r))
            .map(|(_, c)| *c)
            .collect()
    };
    let data = distinct(&all, |c| {
        if c.train_limit > 0 {
            format!("`{}` (first {} training images)", c.data, c.train_limit)
        } else {
            format!("`{}`", c.data)
        }
    });
    let is_cifar100 = all
        .iter()
        .all(|c| c.data.starts_with("cifar100") && c.train_limit == 0);
    row(
        &mut t,
        "data",
        "CIFAR-100 (50,000 training images)",
        data,
        Some(!is_cifar100),
    );
    let model = distinct(&all, |c| c.model.clone());
    row(
        &mut t,
        "model",
        "ResNet18",
        model,
        Some(!all.iter().all(|c| c.model == "resnet18")),
    );
    let constrained = of(&["c", "adv-c"]);
    let reduction = distinct(
        &study
            .runs
            .iter()
            .filter_map(|r| r.sweep.as_ref())
            .collect::<Vec<_>>(),
        |s| s.reduction.clone(),
    );
    row(
        &mut t,
        "alpha and the DS reduction",
        "alpha 1.0; DS summed over classes, mean over the batch",
        format!(
            "alpha {}; continuity term {}; {}",
            distinct(&constrained, |c| c.alpha.to_string()),
            distinct(&constrained, |c| c.continuity.clone()),
            reduction
        ),
        Some(
            !constrained
                .iter()
                .all(|c| c.alpha == 1.0 && c.continuity == "ds"),
        ),
    );
    row(
        &mut t,
        "optimiser and learning rate",
        "Adam, 1e-5",
        distinct(&all, |c| {
            let wd = if c.weight_decay > 0.0 {
                format!(", weight decay {}", c.weight_decay)
            } else {
                String::new()
            };
            format!("{} {}{wd}, batch {}", c.optimizer, c.lr, c.batch_size)
        }),
        Some(!all.iter().all(|c| c.optimizer == "adam" && c.lr == 1e-5)),
    );
    row(
        &mut t,
        "schedule",
        "not stated",
        distinct(&all, |c| c.schedule.clone()),
        None,
    );
    row(
        &mut t,
        "epochs",
        "not stated",
        distinct(&all, |c| match &c.init {
            Some(init) => format!("{} (fine-tuned from {init})", c.epochs),
            None => format!("{} (from scratch)", c.epochs),
        }),
        None,
    );
    let adversarial = of(&["adv", "adv-c"]);
    row(
        &mut t,
        "training PGD (ADV, ADV+C)",
        "eps 8/255, step 2/255, 10 iterations",
        distinct(&adversarial, |c| {
            format!(
                "eps {}, step {}, {} iterations",
                fraction(c.pgd_eps),
                fraction(c.pgd_step),
                c.pgd_steps
            )
        }),
        Some(!adversarial.iter().all(|c| {
            fraction(c.pgd_eps) == "8/255" && fraction(c.pgd_step) == "2/255" && c.pgd_steps == 10
        })),
    );
    row(
        &mut t,
        "augmentation",
        "C: one of brightness, contrast, saturation, hue per image (P(x)); crop/flip not stated",
        distinct(&all, |c| {
            let mut parts = vec![format!(
                "C pairs: {} up to level {}",
                c.augment, c.augment_level
            )];
            if c.crop_padding > 0 {
                parts.push(format!("random crop, padding {}", c.crop_padding));
            }
            if c.hflip {
                parts.push("horizontal flips".into());
            }
            parts.join(", ")
        }),
        Some(!all.iter().all(|c| c.augment == "one-of")),
    );
    let evals: Vec<_> = study.runs.iter().filter_map(|r| r.eval.as_ref()).collect();
    row(
        &mut t,
        "evaluation attacks",
        "PGD, eps 8/255, step 2/255, 10 iterations",
        distinct(&evals, |e| {
            let attacks: Vec<String> = e
                .attacks
                .iter()
                .map(|a| {
                    let p = |k: &str| a.params.get(k).copied();
                    let mut s = a.name.clone();
                    if let Some(eps) = p("eps") {
                        s.push_str(&format!(" eps {}", fraction(eps)));
                    }
                    if let Some(steps) = p("steps") {
                        s.push_str(&format!(", {steps} steps"));
                    }
                    if let Some(r) = p("restarts") {
                        s.push_str(&format!(", {r} restarts"));
                    }
                    s
                })
                .collect();
            format!("{}; worst case per image", attacks.join(" then "))
        }),
        Some(true),
    );
    let sweeps: Vec<_> = study.runs.iter().filter_map(|r| r.sweep.as_ref()).collect();
    let attributions: Vec<_> = study
        .runs
        .iter()
        .flat_map(|r| r.attribution.values())
        .collect();
    row(
        &mut t,
        "test images",
        "CIFAR-100 test set, 10,000 (Table 2); counts not stated for Fig. 3 and the maps",
        format!(
            "attacks: {}; sanity checks: {}; sweep: {}; attribution: {}",
            distinct(&evals, |e| e.n.to_string()),
            distinct(&evals, |e| e.sanity_samples.to_string()),
            distinct(&sweeps, |s| s.images.to_string()),
            distinct(&attributions, |a| a.images.to_string())
        ),
        Some(!evals.iter().all(|e| e.n == 10_000)),
    );
    let seeds = {
        let mut s: Vec<u64> = study.runs.iter().map(|r| r.seed).collect();
        s.sort_unstable();
        s.dedup();
        s.len()
    };
    row(
        &mut t,
        "seeds",
        "one run per model",
        format!("{seeds} per regime; every number a mean with a 95% Student-t CI"),
        Some(seeds != 1),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_written_over_255_only_when_exact() {
        assert_eq!(fraction(8.0 / 255.0), "8/255");
        assert_eq!(fraction(2.0 / 255.0), "2/255");
        assert_eq!(fraction(0.03), "0.03");
        assert_eq!(fraction(0.0), "0");
    }
}
