//! The paper's evidence that standard models are semantically discontinuous
//! (Sec. 2.2).
//!
//! - Fig. 1: for each photometric kind and level of Table 1, over a set of
//!   test images, `fraction` = the share of images `A` for which some other
//!   image `B` of the same true class is closer to `A` than `A`'s own
//!   perturbed version, `DS(A, B) < DS(A, P(A))`, and `mean_rank` = the mean
//!   over `A` of the number of such `B`. `DS` is the squared distance of the
//!   logits summed over classes, as everywhere. Both are exact functions of
//!   the logits: the set's logits are computed once and once per perturbed
//!   version, and the pairs are compared class by class on contiguous
//!   blocks of logits (no per-pair tensor work, no sampling).
//! - Fig. 2: the logits of every image of one class, with one anchor image
//!   `A` and its four perturbed versions at one level, projected to 2-D by
//!   PCA, t-SNE and UMAP ([`crate::embedding`]), each with its
//!   trustworthiness (k = 5) and, for PCA, the explained variance ratio of
//!   every component.

use crate::continuity::{applicable_perturbations, check_fit, NotApplicable};
use crate::embedding::{pca, trustworthiness, tsne, umap, TsneOptions, UmapOptions};
use crate::{Error, Result};
use candle_core::{DType, Device};
use sc_core::{Classifier, Level, Seed};
use sc_data::{ImageSet, Order};
use sc_perturb::{Perturbation, PerturbationKind};

/// The logits of every image of `set` (row-major `n x classes`, f64),
/// perturbed by `p` when given (batch `b` draws from `seed.index(b)`).
fn logits_of(
    model: &dyn Classifier,
    set: &ImageSet,
    p: Option<&dyn Perturbation>,
    seed: Seed,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(set.len() * model.num_classes());
    for (b, batch) in set
        .batches(batch_size, Order::Sequential, false, device)?
        .enumerate()
    {
        let images = match p {
            Some(p) => p.apply(&batch?.images, &mut seed.index(b as u64).stream("perturb"))?,
            None => batch?.images,
        };
        let logits = model.logits(&images)?.to_dtype(DType::F64)?;
        out.extend(logits.flatten_all()?.to_vec1::<f64>()?);
    }
    Ok(out)
}

/// For each image `A` (a row of `clean`, `n x classes`), the number of
/// other images `B` with the same label for which
/// `DS(A, B) < DS(A, P(A))`, `P(A)` being the same row of `perturbed`.
/// Each class's rows are gathered into one contiguous block and compared
/// within it.
pub fn closer_same_class_counts(
    clean: &[f64],
    perturbed: &[f64],
    labels: &[u32],
    classes: usize,
) -> Result<Vec<usize>> {
    let n = labels.len();
    if classes == 0 || clean.len() != n * classes || perturbed.len() != n * classes {
        return Err(Error::InvalidArgument {
            name: "logits",
            problem: format!(
                "{} clean and {} perturbed values for {n} images of {classes} classes",
                clean.len(),
                perturbed.len()
            ),
        });
    }
    let ds =
        |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum() };
    let mut counts = vec![0; n];
    let mut by_class: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, &l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    for members in by_class.values() {
        let block: Vec<f64> = members
            .iter()
            .flat_map(|&i| clean[i * classes..(i + 1) * classes].iter().copied())
            .collect();
        for (a, &i) in members.iter().enumerate() {
            let row = &block[a * classes..(a + 1) * classes];
            let own = ds(row, &perturbed[i * classes..(i + 1) * classes]);
            counts[i] = block
                .chunks(classes)
                .enumerate()
                .filter(|&(b, other)| b != a && ds(row, other) < own)
                .count();
        }
    }
    Ok(counts)
}

/// Settings of [`fig1`].
#[derive(Debug, Clone, PartialEq)]
pub struct Fig1Options {
    /// The photometric kinds, in report order (Table 1's four by default).
    pub kinds: Vec<PerturbationKind>,
    /// The levels of each kind (1-4 by default).
    pub levels: Vec<Level>,
    /// Images per forward pass (memory, not results, depends on it).
    pub batch_size: usize,
    /// Fixes randomised perturbations (Table 1's are deterministic).
    pub seed: Seed,
}

