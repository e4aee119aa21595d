//! Transfer by fine-tuning (paper Sec. 4.6, Table 3): each run fine-tuned
//! on a target data set with a new final layer, beside the same network
//! trained on the target from scratch when the study ran that baseline.

use super::super::doc::{Block, Table};
use super::super::load::Study;
use super::cell;

/// The transfer section; `figure()` draws the fine-tuned accuracy per regime.
pub fn transfer_section(study: &Study, figure: &mut dyn FnMut() -> Vec<Block>) -> Vec<Block> {
    let Some(first) = study.runs.iter().find_map(|r| r.transfer.as_ref()) else {
        return Vec::new();
    };
    let mut t = Table::new(&[
        "regime",
        "fine-tuned test accuracy, %",
        "from scratch, same budget, %",
    ]);
    for regime in study.regimes() {
        t.row(vec![
            regime.clone(),
            cell(study, &regime, 100.0, 2, &|r| {
                r.transfer.as_ref()?.test_accuracy
            }),
            cell(study, &regime, 100.0, 2, &|r| {
                r.transfer
                    .as_ref()?
                    .baseline_from_scratch
                    .as_ref()?
                    .test_accuracy
            }),
        ]);
    }
    let mut out = vec![
        Block::Heading(1, "Transfer by fine-tuning (paper Table 3)".into()),
        Block::Para(format!(
            "Each run fine-tuned on `{}` with a new final layer ({}); the paper fine-tunes its \
             CIFAR-100 models on CIFAR-10, SVHN and MNIST and finds constrained models slightly \
             better (claim C8).",
            first.data,
            if first.freeze_backbone {
                "final layer only"
            } else {
                "all layers"
            }
        )),
    ];
    out.extend(figure());
    out.push(Block::Table(t));
    out
}
