//! What `sc-bench attribute` writes for a person: the line of numbers per
//! model, the Markdown table, the CSV and the comparison grid.

use anyhow::{Context, Result};
use sc_interpret::summary::Explained;
use sc_report::ImageGrid;
use std::path::Path;

/// The per-image numbers of every model as one CSV, with a `model` column first.
pub fn csv(results: &[(String, Explained, f64)]) -> String {
    let mut text = String::new();
    for (i, (label, e, _)) in results.iter().enumerate() {
        for (j, line) in e.summary.per_image_csv().lines().enumerate() {
            if i > 0 && j == 0 {
                continue;
            }
            let first = if j == 0 { "model" } else { label.as_str() };
            text.push_str(&format!("{first},{line}\n"));
        }
    }
    text
}

/// One line of numbers for a model.
pub fn describe(label: &str, e: &Explained, seconds: f64) -> String {
    let s = &e.summary;
    let mut line = format!(
        "{} of {label} on {} images: total variation {:.4}{}, deletion AUC {:.4}, insertion AUC {:.4}",
        s.method,
        s.n,
        s.metrics.total_variation,
        match (s.mean_mass_on_object, s.mean_object_area) {
            (Some(m), Some(a)) => format!(", mass on the object {m:.4} (object area {a:.4})"),
            _ => String::new(),
        } + &format!(
            ", mass in the central box {:.4} (box area {:.4})",
            s.mean_mass_in_centre, s.centre_area
        ),
        s.metrics.deletion_auc,
        s.metrics.insertion_auc,
    );
    if let Some(g) = s.mean_abs_completeness_gap {
        line.push_str(&format!(", mean |completeness gap| {g:.2e}"));
    }
    if let Some(r2) = s.mean_lime_r2 {
        line.push_str(&format!(", mean weighted R^2 {r2:.4}"));
    }
    line.push_str(&format!(
        ", {:.2} images/s with the curves",
        s.n as f64 / seconds.max(1e-9)
    ));
    line
}

/// The numbers of every model as a Markdown table (beside the grid).
pub fn table(name: &str, results: &[(String, Explained, f64)]) -> String {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    let mut t = format!(
        "{name}\n\n| model | n | total variation | mass on object | mass in central box | deletion AUC | insertion AUC | max completeness gap | LIME R^2 |\n|---|---|---|---|---|---|---|---|---|\n"
    );
    for (label, e, _) in results {
        let s = &e.summary;
        t.push_str(&format!(
            "| {label} | {} | {:.4} | {} | {:.4} | {:.4} | {:.4} | {} | {} |\n",
            s.n,
            s.metrics.total_variation,
            opt(s.metrics.mask_mass),
            s.mean_mass_in_centre,
            s.metrics.deletion_auc,
            s.metrics.insertion_auc,
            s.completeness_gap_max
                .map_or("-".to_string(), |g| format!("{g:.2e}")),
            opt(s.mean_lime_r2),
        ));
    }
    t
}

/// The grid "image | model A | model B | ..." for the first 8 images (the
/// paper's Figs. 11-13): each map's absolute value, scaled to its own
/// largest, in viridis over the image.
pub fn draw(
    set: &sc_data::ImageSet,
    results: &[(String, Explained, f64)],
    name: &str,
    path: &Path,
) -> Result<()> {
    let [c, h, w] = set.image_shape();
    let mut grid = ImageGrid::new(1 + results.len(), 3);
    for i in 0..results[0].1.summary.n.min(8) {
        let img = set.image(i).context("internal: image index")?;
        grid.push_u8(img, [c, h, w], &format!("{i} {name}"))?;
        for (label, e, _) in results {
            let m: Vec<f32> = e.maps.get(i)?.abs()?.flatten_all()?.to_vec1()?;
            let top = m.iter().fold(0f32, |a, &b| a.max(b));
            let scaled: Vec<f32> = m
                .iter()
                .map(|v| if top > 0.0 { v / top } else { 0.0 })
                .collect();
            grid.push_heat(img, [c, h, w], &scaled, 0.6, label)?;
        }
    }
    grid.save_png(path)
        .with_context(|| format!("writing {}", path.display()))
}
