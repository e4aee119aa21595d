//! Download of the standard data sets from their official sources.
//!
//! Downloads are meant to be left unattended and re-run freely:
//!
//! - **Verified.** Every file is checked against a published digest before it
//!   is used. The upstreams publish MD5 only, so the registry holds MD5; the
//!   SHA-256 of every file is computed in the same pass regardless, and once
//!   a file has verified its SHA-256 is recorded in `DIR/SHA256SUMS`
//!   (`sha256sum -c` format), so that loaders, people and later runs can
//!   check the files with SHA-256. A later run trusts an existing file only
//!   when it matches both the expected digest and its recorded SHA-256.
//! - **Resumable.** Bytes arrive in `DEST.part`. An interrupted transfer
//!   leaves the `.part` file, and the next attempt (an automatic retry, or a
//!   later run) asks the server for the rest with `Range: bytes=N-`; a
//!   server that ignores the range and sends the whole file restarts it.
//! - **Atomic.** `DEST` appears (by renaming `DEST.part`) only after its
//!   digest verified, and `SHA256SUMS` and unpacked folders are likewise
//!   written aside and renamed into place, so an interrupted run never
//!   leaves a file that looks complete but is not.
//!
//! The resulting layouts are those the loaders read: `DIR/train-images-idx3-ubyte.gz`
//! etc. for MNIST and Fashion-MNIST, `DIR/cifar-10-batches-bin/*.bin`,
//! `DIR/cifar-100-binary/*.bin`, and `DIR/train_32x32.mat` /
//! `DIR/test_32x32.mat` for SVHN. CIFAR tarballs are kept next to their
//! unpacked folder, which lets later runs see that nothing is left to do.
//!
//! The library prints nothing: progress goes to a [`Progress`]
//! implementation (the CLI draws bars; [`NoProgress`] ignores it).

use crate::{Error, Result};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// An expected file digest, as lowercase or uppercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Digest {
    /// SHA-256 (64 hex digits).
    Sha256(String),
    /// MD5 (32 hex digits), what the upstream data sets publish.
    Md5(String),
}

impl Digest {
    /// `SHA-256` or `MD5`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Digest::Sha256(_) => "SHA-256",
            Digest::Md5(_) => "MD5",
        }
    }

    /// The hex digits as given.
    pub fn hex(&self) -> &str {
        match self {
            Digest::Sha256(h) | Digest::Md5(h) => h,
        }
    }

    /// Lowercases the hex and checks its length and digits, so that a typo
    /// is reported as such rather than as a checksum mismatch after a long
    /// download.
    fn normalized(&self) -> Result<Digest> {
        let (len, make): (usize, fn(String) -> Digest) = match self {
            Digest::Sha256(_) => (64, Digest::Sha256),
            Digest::Md5(_) => (32, Digest::Md5),
        };
        let hex = self.hex().trim().to_ascii_lowercase();
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::arg(
                "digest",
                format!(
                    "{} digest {:?} is not {len} hex digits",
                    self.algorithm(),
                    self.hex()
                ),
            ));
        }
        Ok(make(hex))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Digest::Sha256(h) => write!(f, "sha256:{h}"),
            Digest::Md5(h) => write!(f, "md5:{h}"),
        }
    }
}

/// Parses `sha256:HEX`, `md5:HEX`, or bare hex (64 digits: SHA-256, 32:
/// MD5), the forms a command line is likely to receive.
impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        let d = if let Some(h) = lower.strip_prefix("sha256:") {
            Digest::Sha256(h.into())
        } else if let Some(h) = lower.strip_prefix("md5:") {
            Digest::Md5(h.into())
        } else if s.len() == 32 {
            Digest::Md5(s.into())
        } else {
            Digest::Sha256(s.into())
        };
        d.normalized()
    }
}

/// One file of a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Where the file is published.
    pub url: String,
    /// The file's name in the destination folder (a plain name, no `/`).
    pub file_name: String,
    /// The published digest.
    pub digest: Digest,
    /// For a `.tar.gz` archive: the single top-level folder it holds, which
    /// is unpacked into the destination folder when
    /// [`FetchOptions::extract`] is set.
    pub unpack: Option<String>,
}

/// Options of [`fetch`] and [`fetch_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Replaces the base URL: each file is fetched from
    /// `{mirror}/{file_name}`. For mirrors, and for tests against a local
    /// server.
    pub mirror: Option<String>,
    /// Unpack archives (the CIFAR tarballs) after download. Default `true`.
    pub extract: bool,
    /// Expected SHA-256 per file name, overriding the registry's digest for
    /// that file (e.g. a digest a project pinned itself). A map rather than
    /// a single value because most sets have several files; a name that is
    /// not a file of the set is an error, so a typo cannot silently
    /// disable the override.
    pub sha256: BTreeMap<String, String>,
    /// Further attempts after a network failure or a server error (5xx);
    /// each resumes the partial file. Default 3.
    pub retries: u32,
    /// Limit for connecting, for the response to start, and for each read
    /// of the body: a stalled transfer fails (and may be retried) instead of
    /// hanging. Default 60 s.
    pub timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            mirror: None,
            extract: true,
            sha256: BTreeMap::new(),
            retries: 3,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Receives download progress; the library itself prints nothing.
pub trait Progress {
    /// A transfer of `file` begins: `total` bytes when the server said so,
    /// `already` of them present from an earlier partial download. A file
    /// already present and verified is announced with `already == total`,
    /// followed directly by [`finish`](Progress::finish).
    fn start(&mut self, file: &str, total: Option<u64>, already: u64);
    /// `bytes` more bytes arrived.
    fn advance(&mut self, bytes: u64);
    /// The transfer of `file` ended (its verification follows).
    fn finish(&mut self, file: &str);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: Option<u64>, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self, _: &str) {}
}

