use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use sc_core::Seed;
use std::sync::Arc;

/// A labelled set of same-sized images: one split of a data set.
///
/// Pixels are stored as `u8` in NCHW order (a quarter of the memory of f32)
/// and become `[0, 1]` f32 tensors on any candle [`Device`] batch by batch,
/// the input space of every semcon model, perturbation and attack.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pixels: Vec<u8>,
    shape: [usize; 3],
    labels: Vec<u32>,
    classes: Arc<[String]>,
    masks: Option<Vec<u8>>,
    groups: Option<Groups>,
}

/// The group of every image of a set, e.g. its background colour in a
/// Colorful set (paper Sec. 4.7): the attribute fairness metrics split
/// accuracy by. Group names are indexed by group number.
#[derive(Debug, Clone, PartialEq)]
pub struct Groups {
    names: Arc<[String]>,
    of_image: Vec<u32>,
}

impl Groups {
    /// Group names, indexed by group number.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The group number of every image, in set order.
    pub fn of_image(&self) -> &[u32] {
        &self.of_image
    }

    fn select(&self, indices: &[usize]) -> Groups {
        Groups {
            names: self.names.clone(),
            of_image: indices.iter().map(|&i| self.of_image[i]).collect(),
        }
    }
}

/// The splits of a data set. Either may be absent (a directory holding only
/// the test files is a valid data set).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// A short name, e.g. `mnist` or `shapes`.
    pub name: String,
    /// The training split.
    pub train: Option<ImageSet>,
    /// The test split (a `val/` folder counts as test).
    pub test: Option<ImageSet>,
}

impl Dataset {
    /// The test split, or the only split when there is no test split.
    pub fn test_or_only(&self) -> Option<&ImageSet> {
        self.test.as_ref().or(self.train.as_ref())
    }

    /// Class names (from whichever split is present).
    pub fn classes(&self) -> &[String] {
        self.train
            .as_ref()
            .or(self.test.as_ref())
            .map(|s| s.classes())
            .unwrap_or(&[])
    }
}

/// The order in which [`ImageSet::batches`] visits images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Data-set order.
    Sequential,
    /// A permutation fixed by the seed and the epoch number.
    Shuffled {
        /// The seed of the permutations.
        seed: Seed,
        /// The epoch: each has its own permutation.
        epoch: u64,
    },
}

/// A mini-batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[B, C, H, W]` f32 in `[0, 1]`.
    pub images: Tensor,
    /// `[B]` u32 class indices.
    pub labels: Tensor,
    /// `[B, H, W]` f32 object masks (0 or 1), when the set has masks.
    pub masks: Option<Tensor>,
    /// Positions of the batch's images in the set.
    pub indices: Vec<usize>,
}

