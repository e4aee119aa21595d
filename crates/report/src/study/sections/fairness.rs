//! Fairness under a colour bias (paper Sec. 4.7, Table 4): per regime
//! trained on a Colorful set, test accuracy, accuracy per background
//! colour, their gap, and the counterfactual flip rate.

use super::super::doc::{Block, Table};
use super::super::load::Study;
use super::cell;

/// The background colours (groups) any run measured, in order.
pub fn groups(study: &Study) -> Vec<String> {
    let mut g: Vec<String> = study
        .runs
        .iter()
        .filter_map(|r| r.fairness.as_ref())
        .flat_map(|f| f.group_accuracy.keys().cloned())
        .collect();
    g.sort();
    g.dedup();
    g
}

/// The fairness section; `figure()` draws accuracy per group and regime.
pub fn fairness_section(study: &Study, figure: &mut dyn FnMut() -> Vec<Block>) -> Vec<Block> {
    let Some(p) = study
        .runs
        .iter()
        .find_map(|r| r.fairness.as_ref())
        .map(|f| f.p)
    else {
        return Vec::new();
    };
    let groups = groups(study);
    let mut header: Vec<String> = ["regime", "test accuracy, %", "flip rate, %"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(groups.iter().map(|g| format!("accuracy on {g}, %")));
    header.extend(["gap, points".into(), "counterfactual accuracy, %".into()]);
    let mut t = Table::new(&header);
    for regime in study.regimes() {
        if !study
            .runs
            .iter()
            .any(|r| r.regime == regime && r.fairness.is_some())
        {
            continue;
        }
        let mut row = vec![
            regime.clone(),
            cell(study, &regime, 100.0, 2, &|r| {
                Some(r.fairness.as_ref()?.accuracy)
            }),
            cell(study, &regime, 100.0, 2, &|r| {
                Some(r.fairness.as_ref()?.flip_rate)
            }),
        ];
        for g in &groups {
            row.push(cell(study, &regime, 100.0, 2, &|r| {
                *r.fairness.as_ref()?.group_accuracy.get(g)?
            }));
        }
        row.push(cell(study, &regime, 100.0, 2, &|r| {
            r.fairness.as_ref()?.gap
        }));
        row.push(cell(study, &regime, 100.0, 2, &|r| {
            Some(r.fairness.as_ref()?.counterfactual_accuracy)
        }));
        t.row(row);
    }
    let mut out = vec![
        Block::Heading(1, "Fairness under a colour bias (paper Table 4)".into()),
        Block::Para(format!(
            "Each regime trained from scratch on a Colorful set whose background colour is \
             biased: {:.0}% of the training images have one colour, the same share of the test \
             images the other. **Test accuracy** is the paper's measure; the **flip rate** is the \
             share of predictions that change when only the background colour is swapped (0 = \
             the colour is not used); the **gap** is the best minus the worst accuracy over the \
             colours.",
            100.0 * p
        )),
    ];
    out.extend(figure());
    out.push(Block::Table(t));
    out
}