/// One verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Where the file is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256 (lowercase hex), as recorded in `SHA256SUMS`.
    pub sha256: String,
    /// True when the file was already present and verified, so nothing was
    /// downloaded.
    pub skipped: bool,
    /// The folder the archive is unpacked to (whether unpacked now or
    /// found from an earlier run), when it is an archive and extraction was
    /// asked for.
    pub unpacked: Option<PathBuf>,
}

/// What [`fetch`] or [`fetch_files`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// The destination folder.
    pub dir: PathBuf,
    /// Every file of the set, in registry order.
    pub files: Vec<FetchedFile>,
}

/// Name of the digest record kept in each destination folder.
pub const SHA256SUMS: &str = "SHA256SUMS";

const NAMES: &[&str] = &["mnist", "fashion-mnist", "cifar10", "cifar100", "svhn"];

/// `(file name, MD5, folder inside the archive)`.
type Entry = (&'static str, &'static str, Option<&'static str>);

fn registry(name: &str) -> Option<(&'static str, &'static [Entry])> {
    const MNIST: &[Entry] = &[
        (
            "train-images-idx3-ubyte.gz",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            None,
        ),
        (
            "train-labels-idx1-ubyte.gz",
            "d53e105ee54ea40749a09fcbcd1e9432",
            None,
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "9fb629c4189551a2d022fa330f9573f3",
            None,
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            "ec29112dd5afa0611ce80d1b7f02629c",
            None,
        ),
    ];
    const FASHION: &[Entry] = &[
        (
            "train-images-idx3-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            None,
        ),
        (
            "train-labels-idx1-ubyte.gz",
            "25c81989df183df01b3e8a0aad5dffbe",
            None,
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "bef4ecab320f06d8554ea6380940ec79",
            None,
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            "bb300cfdad3c16e7a12a480ee83cd310",
            None,
        ),
    ];
    const CIFAR10: &[Entry] = &[(
        "cifar-10-binary.tar.gz",
        "c32a1d4ab5d03f1284b67883e8d87530",
        Some("cifar-10-batches-bin"),
    )];
    const CIFAR100: &[Entry] = &[(
        "cifar-100-binary.tar.gz",
        "03b5dce01913d631647c71ecec9e9cb8",
        Some("cifar-100-binary"),
    )];
    const SVHN: &[Entry] = &[
        ("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", None),
        ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", None),
    ];
    Some(match name {
        "mnist" => ("https://ossci-datasets.s3.amazonaws.com/mnist/", MNIST),
        "fashion-mnist" => (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            FASHION,
        ),
        "cifar10" => ("https://www.cs.toronto.edu/~kriz/", CIFAR10),
        "cifar100" => ("https://www.cs.toronto.edu/~kriz/", CIFAR100),
        "svhn" => ("http://ufldl.stanford.edu/housenumbers/", SVHN),
        _ => return None,
    })
}

/// The names [`fetch`] knows.
pub fn dataset_names() -> &'static [&'static str] {
    NAMES
}

/// The files of a named set at their official sources.
pub fn dataset_files(name: &str) -> Result<Vec<RemoteFile>> {
    let (base, entries) = registry(name).ok_or_else(|| {
        Error::arg(
            "data set",
            format!("unknown data set `{name}` (known: {})", NAMES.join(", ")),
        )
    })?;
    Ok(entries
        .iter()
        .map(|&(file, md5, unpack)| RemoteFile {
            url: format!("{base}{file}"),
            file_name: file.into(),
            digest: Digest::Md5(md5.into()),
            unpack: unpack.map(String::from),
        })
        .collect())
}

/// Downloads the named set (see [`dataset_names`]) into `dir`, which is
/// created if needed; see the [module documentation](self).
pub fn fetch(
    name: &str,
    dir: &Path,
    opts: &FetchOptions,
    progress: &mut dyn Progress,
) -> Result<FetchReport> {
    fetch_files(&dataset_files(name)?, dir, opts, progress)
}

/// Downloads one file to `dest` with the default options and records its
/// SHA-256 in the `SHA256SUMS` of `dest`'s folder.
pub fn fetch_file(
    url: &str,
    dest: &Path,
    digest: &Digest,
    progress: &mut dyn Progress,
) -> Result<FetchedFile> {
    let bad_dest = || {
        Error::arg(
            "destination",
            format!("{} is not a file path", dest.display()),
        )
    };
    let file_name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(bad_dest)?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file = RemoteFile {
        url: url.into(),
        file_name: file_name.into(),
        digest: digest.clone(),
        unpack: None,
    };
    let mut report = fetch_files(&[file], dir, &FetchOptions::default(), progress)?;
    report.files.pop().ok_or_else(bad_dest)
}

