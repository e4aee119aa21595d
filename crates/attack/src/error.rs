/// Errors of `sc-attack`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An attack or evaluation parameter that makes no sense (rejected when
    /// the object is built, so that a bad schedule never reaches a model).
    #[error("invalid parameter {name} = {value}: expected {expected}")]
    InvalidParameter {
        /// The parameter, as named in the attack's `params()`.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// Images, labels, targets or a basis that do not fit the model or each other.
    #[error("invalid {what}: {problem}")]
    InvalidInput {
        /// Which argument (`images`, `labels`, ...).
        what: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An error from `sc-loss`.
    #[error(transparent)]
    Loss(#[from] sc_loss::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid_param(
    name: &'static str,
    value: impl ToString,
    expected: &'static str,
) -> Error {
    Error::InvalidParameter {
        name,
        value: value.to_string(),
        expected,
    }
}

pub(crate) fn invalid_input(what: &'static str, problem: impl Into<String>) -> Error {
    Error::InvalidInput {
        what,
        problem: problem.into(),
    }
}
