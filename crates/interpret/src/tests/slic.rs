//! SLIC on images whose right answer is known.
use crate::slic::*;

/// Each label is one 4-connected region, labels are `0..count`, all used.
fn assert_valid(seg: &Segments, h: usize, w: usize) {
    assert_eq!(seg.labels.len(), h * w);
    let mut seen = vec![false; seg.count];
    for &l in &seg.labels {
        assert!(l < seg.count);
        seen[l] = true;
    }
    assert!(seen.iter().all(|&s| s), "unused label");
    // Flood fill from each label's first pixel reaches all of its pixels.
    for l in 0..seg.count {
        let start = seg.labels.iter().position(|&v| v == l).unwrap();
        let mut reached = vec![false; h * w];
        let mut stack = vec![start];
        reached[start] = true;
        while let Some(p) = stack.pop() {
            let (y, x) = (p / w, p % w);
            let nb = [
                (x > 0).then(|| p - 1),
                (x + 1 < w).then(|| p + 1),
                (y > 0).then(|| p - w),
                (y + 1 < h).then(|| p + w),
            ];
            for q in nb.into_iter().flatten() {
                if !reached[q] && seg.labels[q] == l {
                    reached[q] = true;
                    stack.push(q);
                }
            }
        }
        let size = seg.labels.iter().filter(|&&v| v == l).count();
        assert_eq!(
            reached.iter().filter(|&&r| r).count(),
            size,
            "label {l} is split"
        );
    }
}

#[test]
fn slic_splits_a_two_colour_image_along_the_colour_edge() {
    // 16x20 RGB: red left of column 7 (off the 4x4 grid's lines), blue right.
    let (h, w) = (16, 20);
    let mut img = vec![0.0; 3 * h * w];
    for y in 0..h {
        for x in 0..w {
            let rgb = if x < 7 {
                [0.9, 0.1, 0.1]
            } else {
                [0.1, 0.2, 0.9]
            };
            for c in 0..3 {
                img[c * h * w + y * w + x] = rgb[c];
            }
        }
    }
    let seg = Slic {
        segments: 12,
        ..Slic::default()
    }
    .segment(&img, [3, h, w])
    .unwrap();
    assert_valid(&seg, h, w);
    assert!(seg.count >= 4, "{}", seg.count);
    for l in 0..seg.count {
        let cols: Vec<usize> = (0..h * w)
            .filter(|&p| seg.labels[p] == l)
            .map(|p| p % w)
            .collect();
        let left = cols.iter().filter(|&&x| x < 7).count();
        assert!(
            left == 0 || left == cols.len(),
            "label {l} crosses the edge"
        );
    }
}

#[test]
fn slic_labels_cover_noise_images_in_connected_regions() {
    use rand::Rng;
    let mut rng = sc_core::Seed(5).stream("slic-test");
    for (c, h, w, segments) in [(3, 32, 32, 16), (1, 9, 13, 5), (3, 5, 5, 50), (1, 1, 7, 3)] {
        let img: Vec<f64> = (0..c * h * w).map(|_| rng.random::<f64>()).collect();
        let seg = Slic {
            segments,
            ..Slic::default()
        }
        .segment(&img, [c, h, w])
        .unwrap();
        assert_valid(&seg, h, w);
    }
    assert!(Slic::default().segment(&[0.0; 10], [3, 2, 2]).is_err());
    assert!(Slic::default().segment(&[0.0; 8], [2, 2, 2]).is_err());
}

#[test]
fn lab_of_known_colours() {
    // White is L=100, a=b=0; black is 0; sRGB red is (53.24, 80.09, 67.20)
    // (the CIE values every converter gives, to 0.05).
    let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 0.05);
    assert!(close(srgb_to_lab([1.0, 1.0, 1.0]), [100.0, 0.0, 0.0]));
    assert!(close(srgb_to_lab([0.0, 0.0, 0.0]), [0.0, 0.0, 0.0]));
    assert!(
        close(srgb_to_lab([1.0, 0.0, 0.0]), [53.24, 80.09, 67.20]),
        "{:?}",
        srgb_to_lab([1.0, 0.0, 0.0])
    );
}

#[test]
fn small_fragments_merge_into_a_neighbour() {
    // Labels 0 | 1 with a single stray 0 pixel inside the 1 half.
    let (h, w) = (4, 4);
    let mut labels: Vec<usize> = (0..16).map(|p| usize::from(p % 4 >= 2)).collect();
    labels[11] = 0;
    let seg = enforce_connectivity(&labels, h, w, 2);
    assert_eq!(seg.count, 2);
    assert_eq!(seg.labels[11], seg.labels[10]);
    // Without a size floor the stray pixel is its own region.
    assert_eq!(enforce_connectivity(&labels, h, w, 1).count, 3);
}