/// Downloads a custom list of files into `dir` (created if needed), with the
/// same guarantees as [`fetch`].
pub fn fetch_files(
    files: &[RemoteFile],
    dir: &Path,
    opts: &FetchOptions,
    progress: &mut dyn Progress,
) -> Result<FetchReport> {
    let mut plan = Vec::with_capacity(files.len());
    for f in files {
        check_file_name(&f.file_name)?;
        let digest = match opts.sha256.get(&f.file_name) {
            Some(h) => Digest::Sha256(h.clone()),
            None => f.digest.clone(),
        }
        .normalized()?;
        let url = match &opts.mirror {
            Some(m) => format!("{}/{}", m.trim_end_matches('/'), f.file_name),
            None => f.url.clone(),
        };
        plan.push((f, url, digest));
    }
    if let Some(name) = opts
        .sha256
        .keys()
        .find(|n| !files.iter().any(|f| &f.file_name == *n))
    {
        let names: Vec<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
        return Err(Error::arg(
            "sha256",
            format!("`{name}` is not a file of this set ({})", names.join(", ")),
        ));
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;

    let mut report = FetchReport {
        dir: dir.to_path_buf(),
        files: Vec::with_capacity(files.len()),
    };
    for (f, url, digest) in plan {
        let dest = dir.join(&f.file_name);
        let mut fetched = download_verified(&url, &dest, &f.file_name, &digest, opts, progress)?;
        record_sha256(dir, &f.file_name, &fetched.sha256)?;
        if let (true, Some(top)) = (opts.extract, &f.unpack) {
            fetched.unpacked = Some(unpack_tar_gz(&dest, dir, top, !fetched.skipped)?);
        }
        report.files.push(fetched);
    }
    Ok(report)
}

/// A file name that stays inside the destination folder and fits one line
/// of `SHA256SUMS`.
fn check_file_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\n', '\r'])
        && name != SHA256SUMS;
    if ok {
        Ok(())
    } else {
        Err(Error::arg(
            "file name",
            format!("{name:?} is not a plain file name"),
        ))
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

/// SHA-256 always, MD5 only when the expected digest is MD5.
struct Hashers {
    sha256: Sha256,
    md5: Option<Md5>,
}

/// The digests of some bytes, lowercase hex.
struct Digests {
    sha256: String,
    md5: Option<String>,
}

impl Hashers {
    fn new(expected: &Digest) -> Self {
        Hashers {
            sha256: Sha256::new(),
            md5: matches!(expected, Digest::Md5(_)).then(Md5::new),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        if let Some(m) = &mut self.md5 {
            m.update(bytes);
        }
    }

    fn finish(self) -> Digests {
        Digests {
            sha256: hex(&self.sha256.finalize()),
            md5: self.md5.map(|m| hex(&m.finalize())),
        }
    }
}

impl Digests {
    /// `Err(actual)` when the digest differs from `expected` (normalized).
    fn check(&self, expected: &Digest) -> std::result::Result<(), String> {
        let actual = match expected {
            Digest::Sha256(_) => &self.sha256,
            Digest::Md5(_) => self.md5.as_ref().unwrap_or(&self.sha256),
        };
        if actual == expected.hex() {
            Ok(())
        } else {
            Err(actual.clone())
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds the whole file to `hashers`; returns its length.
fn hash_file(path: &Path, hashers: &mut Hashers) -> Result<u64> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                hashers.update(&buf[..n]);
                len += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}

fn download_verified(
    url: &str,
    dest: &Path,
    file_name: &str,
    expected: &Digest,
    opts: &FetchOptions,
    progress: &mut dyn Progress,
) -> Result<FetchedFile> {
    if dest.is_file() {
        let mut h = Hashers::new(expected);
        let bytes = hash_file(dest, &mut h)?;
        let d = h.finish();
        let recorded = read_sha256sums(dest.parent().unwrap_or(Path::new(".")))?;
        let agrees = recorded.get(file_name).is_none_or(|r| *r == d.sha256);
        if d.check(expected).is_ok() && agrees {
            progress.start(file_name, Some(bytes), bytes);
            progress.finish(file_name);
            return Ok(FetchedFile {
                path: dest.to_path_buf(),
                bytes,
                sha256: d.sha256,
                skipped: true,
                unpacked: None,
            });
        }
        // A bad final file is replaced by the rename below once a good copy
        // has arrived; until then it stays, as it may be all the user has.
    }

    let agent = agent_for(url, opts);
    let part = part_path(dest);
    let mut attempt = 0;
    let (bytes, digests) = loop {
        match transfer(&agent, url, &part, file_name, expected, progress) {
            Ok(done) => break done,
            Err(Failure::Retry(_)) if attempt < opts.retries => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(500 * u64::from(attempt.min(10))));
            }
            Err(Failure::Retry(e) | Failure::Fatal(e)) => return Err(e),
        }
    };
    if let Err(actual) = digests.check(expected) {
        let _ = fs::remove_file(&part);
        return Err(Error::Checksum {
            path: dest.to_path_buf(),
            algorithm: expected.algorithm(),
            expected: expected.hex().to_string(),
            actual,
        });
    }
    fs::rename(&part, dest).map_err(|e| Error::io(dest, e))?;
    Ok(FetchedFile {
        path: dest.to_path_buf(),
        bytes,
        sha256: digests.sha256,
        skipped: false,
        unpacked: None,
    })
}

/// Whether a failed attempt is worth repeating.
enum Failure {
    Retry(Error),
    Fatal(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Fatal(e)
    }
}

fn download_error(url: &str, problem: impl Into<String>) -> Error {
    Error::Download {
        url: url.into(),
        problem: problem.into(),
    }
}

/// An agent that reports HTTP errors as statuses (for messages naming the
/// status) and never decompresses (a resumed `.gz` must stay byte-exact).
/// Loopback URLs bypass any proxy from the environment: a local mirror is
/// never behind one.
fn agent_for(url: &str, opts: &FetchOptions) -> ureq::Agent {
    let t = Some(opts.timeout);
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(t)
        .timeout_recv_response(t)
        .timeout_per_read(t)
        .accept_encoding("identity")
        .user_agent(concat!("sc-data/", env!("CARGO_PKG_VERSION")));
    if is_loopback(url) {
        config = config.proxy(None);
    }
    config.build().new_agent()
}

fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    match uri.host() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// `(first byte, total)` of a `Content-Range: bytes FIRST-LAST/TOTAL`.
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let first = range.split_once('-')?.0.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first, total))
}

