//! An independent f64 reference: plain loops over `Vec<f64>`, one image at
//! a time, following torchvision's definitions (not this crate's code).

use crate::{Block, Model, Normalize, ResNetConfig, Stem};
use candle_core::DType;
use std::collections::HashMap;

/// One image `[C, H, W]`.
#[derive(Clone, Debug)]
pub struct Img {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f64>,
}

impl Img {
    fn at(&self, c: usize, y: usize, x: usize) -> f64 {
        self.data[(c * self.h + y) * self.w + x]
    }
}

/// The model's variables as flat f64 vectors.
pub fn weights(model: &Model) -> HashMap<String, Vec<f64>> {
    model
        .named_vars()
        .into_iter()
        .map(|(k, v)| {
            let t = v.as_tensor().to_dtype(DType::F64).unwrap();
            (k, t.flatten_all().unwrap().to_vec1::<f64>().unwrap())
        })
        .collect()
}

pub fn normalize(x: &Img, n: Option<&Normalize>) -> Img {
    let mut out = x.clone();
    if let Some(n) = n {
        for c in 0..x.c {
            for i in 0..x.h * x.w {
                let j = c * x.h * x.w + i;
                out.data[j] = (x.data[j] - n.mean()[c]) / n.std()[c];
            }
        }
    }
    out
}

/// Cross-correlation as PyTorch's `Conv2d(bias=False)`: weight `[cout, cin, k, k]`.
pub fn conv(x: &Img, weight: &[f64], cout: usize, k: usize, stride: usize, pad: usize) -> Img {
    let h = (x.h + 2 * pad - k) / stride + 1;
    let w = (x.w + 2 * pad - k) / stride + 1;
    assert_eq!(weight.len(), cout * x.c * k * k);
    let mut data = vec![0.0; cout * h * w];
    for o in 0..cout {
        for oy in 0..h {
            for ox in 0..w {
                let mut s = 0.0;
                for i in 0..x.c {
                    for ky in 0..k {
                        for kx in 0..k {
                            let y = (oy * stride + ky) as isize - pad as isize;
                            let xx = (ox * stride + kx) as isize - pad as isize;
                            if y < 0 || xx < 0 || y >= x.h as isize || xx >= x.w as isize {
                                continue;
                            }
                            s += x.at(i, y as usize, xx as usize)
                                * weight[((o * x.c + i) * k + ky) * k + kx];
                        }
                    }
                }
                data[(o * h + oy) * w + ox] = s;
            }
        }
    }
    Img {
        c: cout,
        h,
        w,
        data,
    }
}

/// Eval-mode BatchNorm with eps 1e-5.
pub fn bn(x: &Img, w: &HashMap<String, Vec<f64>>, prefix: &str) -> Img {
    let g = &w[&format!("{prefix}.weight")];
    let b = &w[&format!("{prefix}.bias")];
    let m = &w[&format!("{prefix}.running_mean")];
    let v = &w[&format!("{prefix}.running_var")];
    let mut out = x.clone();
    let hw = x.h * x.w;
    for c in 0..x.c {
        for i in 0..hw {
            let j = c * hw + i;
            out.data[j] = (x.data[j] - m[c]) / (v[c] + 1e-5).sqrt() * g[c] + b[c];
        }
    }
    out
}

pub fn relu(mut x: Img) -> Img {
    for v in &mut x.data {
        *v = v.max(0.0);
    }
    x
}

/// Max-pool with implicit -inf padding, as PyTorch's `MaxPool2d`.
pub fn max_pool(x: &Img, k: usize, stride: usize, pad: usize) -> Img {
    let h = (x.h + 2 * pad - k) / stride + 1;
    let w = (x.w + 2 * pad - k) / stride + 1;
    let mut data = vec![f64::NEG_INFINITY; x.c * h * w];
    for c in 0..x.c {
        for oy in 0..h {
            for ox in 0..w {
                for ky in 0..k {
                    for kx in 0..k {
                        let y = (oy * stride + ky) as isize - pad as isize;
                        let xx = (ox * stride + kx) as isize - pad as isize;
                        if y >= 0 && xx >= 0 && y < x.h as isize && xx < x.w as isize {
                            let j = (c * h + oy) * w + ox;
                            data[j] = data[j].max(x.at(c, y as usize, xx as usize));
                        }
                    }
                }
            }
        }
    }
    Img { c: x.c, h, w, data }
}

