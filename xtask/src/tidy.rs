//! `cargo xtask tidy`: the rules of ARCHITECTURE.md that a machine can
//! check, so that the document stays true (rust-analyzer's "tidy" tests).
//!
//! - formatting (`cargo fmt --check`);
//! - every library crate has a crate doc with an example, opts into the
//!   workspace lints (`missing_docs`), and has no `todo!`/`unimplemented!`;
//! - the dependency direction: each library crate depends only on the
//!   workspace crates [`ALLOWED_DEPS`] lists (the table of ARCHITECTURE.md's
//!   "Dependency direction"), and xtask on none;
//! - libraries print nothing and read no environment variables (outside
//!   their test code);
//! - every `[patch.crates-io]` crate is the version the workspace asks for
//!   and the lock file uses it (a version bump would otherwise drop the
//!   patch silently, with only a warning from cargo).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Each library crate and the workspace crates it may depend on
/// (ARCHITECTURE.md, "Dependency direction").
pub const ALLOWED_DEPS: &[(&str, &[&str])] = &[
    ("sc-core", &[]),
    ("sc-loss", &[]),
    ("sc-data", &["sc-core"]),
    ("sc-perturb", &["sc-core"]),
    ("sc-models", &["sc-core"]),
    ("sc-report", &["sc-core"]),
    ("sc-attack", &["sc-core", "sc-loss"]),
    (
        "sc-train",
        &[
            "sc-core",
            "sc-data",
            "sc-perturb",
            "sc-models",
            "sc-loss",
            "sc-attack",
        ],
    ),
    (
        "sc-probes",
        &["sc-core", "sc-data", "sc-perturb", "sc-loss", "sc-attack"],
    ),
    ("sc-interpret", &["sc-core", "sc-data", "sc-perturb"]),
    ("sc-fairness", &["sc-core", "sc-data"]),
];

/// Macros and calls a library may not use outside its tests.
const FORBIDDEN_IN_LIBRARIES: &[(&str, &str)] = &[
    ("println!", "libraries print nothing"),
    ("eprintln!", "libraries print nothing"),
    ("print!(", "libraries print nothing"),
    ("eprint!(", "libraries print nothing"),
    ("dbg!(", "libraries print nothing"),
    ("env::var", "libraries read no environment variables"),
    ("env::args", "libraries read no command line"),
];

/// Runs every check; the error lists every problem found.
pub fn tidy(root: &Path) -> Result<()> {
    let fmt = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fmt", "--all", "--", "--check"])
        .current_dir(root)
        .status();
    match fmt {
        Ok(s) if s.success() => {}
        Ok(_) => bail!("cargo fmt --check: code is not formatted (run `cargo fmt --all`)"),
        Err(e) => eprintln!("tidy: rustfmt unavailable ({e}); formatting not checked"),
    }
    let mut problems = Vec::new();
    let crates = root.join("crates");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .with_context(|| crates.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        check_crate(&dir, &mut problems)?;
    }
    let manifest = read(&root.join("Cargo.toml"))?;
    let lock = read(&root.join("Cargo.lock"))?;
    for (name, path) in patches(&manifest) {
        let patched = read(&root.join(&path).join("Cargo.toml"))?;
        problems.extend(check_patch(&name, &path, &manifest, &patched, &lock));
    }
    let xtask = read(&root.join("xtask/Cargo.toml"))?;
    for dep in workspace_deps(&xtask) {
        problems.push(format!(
            "xtask/Cargo.toml: depends on {dep}; xtask uses no workspace crate (it runs sc-bench)"
        ));
    }
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    eprintln!("tidy: ok");
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| path.display().to_string())
}