/// One attempt: continues `part` from its current length (or restarts it
/// when the server cannot resume) and returns its length and digests once
/// the server has sent everything.
fn transfer(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    file_name: &str,
    expected: &Digest,
    progress: &mut dyn Progress,
) -> std::result::Result<(u64, Digests), Failure> {
    let mut restarted = false;
    loop {
        let mut hashers = Hashers::new(expected);
        let mut have = match fs::metadata(part) {
            Ok(m) if m.len() > 0 => hash_file(part, &mut hashers)?,
            _ => 0,
        };
        let mut request = agent.get(url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let mut response = request
            .call()
            .map_err(|e| Failure::Retry(download_error(url, e.to_string())))?;
        let status = response.status().as_u16();
        let length = response.body().content_length();
        let total = match status {
            200 => {
                if have > 0 {
                    hashers = Hashers::new(expected);
                    have = 0;
                    truncate(part)?;
                }
                length
            }
            206 => {
                let range = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range);
                match range {
                    Some((first, total)) if first == have => total.or(length.map(|l| have + l)),
                    _ if !restarted => {
                        restarted = true;
                        remove_part(part)?;
                        continue;
                    }
                    _ => {
                        return Err(Failure::Fatal(download_error(
                            url,
                            "the server sent a partial response that was not asked for",
                        )))
                    }
                }
            }
            // The range starts at the end: the part may hold the whole file.
            416 if have > 0 => {
                let digests = hashers.finish();
                if digests.check(expected).is_ok() {
                    return Ok((have, digests));
                }
                remove_part(part)?;
                if restarted {
                    return Err(Failure::Fatal(download_error(url, "HTTP status 416")));
                }
                restarted = true;
                continue;
            }
            s => {
                let e = download_error(url, format!("HTTP status {s}"));
                return Err(if s >= 500 {
                    Failure::Retry(e)
                } else {
                    Failure::Fatal(e)
                });
            }
        };

        progress.start(file_name, total, have);
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .map_err(|e| Error::io(part, e))?;
        let mut reader = response.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 16];
        let lost = |have: u64, e: &dyn fmt::Display| {
            Failure::Retry(download_error(
                url,
                format!(
                    "connection lost after {have} bytes ({e}); {} is kept, so running again \
                     resumes the download",
                    part.display()
                ),
            ))
        };
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = out.flush();
                    return Err(lost(have, &e));
                }
            };
            out.write_all(&buf[..n]).map_err(|e| Error::io(part, e))?;
            hashers.update(&buf[..n]);
            have += n as u64;
            progress.advance(n as u64);
        }
        out.sync_all().map_err(|e| Error::io(part, e))?;
        progress.finish(file_name);
        if let Some(t) = total.filter(|&t| t != have) {
            return Err(lost(have, &format_args!("expected {t} bytes")));
        }
        return Ok((have, hashers.finish()));
    }
}

fn truncate(part: &Path) -> Result<()> {
    File::create(part).map(drop).map_err(|e| Error::io(part, e))
}

fn remove_part(part: &Path) -> Result<()> {
    match fs::remove_file(part) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(part, e)),
        _ => Ok(()),
    }
}

/// The entries of `DIR/SHA256SUMS`: file name to lowercase SHA-256. An
/// absent file is an empty record.
pub fn read_sha256sums(dir: &Path) -> Result<BTreeMap<String, String>> {
    let path = dir.join(SHA256SUMS);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    Ok(text
        .lines()
        .filter_map(parse_sum_line)
        .map(|(h, n)| (n.to_string(), h.to_ascii_lowercase()))
        .collect())
}

/// `HASH  NAME` (text mode) or `HASH *NAME` (binary mode), as `sha256sum`
/// writes them.
fn parse_sum_line(line: &str) -> Option<(&str, &str)> {
    let (hash, rest) = line.split_once(' ')?;
    let name = rest.strip_prefix([' ', '*'])?;
    let ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty();
    ok.then_some((hash, name))
}

/// Sets the entry of `file_name` in `DIR/SHA256SUMS`, keeping every other
/// line, through a temporary file renamed into place.
fn record_sha256(dir: &Path, file_name: &str, sha256: &str) -> Result<()> {
    let path = dir.join(SHA256SUMS);
    let old = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let entry = format!("{sha256}  {file_name}");
    let mut lines = Vec::new();
    let mut placed = false;
    for line in old.lines() {
        if parse_sum_line(line).is_some_and(|(_, n)| n == file_name) {
            if !placed {
                lines.push(entry.as_str());
                placed = true;
            }
        } else {
            lines.push(line);
        }
    }
    if !placed {
        lines.push(&entry);
    }
    let mut new = lines.join("\n");
    new.push('\n');
    if new == old {
        return Ok(());
    }
    sc_core::write_atomic(&path, new.as_bytes()).map_err(|e| Error::io(&path, e))
}

/// Unpacks the `.tar.gz` `archive`, which must hold exactly the folder `top`,
/// to `dir/top`. The archive goes to a hidden folder inside `dir` first and
/// `top` is renamed into place only when complete. An existing `dir/top` is
/// kept unless `replace` (the archive was just downloaded), since a folder
/// renamed into place earlier is complete.
fn unpack_tar_gz(archive: &Path, dir: &Path, top: &str, replace: bool) -> Result<PathBuf> {
    let target = dir.join(top);
    if target.is_dir() && !replace {
        return Ok(target);
    }
    let pid = std::process::id();
    let staging = dir.join(format!(".{top}.unpack-{pid}"));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
    let result = unpack_into(archive, &staging, top).and_then(|()| {
        let unpacked = staging.join(top);
        if !unpacked.is_dir() {
            return Err(Error::format(
                archive,
                format!("archive holds no folder `{top}/`"),
            ));
        }
        if target.exists() {
            let old = dir.join(format!(".{top}.old-{pid}"));
            fs::rename(&target, &old).map_err(|e| Error::io(&target, e))?;
            fs::rename(&unpacked, &target).map_err(|e| Error::io(&target, e))?;
            fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))
        } else {
            fs::rename(&unpacked, &target).map_err(|e| Error::io(&target, e))
        }
    });
    let cleanup = fs::remove_dir_all(&staging);
    result?;
    cleanup.map_err(|e| Error::io(&staging, e))?;
    Ok(target)
}