pub fn add(a: &Img, b: &Img) -> Img {
    assert_eq!((a.c, a.h, a.w), (b.c, b.h, b.w));
    let data = a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect();
    Img { data, ..a.clone() }
}

pub fn global_avg_pool(x: &Img) -> Vec<f64> {
    let hw = x.h * x.w;
    (0..x.c)
        .map(|c| x.data[c * hw..(c + 1) * hw].iter().sum::<f64>() / hw as f64)
        .collect()
}

pub fn linear(x: &[f64], w: &HashMap<String, Vec<f64>>, prefix: &str) -> Vec<f64> {
    let weight = &w[&format!("{prefix}.weight")];
    let bias = &w[&format!("{prefix}.bias")];
    let n_in = x.len();
    (0..bias.len())
        .map(|o| bias[o] + (0..n_in).map(|i| weight[o * n_in + i] * x[i]).sum::<f64>())
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn conv_bn(
    x: &Img,
    w: &HashMap<String, Vec<f64>>,
    conv_name: &str,
    bn_name: &str,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Img {
    let y = conv(x, &w[&format!("{conv_name}.weight")], cout, k, stride, pad);
    bn(&y, w, bn_name)
}

/// torchvision's `ResNet.forward`, written out for one image.
pub fn resnet(
    cfg: &ResNetConfig,
    w: &HashMap<String, Vec<f64>>,
    norm: Option<&Normalize>,
    x: &Img,
) -> Vec<f64> {
    let x = normalize(x, norm);
    let mut x = match cfg.stem {
        Stem::Cifar => relu(conv_bn(&x, w, "conv1", "bn1", cfg.widths[0], 3, 1, 1)),
        Stem::ImageNet => max_pool(
            &relu(conv_bn(&x, w, "conv1", "bn1", cfg.widths[0], 7, 2, 3)),
            3,
            2,
            1,
        ),
    };
    let mut inplanes = cfg.widths[0];
    for stage in 0..4 {
        let planes = cfg.widths[stage];
        for b in 0..cfg.layers[stage] {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            let p = format!("layer{}.{b}", stage + 1);
            let (out, expansion) = match cfg.block {
                Block::Basic => {
                    let h = relu(conv_bn(
                        &x,
                        w,
                        &format!("{p}.conv1"),
                        &format!("{p}.bn1"),
                        planes,
                        3,
                        stride,
                        1,
                    ));
                    let h = conv_bn(
                        &h,
                        w,
                        &format!("{p}.conv2"),
                        &format!("{p}.bn2"),
                        planes,
                        3,
                        1,
                        1,
                    );
                    (h, 1)
                }
                Block::Bottleneck => {
                    let h = relu(conv_bn(
                        &x,
                        w,
                        &format!("{p}.conv1"),
                        &format!("{p}.bn1"),
                        planes,
                        1,
                        1,
                        0,
                    ));
                    let h = relu(conv_bn(
                        &h,
                        w,
                        &format!("{p}.conv2"),
                        &format!("{p}.bn2"),
                        planes,
                        3,
                        stride,
                        1,
                    ));
                    let h = conv_bn(
                        &h,
                        w,
                        &format!("{p}.conv3"),
                        &format!("{p}.bn3"),
                        planes * 4,
                        1,
                        1,
                        0,
                    );
                    (h, 4)
                }
            };
            let identity = if stride != 1 || inplanes != planes * expansion {
                conv_bn(
                    &x,
                    w,
                    &format!("{p}.downsample.0"),
                    &format!("{p}.downsample.1"),
                    planes * expansion,
                    1,
                    stride,
                    0,
                )
            } else {
                x.clone()
            };
            x = relu(add(&out, &identity));
            inplanes = planes * expansion;
        }
    }
    linear(&global_avg_pool(&x), w, "fc")
}

/// The small CNN as documented in `small_cnn.rs`.
pub fn small_cnn(w: &HashMap<String, Vec<f64>>, norm: Option<&Normalize>, x: &Img) -> Vec<f64> {
    let mut x = normalize(x, norm);
    for (i, width) in [32, 64, 128, 256].into_iter().enumerate() {
        let n = i + 1;
        x = relu(conv_bn(
            &x,
            w,
            &format!("conv{n}"),
            &format!("bn{n}"),
            width,
            3,
            1,
            1,
        ));
        if n <= 3 {
            x = max_pool(&x, 2, 2, 0);
        }
    }
    linear(&global_avg_pool(&x), w, "fc")
}