fn check_crate(dir: &Path, problems: &mut Vec<String>) -> Result<()> {
    let manifest_path = dir.join("Cargo.toml");
    let manifest = read(&manifest_path)?;
    let name = package_name(&manifest)
        .with_context(|| format!("{}: no package name", manifest_path.display()))?;
    match ALLOWED_DEPS.iter().find(|(n, _)| *n == name) {
        None => problems.push(format!(
            "{}: crate {name} is not in tidy's dependency table (xtask/src/tidy.rs) nor, \
             presumably, in ARCHITECTURE.md",
            manifest_path.display()
        )),
        Some((_, allowed)) => {
            for dep in workspace_deps(&manifest) {
                if !allowed.contains(&dep.as_str()) {
                    problems.push(format!(
                        "{}: {name} depends on {dep}, against ARCHITECTURE.md's dependency \
                         direction (allowed: {})",
                        manifest_path.display(),
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ));
                }
            }
        }
    }
    if !has_workspace_lints(&manifest) {
        problems.push(format!(
            "{}: no `[lints] workspace = true` (missing_docs)",
            manifest_path.display()
        ));
    }
    let lib = dir.join("src/lib.rs");
    let text = read(&lib)?;
    let doc: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
        .collect();
    if doc.is_empty() {
        problems.push(format!("{}: no crate doc (//!)", lib.display()));
    } else if !doc
        .iter()
        .any(|l| l.trim_start_matches("//!").trim() == "```")
    {
        problems.push(format!("{}: crate doc has no example", lib.display()));
    }
    for file in rust_files(&dir.join("src"))? {
        let text = read(&file)?;
        let is_test_file = file
            .components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "tests.rs")
            || file.file_name().is_some_and(|n| n == "props.rs");
        let mut in_tests = is_test_file;
        for (n, line) in text.lines().enumerate() {
            // Spelled in two pieces so this check does not flag itself.
            let stub = [concat!("todo", "!("), concat!("unimplemented", "!(")];
            if stub.iter().any(|s| line.contains(s)) {
                problems.push(format!("{}:{}: stub", file.display(), n + 1));
            }
            if line.trim_start().starts_with("#[cfg(test)]") {
                in_tests = true;
            }
            let code = line.split("//").next().unwrap_or("");
            if !in_tests {
                for (pattern, rule) in FORBIDDEN_IN_LIBRARIES {
                    if code.contains(pattern) {
                        problems.push(format!(
                            "{}:{}: `{pattern}`: {rule} (ARCHITECTURE.md invariants)",
                            file.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `name = "..."` of the `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    section(manifest, "[package]")
        .find_map(|l| l.strip_prefix("name"))
        .and_then(|rest| rest.split('"').nth(1))
        .map(str::to_string)
}

/// The workspace crates (`sc-*`) of the `[dependencies]` table.
fn workspace_deps(manifest: &str) -> Vec<String> {
    section(manifest, "[dependencies]")
        .filter_map(|l| {
            let key = l.split(['=', '.', ' ']).next()?.trim();
            key.starts_with("sc-").then(|| key.to_string())
        })
        .collect()
}

/// `(name, path)` of each `[patch.crates-io]` entry with a path.
fn patches(manifest: &str) -> Vec<(String, String)> {
    section(manifest, "[patch.crates-io]")
        .filter_map(|l| {
            let (name, rest) = l.split_once('=')?;
            let path = rest.split("path").nth(1)?.split('"').nth(1)?;
            Some((name.trim().to_string(), path.to_string()))
        })
        .collect()
}

/// The problems of one patched crate: its version is not the one of
/// `[workspace.dependencies]`, or `Cargo.lock` takes the crate from a
/// registry (`source = ...`) instead of the patch.
fn check_patch(name: &str, path: &str, manifest: &str, patched: &str, lock: &str) -> Vec<String> {
    let quoted = |l: &str| {
        l.split('"')
            .nth(1)
            .map(|v| v.trim_start_matches(['=', '^']).to_string())
    };
    let wanted = section(manifest, "[workspace.dependencies]").find_map(|l| {
        let (key, rest) = l.split_once('=')?;
        (key.trim() == name).then(|| quoted(rest)).flatten()
    });
    let have = section(patched, "[package]").find_map(|l| {
        let (key, rest) = l.split_once('=')?;
        (key.trim() == "version").then(|| quoted(rest)).flatten()
    });
    let mut problems = Vec::new();
    if wanted.is_none() || wanted != have {
        problems.push(format!(
            "{path}/Cargo.toml: patched {name} is version {}, the workspace asks for {} \
             (update the patch or drop it)",
            have.as_deref().unwrap_or("?"),
            wanted.as_deref().unwrap_or("nothing")
        ));
    }
    let from_registry = lock.split("[[package]]").any(|p| {
        p.lines().any(|l| l.trim() == format!("name = \"{name}\""))
            && p.lines().any(|l| l.trim_start().starts_with("source ="))
    });
    if from_registry {
        problems.push(format!(
            "Cargo.lock: {name} comes from a registry, not the patch in {path} (run cargo update -p {name})"
        ));
    }
    problems
}

fn has_workspace_lints(manifest: &str) -> bool {
    section(manifest, "[lints]").any(|l| l.replace(' ', "") == "workspace=true")
}

/// The lines of one top-level table, comments and blanks dropped.
fn section<'a>(manifest: &'a str, header: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    manifest
        .lines()
        .map(str::trim)
        .skip_while(move |l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_must_match_the_workspace_version_and_be_locked() {
        let manifest = "[workspace.dependencies]\ncandle-core = \"0.11.1\"\n\n\
                        [patch.crates-io]\ncandle-core = { path = \"third_party/candle-core\" }\n";
        assert_eq!(
            patches(manifest),
            [(
                "candle-core".to_string(),
                "third_party/candle-core".to_string()
            )]
        );
        let patched = |v: &str| format!("[package]\nname = \"candle-core\"\nversion = \"{v}\"\n");
        let local =
            "[[package]]\nname = \"candle-core\"\nversion = \"0.11.1\"\ndependencies = []\n";
        let remote = "[[package]]\nname = \"candle-core\"\nversion = \"0.11.1\"\n\
                      source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let path = "third_party/candle-core";
        assert!(check_patch("candle-core", path, manifest, &patched("0.11.1"), local).is_empty());
        let p = check_patch("candle-core", path, manifest, &patched("0.12.0"), local);
        assert!(
            p.len() == 1 && p[0].contains("0.12.0") && p[0].contains("0.11.1"),
            "{p:?}"
        );
        let p = check_patch("candle-core", path, manifest, &patched("0.11.1"), remote);
        assert!(p.len() == 1 && p[0].contains("registry"), "{p:?}");
    }

    const MANIFEST: &str = r#"
[package]
name = "sc-probes"
version.workspace = true

[lints]
workspace = true

[dependencies]
sc-core.workspace = true
sc-models = { path = "../models" }
# sc-train is only mentioned in a comment
candle-core.workspace = true

[dev-dependencies]
sc-train.workspace = true
"#;

    #[test]
    fn reads_the_name_the_workspace_deps_and_the_lints() {
        assert_eq!(package_name(MANIFEST).as_deref(), Some("sc-probes"));
        assert_eq!(workspace_deps(MANIFEST), ["sc-core", "sc-models"]);
        assert!(has_workspace_lints(MANIFEST));
        assert!(!has_workspace_lints("[package]\nname = \"x\"\n"));
    }

    #[test]
    fn flags_a_forbidden_dependency_and_printing_but_not_in_tests() {
        let dir = std::env::temp_dir().join(format!("xtask-tidy-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(dir.join("Cargo.toml"), MANIFEST).unwrap();
        std::fs::write(
            src.join("lib.rs"),
            "//! Doc.\n//! ```\n//! ```\npub fn f() { println!(\"x\"); }\n\
             #[cfg(test)]\nmod tests { fn g() { println!(\"ok in tests\"); } }\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        check_crate(&dir, &mut problems).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].contains("depends on sc-models"));
        assert!(problems[1].contains("lib.rs:4") && problems[1].contains("print nothing"));
    }
}