/// Unpacks regular files and folders under `top/`, refusing absolute
/// paths, `..`, links and anything outside `top/`, so that a hostile
/// archive cannot write outside `staging`.
fn unpack_into(archive: &Path, staging: &Path, top: &str) -> Result<()> {
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let corrupt = |e: std::io::Error| Error::format(archive, format!("corrupt archive: {e}"));
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let mut rel = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(c) => rel.push(c),
                Component::CurDir => {}
                _ => {
                    return Err(Error::format(
                        archive,
                        format!(
                            "entry {} has an absolute path or `..`: refusing to unpack",
                            raw.display()
                        ),
                    ))
                }
            }
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        if rel.components().next() != Some(Component::Normal(top.as_ref())) {
            return Err(Error::format(
                archive,
                format!(
                    "entry {} is outside the expected folder `{top}/`",
                    raw.display()
                ),
            ));
        }
        let out = staging.join(&rel);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        } else if kind.is_file() || kind.is_contiguous() {
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let mut f = File::create(&out).map_err(|e| Error::io(&out, e))?;
            std::io::copy(&mut entry, &mut f).map_err(|e| {
                Error::format(archive, format!("cannot unpack {}: {e}", raw.display()))
            })?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            return Err(Error::format(
                archive,
                format!("entry {} is a link: refusing to unpack", raw.display()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::BufRead;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    use tempfile::TempDir;

    #[derive(Default)]
    struct State {
        files: HashMap<String, Vec<u8>>,
        /// Path -> number of body bytes after which the next response to it
        /// is cut off.
        cut_next: HashMap<String, usize>,
        requests: Vec<Request>,
    }

    #[derive(Debug, Clone)]
    struct Request {
        path: String,
        range: Option<String>,
    }

    /// A minimal HTTP/1.1 server on 127.0.0.1: one request per connection,
    /// `Range: bytes=N-`, 404 for unknown paths, and cut-off responses to
    /// simulate a lost connection. Every socket operation has a timeout and
    /// the accept loop ends after a minute, so a bug cannot hang the tests.
    struct Server {
        addr: SocketAddr,
        state: Arc<Mutex<State>>,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Server {
        fn start(files: &[(&str, &[u8])]) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let addr = listener.local_addr().unwrap();
            let state = Arc::new(Mutex::new(State {
                files: files
                    .iter()
                    .map(|(p, b)| (format!("/{p}"), b.to_vec()))
                    .collect(),
                ..State::default()
            }));
            let stop = Arc::new(AtomicBool::new(false));
            let thread = {
                let (state, stop) = (state.clone(), stop.clone());
                std::thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                let _ = serve(stream, &state);
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                std::thread::sleep(Duration::from_millis(2));
                            }
                            Err(_) => break,
                        }
                    }
                })
            };
            Server {
                addr,
                state,
                stop,
                thread: Some(thread),
            }
        }

        fn url(&self) -> String {
            format!("http://{}", self.addr)
        }

        fn cut_next(&self, path: &str, after: usize) {
            self.state
                .lock()
                .unwrap()
                .cut_next
                .insert(format!("/{path}"), after);
        }

        fn requests(&self) -> Vec<Request> {
            self.state.lock().unwrap().requests.clone()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = std::io::BufReader::new(stream.try_clone()?);
        let mut first = String::new();
        reader.read_line(&mut first)?;
        let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut range = None;
        for _ in 0..100 {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.trim().eq_ignore_ascii_case("range") {
                    range = Some(v.trim().to_string());
                }
            }
        }
        let (body, cut) = {
            let mut s = state.lock().unwrap();
            s.requests.push(Request {
                path: path.clone(),
                range: range.clone(),
            });
            let cut = s.cut_next.remove(&path);
            (s.files.get(&path).cloned(), cut)
        };
        let mut out = stream;
        let Some(body) = body else {
            let msg = b"not found";
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                msg.len()
            )?;
            return out.write_all(msg);
        };
        let start = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok());
        let len = body.len();
        let (head, slice) = match start {
            Some(n) if n >= len => {
                let head = format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
                (head, &body[..0])
            }
            Some(n) => {
                let head = format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {n}-{}/{len}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    len - 1,
                    len - n
                );
                (head, &body[n..])
            }
            None => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                );
                (head, &body[..])
            }
        };
        out.write_all(head.as_bytes())?;
        let slice = &slice[..cut.unwrap_or(slice.len()).min(slice.len())];
        out.write_all(slice)?;
        out.flush()?;
        out.shutdown(std::net::Shutdown::Both)
    }

    fn payload(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn sha256_hex(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    fn md5_hex(b: &[u8]) -> String {
        hex(&Md5::digest(b))
    }

    fn local(server: &Server, name: &str, digest: Digest) -> RemoteFile {
        RemoteFile {
            url: format!("{}/{name}", server.url()),
            file_name: name.into(),
            digest,
            unpack: None,
        }
    }

    fn quick() -> FetchOptions {
        FetchOptions {
            retries: 0,
            timeout: Duration::from_secs(10),
            ..FetchOptions::default()
        }
    }

    #[derive(Default)]
    struct Recorder {
        starts: Vec<(String, Option<u64>, u64)>,
        advanced: u64,
        finished: Vec<String>,
    }

    impl Progress for Recorder {
        fn start(&mut self, file: &str, total: Option<u64>, already: u64) {
            self.starts.push((file.into(), total, already));
        }
        fn advance(&mut self, bytes: u64) {
            self.advanced += bytes;
        }
        fn finish(&mut self, file: &str) {
            self.finished.push(file.into());
        }
    }

    #[test]
    fn hex_digests_match_known_answers() {
        let mut h = Hashers::new(&Digest::Md5(String::new()));
        h.update(b"abc");
        let d = h.finish();
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.md5.as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
        assert!(d
            .check(&Digest::Md5("900150983cd24fb0d6963f7d28e17f72".into()))
            .is_ok());
    }

    #[test]
    fn sha256_and_md5_digests_verify_and_are_recorded() {
        let a = payload(100_000, 1);
        let b = payload(5_000, 2);
        let server = Server::start(&[("a.bin", &a), ("b.bin", &b)]);
        let tmp = TempDir::new().unwrap();
        let files = [
            local(
                &server,
                "a.bin",
                Digest::Sha256(sha256_hex(&a).to_uppercase()),
            ),
            local(&server, "b.bin", Digest::Md5(md5_hex(&b))),
        ];
        let mut rec = Recorder::default();
        let report = fetch_files(&files, tmp.path(), &quick(), &mut rec).unwrap();
        assert_eq!(report.files.len(), 2);
        for (f, bytes) in report.files.iter().zip([&a, &b]) {
            assert_eq!(fs::read(&f.path).unwrap(), *bytes);
            assert_eq!(f.bytes, bytes.len() as u64);
            assert_eq!(f.sha256, sha256_hex(bytes));
            assert!(!f.skipped);
            assert!(!part_path(&f.path).exists());
        }
        assert_eq!(
            rec.starts,
            [
                ("a.bin".into(), Some(100_000), 0),
                ("b.bin".into(), Some(5_000), 0)
            ]
        );
        assert_eq!(rec.advanced, 105_000);
        assert_eq!(rec.finished, ["a.bin", "b.bin"]);
        let sums = fs::read_to_string(tmp.path().join(SHA256SUMS)).unwrap();
        assert_eq!(
            sums,
            format!("{}  a.bin\n{}  b.bin\n", sha256_hex(&a), sha256_hex(&b))
        );
    }

    #[test]
    fn fetch_file_on_its_own() {
        let a = payload(1234, 3);
        let server = Server::start(&[("x/a.bin", &a)]);
        let tmp = TempDir::new().unwrap();
        let dest = tmp.path().join("copy.bin");
        let url = format!("{}/x/a.bin", server.url());
        let digest: Digest = format!("md5:{}", md5_hex(&a)).parse().unwrap();
        let f = fetch_file(&url, &dest, &digest, &mut NoProgress).unwrap();
        assert_eq!(f.path, dest);
        assert_eq!(fs::read(&dest).unwrap(), a);
        assert_eq!(
            read_sha256sums(tmp.path()).unwrap()["copy.bin"],
            sha256_hex(&a)
        );
    }

    #[test]
    fn checksum_mismatch_leaves_nothing_behind() {
        let a = payload(10_000, 4);
        let server = Server::start(&[("a.bin", &a)]);
        let tmp = TempDir::new().unwrap();
        let wrong = "00".repeat(32);
        let files = [local(&server, "a.bin", Digest::Sha256(wrong.clone()))];
        let err = fetch_files(&files, tmp.path(), &quick(), &mut NoProgress).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Checksum {
                    algorithm: "SHA-256",
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("a.bin") && msg.contains(&wrong) && msg.contains(&sha256_hex(&a)),
            "{msg}"
        );
        let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");

        let files = [local(&server, "a.bin", Digest::Md5("11".repeat(16)))];
        let msg = fetch_files(&files, tmp.path(), &quick(), &mut NoProgress)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("MD5") && msg.contains(&md5_hex(&a)), "{msg}");
        assert!(!tmp.path().join(SHA256SUMS).exists());
    }

    #[test]
    fn interrupted_download_resumes_with_a_range_request() {
        let a = payload(200_000, 5);
        let server = Server::start(&[("a.bin", &a)]);
        let tmp = TempDir::new().unwrap();
        let files = [local(&server, "a.bin", Digest::Md5(md5_hex(&a)))];

        server.cut_next("a.bin", 70_000);
        let err = fetch_files(&files, tmp.path(), &quick(), &mut NoProgress).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("{}/a.bin", server.url())), "{msg}");
        let part = part_path(&tmp.path().join("a.bin"));
        assert_eq!(fs::read(&part).unwrap(), a[..70_000]);
        assert!(!tmp.path().join("a.bin").exists());

        let mut rec = Recorder::default();
        let report = fetch_files(&files, tmp.path(), &quick(), &mut rec).unwrap();
        assert_eq!(fs::read(tmp.path().join("a.bin")).unwrap(), a);
        assert!(!part.exists());
        assert_eq!(report.files[0].sha256, sha256_hex(&a));
        assert_eq!(rec.starts, [("a.bin".into(), Some(200_000), 70_000)]);
        assert_eq!(rec.advanced, 130_000);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        assert!(reqs.iter().all(|r| r.path == "/a.bin"), "{reqs:?}");
        assert_eq!(reqs[0].range, None);
        assert_eq!(reqs[1].range.as_deref(), Some("bytes=70000-"));

        // With retries, one call recovers by itself.
        let tmp = TempDir::new().unwrap();
        server.cut_next("a.bin", 1_000);
        let opts = FetchOptions {
            retries: 1,
            ..quick()
        };
        fetch_files(&files, tmp.path(), &opts, &mut NoProgress).unwrap();
        assert_eq!(fs::read(tmp.path().join("a.bin")).unwrap(), a);
        let reqs = server.requests();
        assert_eq!(reqs[3].range.as_deref(), Some("bytes=1000-"));
    }

    #[test]
    fn complete_part_file_is_finished_after_416() {
        let a = payload(3_000, 6);
        let server = Server::start(&[("a.bin", &a)]);
        let tmp = TempDir::new().unwrap();
        fs::write(part_path(&tmp.path().join("a.bin")), &a).unwrap();
        let files = [local(&server, "a.bin", Digest::Sha256(sha256_hex(&a)))];
        fetch_files(&files, tmp.path(), &quick(), &mut NoProgress).unwrap();
        assert_eq!(fs::read(tmp.path().join("a.bin")).unwrap(), a);
        assert_eq!(server.requests().len(), 1);

        // A stale part longer than the file is discarded and fetched anew.
        let tmp = TempDir::new().unwrap();
        fs::write(part_path(&tmp.path().join("a.bin")), payload(5_000, 7)).unwrap();
        fetch_files(&files, tmp.path(), &quick(), &mut NoProgress).unwrap();
        assert_eq!(fs::read(tmp.path().join("a.bin")).unwrap(), a);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[2].range, None);
    }

    #[test]
    fn verified_files_are_skipped_and_damaged_ones_replaced() {
        let a = payload(20_000, 8);
        let server = Server::start(&[("a.bin", &a)]);
        let tmp = TempDir::new().unwrap();
        let files = [local(&server, "a.bin", Digest::Md5(md5_hex(&a)))];
        fetch_files(&files, tmp.path(), &quick(), &mut NoProgress).unwrap();
        let mut rec = Recorder::default();
        let report = fetch_files(&files, tmp.path(), &quick(), &mut rec).unwrap();
        assert!(report.files[0].skipped);
        assert_eq!(report.files[0].sha256, sha256_hex(&a));
        assert_eq!(rec.starts, [("a.bin".into(), Some(20_000), 20_000)]);
        assert_eq!(server.requests().len(), 1);

        fs::write(tmp.path().join("a.bin"), b"damaged").unwrap();
        let report = fetch_files(&files, tmp.path(), &quick(), &mut NoProgress).unwrap();
        assert!(!report.files[0].skipped);
        assert_eq!(fs::read(tmp.path().join("a.bin")).unwrap(), a);
        assert_eq!(server.requests().len(), 2);

        // A file matching the published digest but not its recorded SHA-256
        // is not trusted either.
        let sums = tmp.path().join(SHA256SUMS);
        fs::write(
            &sums,
            format!("{}  a.bin\n{}  other\n", "ab".repeat(32), "cd".repeat(32)),
        )
        .unwrap();
        let report = fetch_files(&files, tmp.path(), &quick(), &mut NoProgress).unwrap();
        assert!(!report.files[0].skipped);
        assert_eq!(
            fs::read_to_string(&sums).unwrap(),
            format!("{}  a.bin\n{}  other\n", sha256_hex(&a), "cd".repeat(32))
        );
    }

    #[test]
    fn http_errors_name_the_url_and_status() {
        let server = Server::start(&[]);
        let tmp = TempDir::new().unwrap();
        let files = [local(
            &server,
            "missing.bin",
            Digest::Sha256("00".repeat(32)),
        )];
        let msg = fetch_files(&files, tmp.path(), &quick(), &mut NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(&format!("{}/missing.bin", server.url())) && msg.contains("404"),
            "{msg}"
        );
        assert!(!tmp.path().join("missing.bin").exists());

        // Nothing listens on a port that was just freed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/a.bin");
        let files = [RemoteFile {
            url: url.clone(),
            ..files[0].clone()
        }];
        let msg = fetch_files(&files, tmp.path(), &quick(), &mut NoProgress)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&url), "{msg}");
    }

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            let name = path.as_bytes();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn registry_entry_through_a_mirror_unpacks_cifar_layout() {
        let b1 = payload(3073 * 2, 9);
        let b2 = payload(3073, 10);
        let archive = tar_gz(&[
            ("cifar-10-batches-bin/data_batch_1.bin", &b1),
            ("cifar-10-batches-bin/test_batch.bin", &b2),
            ("./cifar-10-batches-bin/readme.html", b"hi"),
        ]);
        let server = Server::start(&[("cifar-10-binary.tar.gz", &archive)]);
        let tmp = TempDir::new().unwrap();
        let opts = FetchOptions {
            mirror: Some(format!("{}/", server.url())),
            sha256: [("cifar-10-binary.tar.gz".to_string(), sha256_hex(&archive))].into(),
            ..quick()
        };
        let report = fetch("cifar10", tmp.path(), &opts, &mut NoProgress).unwrap();
        let folder = tmp.path().join("cifar-10-batches-bin");
        assert_eq!(report.files[0].unpacked.as_deref(), Some(folder.as_path()));
        assert_eq!(fs::read(folder.join("data_batch_1.bin")).unwrap(), b1);
        assert_eq!(fs::read(folder.join("test_batch.bin")).unwrap(), b2);
        let mut names: Vec<String> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [SHA256SUMS, "cifar-10-batches-bin", "cifar-10-binary.tar.gz"]
        );

        let report = fetch("cifar10", tmp.path(), &opts, &mut NoProgress).unwrap();
        assert!(report.files[0].skipped);
        assert_eq!(report.files[0].unpacked.as_deref(), Some(folder.as_path()));
        assert_eq!(server.requests().len(), 1);

        // Without the override the registry's MD5 applies and rejects the
        // test archive, but the published digest is what is checked.
        let tmp = TempDir::new().unwrap();
        let opts = FetchOptions {
            sha256: BTreeMap::new(),
            ..opts
        };
        let msg = fetch("cifar10", tmp.path(), &opts, &mut NoProgress)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("c32a1d4ab5d03f1284b67883e8d87530"), "{msg}");
    }

    #[test]
    fn hostile_archives_are_refused() {
        let tmp = TempDir::new().unwrap();
        for (entry, why) in [
            ("../evil.bin", "`..`"),
            ("/tmp/evil.bin", "absolute"),
            ("top/../../evil.bin", "`..`"),
            ("elsewhere/x.bin", "outside"),
        ] {
            let archive = tar_gz(&[("top/ok.bin", b"ok"), (entry, b"evil")]);
            let path = tmp.path().join("a.tar.gz");
            fs::write(&path, &archive).unwrap();
            let dir = tmp.path().join("out");
            fs::create_dir_all(&dir).unwrap();
            let msg = unpack_tar_gz(&path, &dir, "top", false)
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains(why) && msg.contains("a.tar.gz"),
                "{entry}: {msg}"
            );
            assert_eq!(
                fs::read_dir(&dir).unwrap().count(),
                0,
                "{entry}: staging left behind"
            );
        }
        assert!(!tmp.path().join("evil.bin").exists());

        let path = tmp.path().join("b.tar.gz");
        fs::write(&path, b"not gzip").unwrap();
        let msg = unpack_tar_gz(&path, tmp.path(), "top", false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("b.tar.gz"), "{msg}");
    }

    #[test]
    fn mnist_layout_through_a_mirror() {
        let names = [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ];
        let bodies: Vec<Vec<u8>> = (0..4).map(|i| payload(1000 + i, 20 + i as u32)).collect();
        let served: Vec<(&str, &[u8])> = names
            .iter()
            .copied()
            .zip(bodies.iter().map(|b| &b[..]))
            .collect();
        let server = Server::start(&served);
        let tmp = TempDir::new().unwrap();
        let opts = FetchOptions {
            mirror: Some(server.url()),
            sha256: names
                .iter()
                .zip(&bodies)
                .map(|(n, b)| (n.to_string(), sha256_hex(b)))
                .collect(),
            ..quick()
        };
        let report = fetch("mnist", tmp.path(), &opts, &mut NoProgress).unwrap();
        assert_eq!(report.files.len(), 4);
        for (n, b) in names.iter().zip(&bodies) {
            assert_eq!(fs::read(tmp.path().join(n)).unwrap(), *b);
        }
        assert_eq!(read_sha256sums(tmp.path()).unwrap().len(), 4);
    }

    #[test]
    fn registry_names_digests_and_errors() {
        assert_eq!(
            dataset_names(),
            ["mnist", "fashion-mnist", "cifar10", "cifar100", "svhn"]
        );
        for name in dataset_names() {
            let files = dataset_files(name).unwrap();
            assert!(!files.is_empty());
            for f in files {
                assert!(f.digest.normalized().is_ok(), "{name}: {f:?}");
                assert!(f.url.ends_with(&f.file_name), "{name}: {f:?}");
                check_file_name(&f.file_name).unwrap();
            }
        }
        let svhn = dataset_files("svhn").unwrap();
        assert_eq!(
            svhn[0].url,
            "http://ufldl.stanford.edu/housenumbers/train_32x32.mat"
        );
        let msg = fetch(
            "imagenet",
            Path::new("/nonexistent"),
            &quick(),
            &mut NoProgress,
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("imagenet") && msg.contains("fashion-mnist, cifar10"),
            "{msg}"
        );

        let opts = FetchOptions {
            sha256: [("train_32x32.MAT".to_string(), "00".repeat(32))].into(),
            ..quick()
        };
        let msg = fetch("svhn", Path::new("/nonexistent"), &opts, &mut NoProgress)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("train_32x32.MAT") && msg.contains("train_32x32.mat"),
            "{msg}"
        );
        let opts = FetchOptions {
            sha256: [("train_32x32.mat".to_string(), "abc".into())].into(),
            ..quick()
        };
        assert!(fetch("svhn", Path::new("/nonexistent"), &opts, &mut NoProgress).is_err());
    }

    #[test]
    fn digest_parsing_and_helpers() {
        let h = "AB".repeat(32);
        assert_eq!(
            h.parse::<Digest>().unwrap(),
            Digest::Sha256("ab".repeat(32))
        );
        assert_eq!(
            format!("MD5:{}", "Cd".repeat(16))
                .parse::<Digest>()
                .unwrap(),
            Digest::Md5("cd".repeat(16))
        );
        assert!("sha256:xyz".parse::<Digest>().is_err());
        assert_eq!(content_range("bytes 5-9/10"), Some((5, Some(10))));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(content_range("bytes */10"), None);
        assert!(is_loopback("http://127.0.0.1:8080/x") && is_loopback("http://[::1]/x"));
        assert!(is_loopback("http://localhost/x") && !is_loopback("https://www.cs.toronto.edu/x"));
        assert_eq!(
            parse_sum_line(&format!("{h} *x y")),
            Some((h.as_str(), "x y"))
        );
        assert_eq!(parse_sum_line("abc  x"), None);
        assert!(check_file_name("../x").is_err() && check_file_name(SHA256SUMS).is_err());
    }
}
