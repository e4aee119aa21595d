//! The files of `probe discontinuity --out DIR`: `fig1.csv`,
//! `embedding.csv`, one scatter PNG per embedding method and
//! `discontinuity.json`, each written atomically.

use anyhow::{Context, Result};
use sc_probes::discontinuity::{EmbeddedPoint, Fig1Report, Fig2Report};
use sc_report::plot::{Marker, ScatterChart, ScatterGroup};
use std::path::{Path, PathBuf};

/// One method's coordinates of a point.
type Coords = fn(&EmbeddedPoint) -> [f64; 2];

/// `perturbation,level,fraction,mean_rank`, one row per Fig. 1 entry.
fn fig1_csv(f1: &Fig1Report) -> String {
    let mut s = String::from("perturbation,level,fraction,mean_rank\n");
    for e in &f1.entries {
        s.push_str(&format!(
            "{},{},{},{}\n",
            e.perturbation, e.level, e.fraction, e.mean_rank
        ));
    }
    s
}

/// `index,label,role,pca_x,pca_y,tsne_x,tsne_y,umap_x,umap_y` (issue 11),
/// `index` being the position in the evaluated split.
fn embedding_csv(f2: &Fig2Report, positions: &[usize]) -> String {
    let mut s = String::from("index,label,role,pca_x,pca_y,tsne_x,tsne_y,umap_x,umap_y\n");
    for p in &f2.points {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            positions[p.position],
            p.label,
            p.role,
            p.pca[0],
            p.pca[1],
            p.tsne[0],
            p.tsne[1],
            p.umap[0],
            p.umap[1]
        ));
    }
    s
}

/// The scatter of one method: the class's members as dots, the anchor as a
/// large circle, each perturbed version with its own marker and colour
/// (drawn last, on top).
fn scatter(f2: &Fig2Report, class_name: &str, method: &str, coords: Coords) -> ScatterChart {
    let group = |role: &str, label: String, marker: Marker, size: u32| ScatterGroup {
        label,
        points: f2
            .points
            .iter()
            .filter(|p| p.role == role)
            .map(|p| {
                let [x, y] = coords(p);
                (x, y)
            })
            .collect(),
        marker,
        size,
    };
    let mut groups = vec![
        group("member", format!("{class_name} images"), Marker::Dot, 3),
        group("anchor", "anchor A".into(), Marker::Circle, 8),
    ];
    let markers = [
        Marker::Cross,
        Marker::Triangle,
        Marker::Square,
        Marker::Cross,
    ];
    let perturbed = f2
        .points
        .iter()
        .filter_map(|p| p.role.strip_prefix("perturbed-"))
        .collect::<Vec<_>>();
    for (kind, marker) in perturbed.into_iter().zip(markers) {
        groups.push(group(
            &format!("perturbed-{kind}"),
            format!("{kind}(A), level {}", f2.level),
            marker,
            7,
        ));
    }
    ScatterChart {
        title: format!("{method} of the logits of class {class_name}"),
        x_label: format!("{method} 1"),
        y_label: format!("{method} 2"),
        groups,
    }
}

/// Writes every file into `dir` (created if needed); returns their paths.
pub fn write_all(
    dir: &Path,
    f1: &Fig1Report,
    f2: &Fig2Report,
    positions: &[usize],
    class_name: &str,
    report: &serde_json::Value,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating --out {}", dir.display()))?;
    let mut written = Vec::new();
    let mut text = |name: &str, body: String| -> Result<()> {
        let path = dir.join(name);
        sc_core::write_atomic(&path, body.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    text("fig1.csv", fig1_csv(f1))?;
    text("embedding.csv", embedding_csv(f2, positions))?;
    text(
        "discontinuity.json",
        serde_json::to_string_pretty(report)? + "\n",
    )?;
    let methods: [(&str, &str, Coords); 3] = [
        ("pca", "PCA", |p| p.pca),
        ("tsne", "t-SNE", |p| p.tsne),
        ("umap", "UMAP", |p| p.umap),
    ];
    for (file, method, coords) in methods {
        let path = dir.join(format!("embedding-{file}.png"));
        scatter(f2, class_name, method, coords)
            .save_png(&path, (800, 640))
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