impl ImageSet {
    /// Builds a set from NCHW `u8` pixels of images of `shape = [C, H, W]`.
    ///
    /// Checks that the pixel count matches `labels.len() * C * H * W` and that
    /// every label indexes `classes`.
    pub fn new(
        pixels: Vec<u8>,
        shape: [usize; 3],
        labels: Vec<u32>,
        classes: impl Into<Arc<[String]>>,
    ) -> Result<Self> {
        let classes = classes.into();
        let per_image = shape.iter().product::<usize>();
        if per_image == 0 {
            return Err(Error::arg(
                "image shape",
                format!("{shape:?} has a zero dimension"),
            ));
        }
        if pixels.len() != labels.len() * per_image {
            return Err(Error::arg(
                "pixels",
                format!(
                    "{} bytes for {} images of shape {shape:?}: expected {}",
                    pixels.len(),
                    labels.len(),
                    labels.len() * per_image
                ),
            ));
        }
        if let Some((i, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= classes.len())
        {
            return Err(Error::arg(
                "labels",
                format!(
                    "label {l} of image {i} is not below the class count {}",
                    classes.len()
                ),
            ));
        }
        Ok(ImageSet {
            pixels,
            shape,
            labels,
            classes,
            masks: None,
            groups: None,
        })
    }

    /// Attaches the group of every image: `of_image[i]` indexes `names`.
    pub fn with_groups(
        mut self,
        names: impl Into<Arc<[String]>>,
        of_image: Vec<u32>,
    ) -> Result<Self> {
        let names = names.into();
        if of_image.len() != self.len() {
            return Err(Error::arg(
                "groups",
                format!("{} entries for {} images", of_image.len(), self.len()),
            ));
        }
        if let Some((i, &g)) = of_image
            .iter()
            .enumerate()
            .find(|(_, &g)| g as usize >= names.len())
        {
            return Err(Error::arg(
                "groups",
                format!(
                    "group {g} of image {i} is not below the group count {}",
                    names.len()
                ),
            ));
        }
        self.groups = Some(Groups { names, of_image });
        Ok(self)
    }

    /// The group of every image, when the set has groups (Colorful sets).
    pub fn groups(&self) -> Option<&Groups> {
        self.groups.as_ref()
    }

    /// Attaches per-image object masks, `N * H * W` bytes, 0 (background) or 1.
    pub fn with_masks(mut self, masks: Vec<u8>) -> Result<Self> {
        let expected = self.len() * self.shape[1] * self.shape[2];
        if masks.len() != expected {
            return Err(Error::arg(
                "masks",
                format!("{} bytes: expected {expected} (N*H*W)", masks.len()),
            ));
        }
        if masks.iter().any(|&m| m > 1) {
            return Err(Error::arg("masks", "values must be 0 or 1"));
        }
        self.masks = Some(masks);
        Ok(self)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[C, H, W]` of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Class index of every image.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// All pixels, NCHW `u8`.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The `u8` pixels of image `i` (CHW), or `None` past the end.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.shape.iter().product::<usize>();
        self.pixels.get(i * n..(i + 1) * n)
    }

    /// All masks (`N * H * W`, 0 or 1), when the set has them.
    pub fn masks(&self) -> Option<&[u8]> {
        self.masks.as_deref()
    }

    /// The mask of image `i` (HW), when the set has masks.
    pub fn mask(&self, i: usize) -> Option<&[u8]> {
        let n = self.shape[1] * self.shape[2];
        self.masks.as_ref()?.get(i * n..(i + 1) * n)
    }

    /// Number of images per class.
    pub fn label_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The images at `indices`, as a new set (same classes).
    pub fn select(&self, indices: &[usize]) -> Result<ImageSet> {
        let per = self.shape.iter().product::<usize>();
        let hw = self.shape[1] * self.shape[2];
        let mut pixels = Vec::with_capacity(indices.len() * per);
        let mut labels = Vec::with_capacity(indices.len());
        let mut masks = self
            .masks
            .as_ref()
            .map(|_| Vec::with_capacity(indices.len() * hw));
        for &i in indices {
            let img = self.image(i).ok_or_else(|| {
                Error::arg(
                    "indices",
                    format!("index {i} is past the end ({} images)", self.len()),
                )
            })?;
            pixels.extend_from_slice(img);
            labels.push(self.labels[i]);
            if let (Some(out), Some(m)) = (masks.as_mut(), self.mask(i)) {
                out.extend_from_slice(m);
            }
        }
        Ok(ImageSet {
            pixels,
            shape: self.shape,
            labels,
            classes: self.classes.clone(),
            masks,
            groups: self.groups.as_ref().map(|g| g.select(indices)),
        })
    }

    /// The first `n` images (all of them when `n >= len`).
    pub fn take(&self, n: usize) -> ImageSet {
        let n = n.min(self.len());
        let per = self.shape.iter().product::<usize>();
        let hw = self.shape[1] * self.shape[2];
        ImageSet {
            pixels: self.pixels[..n * per].to_vec(),
            shape: self.shape,
            labels: self.labels[..n].to_vec(),
            classes: self.classes.clone(),
            masks: self.masks.as_ref().map(|m| m[..n * hw].to_vec()),
            groups: self.groups.as_ref().map(|g| Groups {
                names: g.names.clone(),
                of_image: g.of_image[..n].to_vec(),
            }),
        }
    }

    /// The whole set as one `[N, C, H, W]` f32 tensor in `[0, 1]`.
    pub fn images(&self, device: &Device) -> Result<Tensor> {
        let [c, h, w] = self.shape;
        to_unit_f32(&self.pixels, &[self.len(), c, h, w], device)
    }

    /// The images at `indices` as a [`Batch`] on `device`.
    pub fn gather(&self, indices: &[usize], device: &Device) -> Result<Batch> {
        let [c, h, w] = self.shape;
        let per = c * h * w;
        let mut bytes = Vec::with_capacity(indices.len() * per);
        let mut labels = Vec::with_capacity(indices.len());
        let mut masks = self
            .masks
            .as_ref()
            .map(|_| Vec::with_capacity(indices.len() * h * w));
        for &i in indices {
            let img = self.image(i).ok_or_else(|| {
                Error::arg(
                    "indices",
                    format!("index {i} is past the end ({} images)", self.len()),
                )
            })?;
            bytes.extend_from_slice(img);
            labels.push(self.labels[i]);
            if let (Some(out), Some(m)) = (masks.as_mut(), self.mask(i)) {
                out.extend_from_slice(m);
            }
        }
        let b = indices.len();
        Ok(Batch {
            images: to_unit_f32(&bytes, &[b, c, h, w], device)?,
            labels: Tensor::from_vec(labels, b, device)?,
            masks: match masks {
                Some(m) => Some(
                    Tensor::from_vec(m, (b, h, w), &Device::Cpu)?
                        .to_dtype(DType::F32)?
                        .to_device(device)?,
                ),
                None => None,
            },
            indices: indices.to_vec(),
        })
    }

    /// The order in which an epoch visits the images.
    pub fn order(&self, order: Order) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        if let Order::Shuffled { seed, epoch } = order {
            idx.shuffle(&mut seed.index(epoch).stream("batch-order"));
        }
        idx
    }

    /// Mini-batches of `batch_size` images in `order` on `device`; the last
    /// batch is smaller unless `drop_last`. Batches are assembled lazily, so
    /// `.skip(k)` resumes an epoch at batch `k` at no cost.
    pub fn batches<'a>(
        &'a self,
        batch_size: usize,
        order: Order,
        drop_last: bool,
        device: &'a Device,
    ) -> Result<Batches<'a>> {
        if batch_size == 0 {
            return Err(Error::arg("batch size", "must be at least 1"));
        }
        let order = self.order(order);
        let full = order.len() / batch_size;
        let count = if drop_last || order.len() % batch_size == 0 {
            full
        } else {
            full + 1
        };
        Ok(Batches {
            set: self,
            order,
            batch_size,
            next: 0,
            count,
            device,
        })
    }
}

fn to_unit_f32(bytes: &[u8], shape: &[usize], device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = bytes.iter().map(|&b| f32::from(b) / 255.0).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?.to_device(device)?)
}

/// Iterator over the mini-batches of an [`ImageSet`]; see [`ImageSet::batches`].
#[derive(Debug)]
pub struct Batches<'a> {
    set: &'a ImageSet,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
    count: usize,
    device: &'a Device,
}

impl Iterator for Batches<'_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count {
            return None;
        }
        let start = self.next * self.batch_size;
        let end = (start + self.batch_size).min(self.order.len());
        self.next += 1;
        Some(self.set.gather(&self.order[start..end], self.device))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        (left, Some(left))
    }

    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        self.next = self.next.saturating_add(n).min(self.count);
        self.next()
    }
}

impl ExactSizeIterator for Batches<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> ImageSet {
        let pixels: Vec<u8> = (0..n * 2 * 2).map(|i| (i % 256) as u8).collect();
        let labels = (0..n as u32).map(|i| i % 3).collect();
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        ImageSet::new(pixels, [1, 2, 2], labels, classes).unwrap()
    }

    #[test]
    fn rejects_inconsistent_sizes_and_labels() {
        let classes: Vec<String> = vec!["a".into()];
        assert!(ImageSet::new(vec![0; 5], [1, 2, 2], vec![0], classes.clone()).is_err());
        assert!(ImageSet::new(vec![0; 4], [1, 2, 2], vec![1], classes.clone()).is_err());
        assert!(ImageSet::new(vec![0; 4], [1, 2, 2], vec![0], classes)
            .unwrap()
            .with_masks(vec![0; 3])
            .is_err());
    }

    #[test]
    fn batches_cover_every_image_once_in_seeded_order() {
        let set = toy(10);
        let dev = Device::Cpu;
        let order = Order::Shuffled {
            seed: Seed(3),
            epoch: 1,
        };
        let seen: Vec<usize> = set
            .batches(4, order, false, &dev)
            .unwrap()
            .flat_map(|b| b.unwrap().indices)
            .collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(
            seen,
            (0..10).collect::<Vec<_>>(),
            "shuffled order equals identity"
        );
        assert_eq!(set.order(order), seen);
        let other = set.order(Order::Shuffled {
            seed: Seed(3),
            epoch: 2,
        });
        assert_ne!(other, seen);
        assert_eq!(set.batches(4, order, true, &dev).unwrap().count(), 2);
        // Resuming with skip gives the same later batches.
        let third: Vec<usize> = set
            .batches(4, order, false, &dev)
            .unwrap()
            .nth(2)
            .unwrap()
            .unwrap()
            .indices;
        assert_eq!(third, seen[8..]);
    }

    #[test]
    fn batch_pixels_and_labels_match_the_set() {
        let set = toy(5);
        let b = set.gather(&[4, 1], &Device::Cpu).unwrap();
        assert_eq!(b.images.dims(), [2, 1, 2, 2]);
        let v: Vec<f32> = b.images.flatten_all().unwrap().to_vec1().unwrap();
        let expect: Vec<f32> = set
            .image(4)
            .unwrap()
            .iter()
            .chain(set.image(1).unwrap())
            .map(|&p| p as f32 / 255.0)
            .collect();
        assert_eq!(v, expect);
        assert_eq!(b.labels.to_vec1::<u32>().unwrap(), vec![1, 1]);
        assert_eq!(set.label_counts(), vec![2, 2, 1]);
        assert!(set.gather(&[5], &Device::Cpu).is_err());
    }
}