impl Default for Fig1Options {
    fn default() -> Self {
        Fig1Options {
            kinds: PerturbationKind::PHOTOMETRIC.to_vec(),
            levels: Level::ALL.to_vec(),
            batch_size: 256,
            seed: Seed(0),
        }
    }
}

/// The Fig. 1 statistic for one perturbation at one level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fig1Entry {
    /// The kind's name ([`PerturbationKind::name`]).
    pub perturbation: String,
    /// The level, 1-4.
    pub level: u8,
    /// Share of images with a same-class image closer than their perturbed version.
    pub fraction: f64,
    /// Mean number of such same-class images per image.
    pub mean_rank: f64,
}

/// The result of [`fig1`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fig1Report {
    /// Images measured.
    pub images: usize,
    /// One entry per applicable (kind, level), in the order of the options.
    pub entries: Vec<Fig1Entry>,
    /// The requested pairs that cannot act on these images, with the reason.
    pub not_applicable: Vec<NotApplicable>,
}

/// `fraction` and `mean_rank` of the per-image counts of
/// [`closer_same_class_counts`].
pub fn fraction_and_mean_rank(counts: &[usize]) -> (f64, f64) {
    let n = counts.len().max(1) as f64;
    (
        counts.iter().filter(|&&c| c > 0).count() as f64 / n,
        counts.iter().sum::<usize>() as f64 / n,
    )
}

/// The Fig. 1 statistic of `model` over every image of `set`, for every
/// kind and level of `opts`.
pub fn fig1(
    model: &dyn Classifier,
    set: &ImageSet,
    opts: &Fig1Options,
    device: &Device,
) -> Result<Fig1Report> {
    check_input(model, set, opts.batch_size)?;
    let clean = logits_of(model, set, None, opts.seed, opts.batch_size, device)?;
    fig1_from(model, set, &clean, opts, device)
}

/// Both figures with one forward pass over the clean images: Fig. 1 over
/// every image of `set`, Fig. 2 for `class` around the image at position
/// `anchor` (see [`fig1`] and [`fig2`]).
pub fn discontinuity(
    model: &dyn Classifier,
    set: &ImageSet,
    (class, anchor): (u32, usize),
    fig1_opts: &Fig1Options,
    fig2_opts: &Fig2Options,
    device: &Device,
) -> Result<(Fig1Report, Fig2Report)> {
    check_input(model, set, fig1_opts.batch_size)?;
    let clean = logits_of(
        model,
        set,
        None,
        fig1_opts.seed,
        fig1_opts.batch_size,
        device,
    )?;
    Ok((
        fig1_from(model, set, &clean, fig1_opts, device)?,
        fig2_from(model, set, &clean, class, anchor, fig2_opts, device)?,
    ))
}

/// A non-empty set, a batch size of at least 1, and a model made for the set.
fn check_input(model: &dyn Classifier, set: &ImageSet, batch_size: usize) -> Result<()> {
    if set.is_empty() || batch_size == 0 {
        return Err(Error::InvalidArgument {
            name: "discontinuity input",
            problem: format!(
                "{} images, batch size {batch_size}: both must be at least 1",
                set.len()
            ),
        });
    }
    check_fit(model, set)
}

/// [`fig1`] given the clean logits of `set` (`n x classes`).
fn fig1_from(
    model: &dyn Classifier,
    set: &ImageSet,
    clean: &[f64],
    opts: &Fig1Options,
    device: &Device,
) -> Result<Fig1Report> {
    let (perturbations, not_applicable) =
        applicable_perturbations(&opts.kinds, &opts.levels, set.image_shape())?;
    let mut entries = Vec::with_capacity(perturbations.len());
    for (kind, level, p) in &perturbations {
        let seed = opts.seed.derive(kind.name()).index(u64::from(level.get()));
        let perturbed = logits_of(model, set, Some(p.as_ref()), seed, opts.batch_size, device)?;
        let counts =
            closer_same_class_counts(clean, &perturbed, set.labels(), model.num_classes())?;
        let (fraction, mean_rank) = fraction_and_mean_rank(&counts);
        entries.push(Fig1Entry {
            perturbation: kind.name().to_string(),
            level: level.get(),
            fraction,
            mean_rank,
        });
    }
    Ok(Fig1Report {
        images: set.len(),
        entries,
        not_applicable,
    })
}

