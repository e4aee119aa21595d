//! What a resumed run may change: only `epochs`, and only where the steps
//! already taken keep their learning rates.
//!
//! A run is a pure function of its configuration, so resuming with another
//! learning rate, regime or data would give weights that no configuration
//! describes. `epochs` may change (more, or fewer but not below what is
//! done) when the schedule does not depend on the total: `constant` and
//! `step` give every step the rate it would have in an uninterrupted run of
//! the new length, so the resumed run ends bit-identical to that run.
//! `cosine` and `one-cycle` spread the rate over all `epochs`: the steps
//! already done would have had other rates, so changing `epochs` after the
//! first step is refused (fine-tune from the run with `init` instead).

use crate::config::TrainConfig;
use crate::{Error, Result};

/// Checks that the run stored with `stored`, which stands after
/// `global_step` steps with `epochs_started` epochs begun, can continue as
/// `asked`.
pub(crate) fn check_resume(
    stored: &TrainConfig,
    asked: &TrainConfig,
    global_step: u64,
    epochs_started: u64,
) -> Result<()> {
    stored.check_resumable_as(asked, "its last checkpoint")?;
    if asked.epochs == stored.epochs {
        return Ok(());
    }
    if asked.epochs < epochs_started {
        return Err(Error::Config(format!(
            "cannot resume with epochs = {}: the run has already begun {epochs_started} epoch(s)",
            asked.epochs
        )));
    }
    if global_step > 0 && stored.schedule.depends_on_total() {
        return Err(Error::Config(format!(
            "cannot resume with epochs = {} (the run has {}): schedule = \"{}\" spreads the learning rate over all epochs, so the {global_step} steps done would have had other rates; keep epochs = {}, or fine-tune from this run with init",
            asked.epochs,
            stored.epochs,
            stored.schedule.name(),
            stored.epochs
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Schedule;

    fn config(schedule: Schedule, epochs: u64) -> TrainConfig {
        TrainConfig {
            schedule,
            epochs,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn only_epochs_may_change_and_only_where_past_rates_stay() {
        let stored = config(Schedule::Constant, 2);
        check_resume(&stored, &config(Schedule::Constant, 5), 20, 2).unwrap();
        check_resume(&stored, &config(Schedule::Constant, 2), 20, 2).unwrap();
        let e = check_resume(&stored, &config(Schedule::Constant, 1), 20, 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("epochs = 1") && e.contains("begun 2 epoch"),
            "{e}"
        );

        let lr = TrainConfig {
            lr: 0.5,
            ..stored.clone()
        };
        let e = check_resume(&stored, &lr, 20, 2).unwrap_err().to_string();
        assert!(
            e.contains("`lr`") && e.contains("0.003") && e.contains("0.5"),
            "{e}"
        );

        let cosine = config(Schedule::Cosine, 2);
        let e = check_resume(&cosine, &config(Schedule::Cosine, 4), 20, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cosine") && e.contains("20 steps"), "{e}");
        // Before the first step nothing has run at another rate.
        check_resume(&cosine, &config(Schedule::Cosine, 4), 0, 0).unwrap();
        check_resume(
            &config(Schedule::Step, 2),
            &config(Schedule::Step, 4),
            20,
            2,
        )
        .unwrap();
    }
}
