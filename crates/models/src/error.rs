use std::path::PathBuf;

/// Errors of `sc-models`. Every error about a file names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An architecture name that is not in the zoo.
    #[error("unknown architecture {0:?}: expected one of small-cnn, resnet18, resnet50")]
    UnknownArch(String),
    /// A model configuration, input shape or normalisation that cannot be built.
    #[error("invalid {what}: {problem}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// A weights file whose tensors do not fit the architecture.
    #[error("{path}: weights do not fit {arch}: {count} problem(s): {}{}", .problems.join("; "), if *.count > .problems.len() { "; ..." } else { "" })]
    WeightsMismatch {
        /// The file concerned.
        path: PathBuf,
        /// The architecture asked for.
        arch: String,
        /// The first few problems, e.g. `layer1.0.conv1.weight: expected [64, 64, 3, 3], found [64, 32, 3, 3]`.
        problems: Vec<String>,
        /// How many problems there are in all.
        count: usize,
    },
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        #[source]
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file whose content is not what its format requires.
    #[error("{path}: {problem}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(what: &'static str, problem: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            problem: problem.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