/// Settings of [`fig2`].
#[derive(Debug, Clone, PartialEq)]
pub struct Fig2Options {
    /// The level of the anchor's four perturbed versions.
    pub level: Level,
    /// Neighbourhood size of the trustworthiness (Venna & Kaski's k = 5).
    pub trustworthiness_k: usize,
    /// t-SNE settings; the perplexity is lowered to `(n - 1) / 3` for
    /// fewer than 91 points (scikit-learn's rule of thumb that a point
    /// needs 3 x perplexity neighbours), and the report says which was used.
    pub tsne: TsneOptions,
    /// UMAP settings; `n_neighbors` is lowered to `n` for fewer points.
    pub umap: UmapOptions,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Fixes randomised perturbations (Table 1's are deterministic); the
    /// t-SNE and UMAP layouts have their own seeds in their options.
    pub seed: Seed,
}

impl Default for Fig2Options {
    fn default() -> Self {
        Fig2Options {
            level: Level::ALL[0],
            trustworthiness_k: 5,
            tsne: TsneOptions::default(),
            umap: UmapOptions::default(),
            batch_size: 256,
            seed: Seed(0),
        }
    }
}

/// One point of the Fig. 2 embedding.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EmbeddedPoint {
    /// Position of the image in the given set (the anchor's for its perturbed versions).
    pub position: usize,
    /// Its true class.
    pub label: u32,
    /// `member`, `anchor`, or `perturbed-<kind>`.
    pub role: String,
    /// PCA coordinates.
    pub pca: [f64; 2],
    /// t-SNE coordinates.
    pub tsne: [f64; 2],
    /// UMAP coordinates.
    pub umap: [f64; 2],
}

/// The PCA summary of Fig. 2.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PcaSummary {
    /// Share of the variance of every component, largest first.
    pub explained_variance_ratio: Vec<f64>,
    /// Trustworthiness of the 2-D projection.
    pub trustworthiness: f64,
}

/// The t-SNE summary of Fig. 2.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TsneSummary {
    /// Trustworthiness of the embedding.
    pub trustworthiness: f64,
    /// The perplexity used.
    pub perplexity: f64,
}

/// The UMAP summary of Fig. 2.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UmapSummary {
    /// Trustworthiness of the embedding.
    pub trustworthiness: f64,
    /// The neighbourhood size used.
    pub n_neighbors: usize,
}

/// The three embeddings' summaries.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EmbeddingSummaries {
    /// PCA.
    pub pca: PcaSummary,
    /// t-SNE.
    pub tsne: TsneSummary,
    /// UMAP.
    pub umap: UmapSummary,
}

/// The result of [`fig2`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fig2Report {
    /// The class embedded.
    pub class: u32,
    /// The anchor's position in the given set.
    pub anchor: usize,
    /// The level of the perturbed versions.
    pub level: u8,
    /// Every point: the class's members in set order (the anchor among
    /// them as `anchor`), then the anchor's perturbed versions.
    pub points: Vec<EmbeddedPoint>,
    /// How far each picture can be trusted.
    pub embeddings: EmbeddingSummaries,
    /// Kinds that cannot act on these images at this level (hue on gray).
    pub not_applicable: Vec<NotApplicable>,
}

