use std::path::PathBuf;

/// Errors of `sc-data`. Every error about a file names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        #[source]
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file exists but its content is not what its format requires.
    #[error("{path}: {problem}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// Two files that must agree do not (e.g. image and label counts).
    #[error("{path} does not match {other}: {problem}")]
    Mismatch {
        /// The file concerned.
        path: PathBuf,
        /// The file it must agree with.
        other: PathBuf,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// A required file is absent.
    #[error("{path}: not found ({expected})")]
    Missing {
        /// The file concerned.
        path: PathBuf,
        /// What was expected.
        expected: String,
    },
    /// A data set specification (`--data`) or option that cannot be used.
    #[error("invalid data specification {spec:?}: {problem}")]
    Spec {
        /// The specification as given.
        spec: String,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// An argument outside its valid range.
    #[error("invalid {name}: {problem}")]
    InvalidArgument {
        /// The argument or parameter.
        name: &'static str,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// A download failed.
    #[error("download of {url} failed: {problem}")]
    Download {
        /// The address that was downloaded.
        url: String,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// A downloaded file's digest differs from the published one.
    #[error("{path}: {algorithm} checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// The file concerned.
        path: PathBuf,
        /// The digest algorithm.
        algorithm: &'static str,
        /// What was expected.
        expected: String,
        /// What was found.
        actual: String,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
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

    pub(crate) fn arg(name: &'static str, problem: impl Into<String>) -> Self {
        Error::InvalidArgument {
            name,
            problem: problem.into(),
        }
    }
}