/// The Fig. 2 embedding of `model`'s logits: every image of `set` whose
/// label is `class`, with the image at position `anchor` (which must be of
/// that class) and its four photometric versions at `opts.level`.
pub fn fig2(
    model: &dyn Classifier,
    set: &ImageSet,
    class: u32,
    anchor: usize,
    opts: &Fig2Options,
    device: &Device,
) -> Result<Fig2Report> {
    check_input(model, set, opts.batch_size)?;
    let clean = logits_of(model, set, None, opts.seed, opts.batch_size, device)?;
    fig2_from(model, set, &clean, class, anchor, opts, device)
}

/// [`fig2`] given the clean logits of `set` (`n x classes`).
fn fig2_from(
    model: &dyn Classifier,
    set: &ImageSet,
    clean: &[f64],
    class: u32,
    anchor: usize,
    opts: &Fig2Options,
    device: &Device,
) -> Result<Fig2Report> {
    let seed = opts.seed;
    let bad = |name, problem| Err(Error::InvalidArgument { name, problem });
    match set.labels().get(anchor) {
        None => {
            return bad(
                "anchor",
                format!("position {anchor} with {} images", set.len()),
            )
        }
        Some(&l) if l != class => {
            return bad(
                "anchor",
                format!("image {anchor} is of class {l}, not of class {class}"),
            )
        }
        Some(_) => {}
    }
    let members: Vec<usize> = (0..set.len())
        .filter(|&i| set.labels()[i] == class)
        .collect();
    let classes = model.num_classes();
    let mut x: Vec<f64> = members
        .iter()
        .flat_map(|&i| clean[i * classes..(i + 1) * classes].iter().copied())
        .collect();
    let mut rows: Vec<(usize, String)> = members
        .iter()
        .map(|&i| (i, if i == anchor { "anchor" } else { "member" }.to_string()))
        .collect();
    let (perturbations, not_applicable) = applicable_perturbations(
        &PerturbationKind::PHOTOMETRIC,
        &[opts.level],
        set.image_shape(),
    )?;
    let single = set.select(&[anchor])?;
    for (kind, _, p) in &perturbations {
        let s = seed.derive(kind.name());
        x.extend(logits_of(model, &single, Some(p.as_ref()), s, 1, device)?);
        rows.push((anchor, format!("perturbed-{}", kind.name())));
    }
    let n = rows.len();
    let k = opts.trustworthiness_k;
    if 2 * k >= n {
        return bad(
            "class",
            format!(
                "{} (class {class}) has {} selected images ({n} points with the perturbed \
                 versions); trustworthiness with k = {k} needs more than {} points",
                set.classes()
                    .get(class as usize)
                    .map_or("?", String::as_str),
                members.len(),
                2 * k
            ),
        );
    }
    let p = pca(&x, classes)?;
    let tsne_opts = TsneOptions {
        perplexity: opts.tsne.perplexity.min((n - 1) as f64 / 3.0),
        ..opts.tsne.clone()
    };
    let t = tsne(&x, classes, &tsne_opts)?;
    let umap_opts = UmapOptions {
        n_neighbors: opts.umap.n_neighbors.min(n),
        ..opts.umap.clone()
    };
    let u = umap(&x, classes, &umap_opts)?;
    let embeddings = EmbeddingSummaries {
        pca: PcaSummary {
            explained_variance_ratio: p.explained_variance_ratio.clone(),
            trustworthiness: trustworthiness(&x, classes, &p.coords, k)?,
        },
        tsne: TsneSummary {
            trustworthiness: trustworthiness(&x, classes, &t, k)?,
            perplexity: tsne_opts.perplexity,
        },
        umap: UmapSummary {
            trustworthiness: trustworthiness(&x, classes, &u, k)?,
            n_neighbors: umap_opts.n_neighbors,
        },
    };
    let points = rows
        .into_iter()
        .enumerate()
        .map(|(r, (position, role))| EmbeddedPoint {
            position,
            label: class,
            role,
            pca: p.coords[r],
            tsne: t[r],
            umap: u[r],
        })
        .collect();
    Ok(Fig2Report {
        class,
        anchor,
        level: opts.level.get(),
        points,
        embeddings,
        not_applicable,
    })
}

#[cfg(test)]
mod tests;
