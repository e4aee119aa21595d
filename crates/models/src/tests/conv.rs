//! The fast convolution against candle's `conv2d` and its backward, the
//! adjointness of im2col and col2im, and training and attacks through the
//! models with either implementation.

use super::*;
use crate::conv::{self, ConvImpl};
use crate::Arch;
use candle_core::Var;
use proptest::prelude::*;
use rand::Rng;
use sc_core::Classifier;

/// Uniform values in `[-1, 1)` of any shape, reproducible from `seed`.
fn uniform(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    let mut rng = Seed(seed).stream("uniform");
    let v: Vec<f64> = (0..shape.iter().product::<usize>())
        .map(|_| 2.0 * rng.random::<f64>() - 1.0)
        .collect();
    Tensor::from_vec(v, shape.to_vec(), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// candle's conv2d with its backward; a strided conv pads explicitly and
/// drops what no window reaches, as `ConvBn` does, to avoid candle's
/// output-padding bug in the input gradient.
fn candle_conv(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Tensor {
    if stride == 1 {
        return x.conv2d(w, pad, 1, 1, 1).unwrap();
    }
    let k = w.dim(2).unwrap();
    let mut x = x.clone();
    for dim in [2, 3] {
        let padded = x.dim(dim).unwrap() + 2 * pad;
        let reach = (padded - k) / stride * stride + k;
        x = x
            .pad_with_zeros(dim, pad, pad)
            .unwrap()
            .narrow(dim, 0, reach)
            .unwrap();
    }
    x.conv2d(w, 0, stride, 1, 1).unwrap()
}

/// `max |a - b| / max |b|` (0 when both vanish).
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let scale = max_abs_diff(b, &b.zeros_like().unwrap());
    let d = max_abs_diff(a, b);
    if d == 0.0 {
        0.0
    } else {
        d / scale
    }
}

#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    o: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    pad: usize,
    seed: u64,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        1usize..=4,
        1usize..=5,
        1usize..=5,
        prop_oneof![Just(1usize), Just(3), Just(7)],
        1usize..=2,
        0usize..=2,
        0usize..=7,
        0usize..=7,
        any::<u64>(),
    )
        .prop_map(|(n, c, o, k, stride, pad, dh, dw, seed)| {
            let min = k.saturating_sub(2 * pad).max(1);
            Case {
                n,
                c,
                o,
                h: min + dh,
                w: min + dw,
                k,
                stride,
                pad,
                seed,
            }
        })
}

/// Forward, input and weight gradients (through candle's autograd) of the
/// fast conv against candle's, with and without a bias.
fn check_against_candle(t: Case, dtype: DType, tol: f64) {
    let x = Var::from_tensor(&uniform(&[t.n, t.c, t.h, t.w], t.seed, dtype)).unwrap();
    let w = Var::from_tensor(&uniform(&[t.o, t.c, t.k, t.k], t.seed ^ 1, dtype)).unwrap();
    let b = Var::from_tensor(&uniform(&[t.o], t.seed ^ 2, dtype)).unwrap();
    let want = candle_conv(x.as_tensor(), w.as_tensor(), t.stride, t.pad);
    let r = uniform(want.dims(), t.seed ^ 3, dtype);
    let want_grads = (&want * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for bias in [false, true] {
        let got = conv::conv2d(
            x.as_tensor(),
            w.as_tensor(),
            bias.then_some(b.as_tensor()),
            t.stride,
            t.pad,
        )
        .unwrap();
        let want = if bias {
            want.broadcast_add(&b.as_tensor().reshape((1, t.o, 1, 1)).unwrap())
                .unwrap()
        } else {
            want.clone()
        };
        assert_eq!(got.dims(), want.dims(), "{t:?}");
        assert!(rel_err(&got, &want) <= tol, "forward {t:?} bias {bias}");
        let grads = (&got * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, var) in [("input", &x), ("weight", &w)] {
            let e = rel_err(grads.get(var).unwrap(), want_grads.get(var).unwrap());
            assert!(e <= tol, "{name} gradient {t:?} bias {bias}: {e:e}");
        }
        if bias {
            let want_db = r.sum(3).unwrap().sum(2).unwrap().sum(0).unwrap();
            assert!(rel_err(grads.get(&b).unwrap(), &want_db) <= tol, "{t:?}");
        } else {
            assert!(grads.get(&b).is_none());
        }
    }
}

/// `<a, b>` of two tensors of one shape, in f64.
fn dot(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_dtype(DType::F64).unwrap() * b.to_dtype(DType::F64).unwrap())
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fast_conv_matches_candle_in_f32(t in cases()) {
        check_against_candle(t, DType::F32, 1e-4);
    }

    #[test]
    fn fast_conv_matches_candle_in_f64(t in cases()) {
        check_against_candle(t, DType::F64, 1e-10);
    }

    /// `<im2col(x), y> = <x, col2im(y)>`, and each is the other's backward.
    #[test]
    fn col2im_is_the_adjoint_of_im2col(t in cases()) {
        let dims = (t.n, t.c, t.h, t.w);
        let x = Var::from_tensor(&uniform(&[t.n, t.c, t.h, t.w], t.seed, DType::F64)).unwrap();
        let cols = conv::im2col(x.as_tensor(), (t.k, t.k), t.stride, t.pad).unwrap();
        let oh = (t.h + 2 * t.pad - t.k) / t.stride + 1;
        let ow = (t.w + 2 * t.pad - t.k) / t.stride + 1;
        prop_assert_eq!(cols.dims(), [t.c * t.k * t.k, t.n * oh * ow]);
        let y = Var::from_tensor(&uniform(cols.dims(), t.seed ^ 5, DType::F64)).unwrap();
        let back = conv::col2im(y.as_tensor(), dims, (t.k, t.k), t.stride, t.pad).unwrap();
        let (lhs, rhs) = (dot(&cols, y.as_tensor()), dot(x.as_tensor(), &back));
        prop_assert!((lhs - rhs).abs() <= 1e-12 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
        // Autograd: the gradient of <im2col(x), y> is col2im(y), and back.
        let gx = (cols * y.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
        prop_assert_eq!(max_abs_diff(gx.get(&x).unwrap(), &back), 0.0);
        let gy = (back * x.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
        let cols = conv::im2col(x.as_tensor(), (t.k, t.k), t.stride, t.pad).unwrap();
        prop_assert_eq!(max_abs_diff(gy.get(&y).unwrap(), &cols), 0.0);
    }
}

/// Layer shapes of the models, and large images whose column matrices
/// take one or two images per chunk (so the batch is processed in several
/// chunks, in parallel for the forward and input gradient, accumulated for
/// the weight gradient), against candle in f32.
#[test]
fn model_layer_shapes_and_chunked_batches_match_candle() {
    for (c, o, hw, k, stride, pad) in [
        (3, 32, 32, 3, 1, 1),
        (64, 128, 32, 3, 2, 1),
        (64, 128, 32, 1, 2, 0),
        (256, 64, 8, 1, 1, 0),
        (128, 128, 4, 3, 1, 1),
        (32, 4, 64, 3, 1, 1),
        (16, 4, 64, 3, 1, 1),
        (256, 3, 48, 1, 1, 0),
    ] {
        let t = Case {
            n: 5,
            c,
            o,
            h: hw,
            w: hw,
            k,
            stride,
            pad,
            seed: 3,
        };
        check_against_candle(t, DType::F32, 1e-4);
    }
}

/// Only tracked arguments get gradients, and an untracked one costs none.
#[test]
fn backward_skips_untracked_arguments() {
    let x = uniform(&[2, 3, 6, 5], 1, DType::F32);
    let w = uniform(&[4, 3, 3, 3], 2, DType::F32);
    let xv = Var::from_tensor(&x).unwrap();
    let wv = Var::from_tensor(&w).unwrap();
    let loss = |x: &Tensor, w: &Tensor| {
        conv::conv2d(x, w, None, 2, 1)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
    };
    let g = loss(xv.as_tensor(), &wv.as_detached_tensor());
    assert!(g.get(&xv).is_some() && g.get(&wv).is_none());
    let g = loss(&xv.as_detached_tensor(), wv.as_tensor());
    assert!(g.get(&xv).is_none() && g.get(&wv).is_some());
    // The gradient ops alone agree with autograd.
    let dy = Tensor::ones((2, 4, 3, 3), DType::F32, &Device::Cpu).unwrap();
    let g = loss(xv.as_tensor(), wv.as_tensor());
    let dx = conv::conv2d_input_grad(&dy, &w, (2, 3, 6, 5), 2, 1).unwrap();
    let dw = conv::conv2d_weight_grad(&x, &dy, (3, 3), 2, 1).unwrap();
    assert_eq!(max_abs_diff(&dx, g.get(&xv).unwrap()), 0.0);
    assert_eq!(max_abs_diff(&dw, g.get(&wv).unwrap()), 0.0);
    // Shape errors are errors.
    assert!(conv::conv2d(&x, &uniform(&[4, 2, 3, 3], 2, DType::F32), None, 1, 1).is_err());
    assert!(conv::conv2d(&x, &uniform(&[4, 3, 9, 9], 2, DType::F32), None, 1, 1).is_err());
    assert!(conv::conv2d_input_grad(&dy, &w, (2, 3, 6, 5), 1, 1).is_err());
}

/// The BatchNorm fold's weight scaling, with its gradients.
#[test]
fn scale_out_channels_matches_broadcast_mul() {
    let w = Var::from_tensor(&uniform(&[4, 3, 2, 2], 1, DType::F64)).unwrap();
    let s = Var::from_tensor(&uniform(&[4], 2, DType::F64)).unwrap();
    let r = uniform(&[4, 3, 2, 2], 3, DType::F64);
    let got = conv::scale_out_channels(w.as_tensor(), s.as_tensor()).unwrap();
    let want = w
        .as_tensor()
        .broadcast_mul(&s.as_tensor().reshape((4, 1, 1, 1)).unwrap())
        .unwrap();
    assert_eq!(max_abs_diff(&got, &want), 0.0);
    let g1 = (&got * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let g2 = (&want * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for v in [&w, &s] {
        assert!(max_abs_diff(g1.get(v).unwrap(), g2.get(v).unwrap()) < 1e-14);
    }
    assert!(conv::scale_out_channels(w.as_tensor(), &uniform(&[3], 2, DType::F64)).is_err());
}

/// Empty batches and non-contiguous inputs.
#[test]
fn empty_batches_and_strided_inputs() {
    let w = uniform(&[4, 5, 3, 3], 2, DType::F64);
    let x = uniform(&[0, 5, 5, 5], 1, DType::F64);
    assert_eq!(
        conv::conv2d(&x, &w, None, 1, 1).unwrap().dims(),
        [0, 4, 5, 5]
    );
    let big = uniform(&[3, 6, 7, 6], 1, DType::F64);
    for x in [
        big.narrow(1, 1, 5).unwrap(),
        big.narrow(0, 1, 2)
            .unwrap()
            .narrow(1, 0, 5)
            .unwrap()
            .transpose(2, 3)
            .unwrap(),
    ] {
        assert!(!x.is_contiguous());
        for stride in [1, 2] {
            let got = conv::conv2d(&x, &w, None, stride, 1).unwrap();
            assert!(rel_err(&got, &candle_conv(&x, &w, stride, 1)) < 1e-12);
        }
    }
}

fn small_cnn(dtype: DType) -> Model {
    Model::new(
        Arch::SmallCnn,
        5,
        [3, 8, 8],
        Some(Normalize::cifar10()),
        Seed(21),
        dtype,
        &Device::Cpu,
    )
    .unwrap()
}

/// Both implementations give the same eval logits (BN folded or not) and
/// input gradients.
#[test]
fn eval_logits_and_input_gradients_agree_across_implementations() {
    let models = [
        (small_cnn(DType::F64), [2, 3, 8, 8]),
        (
            tiny_resnet(Block::Basic, Stem::Cifar, [9, 11], DType::F64),
            [2, 3, 9, 11],
        ),
        (
            tiny_resnet(Block::Bottleneck, Stem::ImageNet, [35, 29], DType::F64),
            [2, 3, 35, 29],
        ),
    ];
    for (fast, shape) in models {
        randomize_bn(&fast, 9);
        assert_eq!(fast.conv_impl(), ConvImpl::Fast);
        let slow = fast
            .deep_clone()
            .unwrap()
            .with_conv_impl(ConvImpl::Candle)
            .unwrap();
        assert_eq!(slow.conv_impl(), ConvImpl::Candle);
        let x = Var::from_tensor(&pixels(shape, 4, DType::F64)).unwrap();
        let r = pixels([shape[0], 5], 5, DType::F64);
        let run = |m: &Model| {
            let logits = m.logits(x.as_tensor()).unwrap();
            let g = (&logits * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (logits, g.get(&x).unwrap().clone())
        };
        let (lf, gf) = run(&fast);
        let (ls, gs) = run(&slow);
        assert!(rel_err(&lf, &ls) < 1e-10, "{}", fast.name());
        assert!(rel_err(&gf, &gs) < 1e-10, "{}", fast.name());
    }
}

#[test]
fn the_fast_path_is_refused_where_it_does_not_run() {
    let m = small_cnn(DType::F16);
    assert_eq!(m.conv_impl(), ConvImpl::Candle);
    assert!(m.with_conv_impl(ConvImpl::Fast).is_err());
    assert!(ConvImpl::Fast.supports(&Device::Cpu, DType::F32));
    assert!(!ConvImpl::Fast.supports(&Device::Cpu, DType::BF16));
}

/// The op choice for a GPU, checked without one: on CUDA (any ordinal)
/// and Metal, in every dtype, the models pick candle's kernels and the
/// CPU-only custom ops (conv, fused BN+ReLU, max-pool, BN-folding scale)
/// are refused; on the CPU they are chosen exactly for f32 and f64. With
/// [`ConvImpl::Candle`] a model runs candle ops only, so the
/// agreement tests here (Candle vs Fast on the CPU) check the GPU's path.
#[test]
fn gpus_never_get_the_cpu_only_ops() {
    use candle_core::DeviceLocation;
    let dtypes = [DType::F16, DType::BF16, DType::F32, DType::F64];
    for location in [
        DeviceLocation::Cuda { gpu_id: 0 },
        DeviceLocation::Cuda { gpu_id: 7 },
        DeviceLocation::Metal { gpu_id: 0 },
    ] {
        for dtype in dtypes {
            assert_eq!(ConvImpl::auto_at(location, dtype), ConvImpl::Candle);
            assert!(!ConvImpl::Fast.supports_at(location, dtype));
            assert!(ConvImpl::Candle.supports_at(location, dtype));
            assert!(!crate::conv::cpu_kernels_apply(location, dtype));
        }
    }
    for dtype in dtypes {
        let cpu_kernels = matches!(dtype, DType::F32 | DType::F64);
        let want = if cpu_kernels {
            ConvImpl::Fast
        } else {
            ConvImpl::Candle
        };
        assert_eq!(ConvImpl::auto_at(DeviceLocation::Cpu, dtype), want);
        assert_eq!(ConvImpl::auto(&Device::Cpu, dtype), want);
        assert_eq!(
            crate::conv::cpu_kernels_apply(DeviceLocation::Cpu, dtype),
            cpu_kernels
        );
    }
}

/// Twenty steps of plain SGD on random data: the loss curves (and final
/// eval logits) of the two implementations agree within float noise.
#[test]
fn training_curves_agree_across_implementations() {
    let resnet = |dtype| {
        Model::from_config(
            NetConfig::ResNet(tiny_resnet_config(Block::Basic, Stem::Cifar, 5)),
            [3, 10, 10],
            Some(Normalize::cifar10()),
            Seed(3),
            dtype,
            &Device::Cpu,
        )
        .unwrap()
    };
    let runs = [
        (small_cnn(DType::F32), [8, 3, 8, 8]),
        (resnet(DType::F32), [8, 3, 10, 10]),
        (resnet(DType::F64), [8, 3, 10, 10]),
    ];
    for (fast, shape) in runs {
        let dtype = fast.dtype();
        let tol = if dtype == DType::F32 { 1e-4 } else { 1e-10 };
        let slow = fast
            .deep_clone()
            .unwrap()
            .with_conv_impl(ConvImpl::Candle)
            .unwrap();
        let x = pixels(shape, 6, dtype);
        let labels = Tensor::from_vec(
            (0..shape[0] as u32).map(|i| i % 5).collect::<Vec<_>>(),
            shape[0],
            &Device::Cpu,
        )
        .unwrap();
        let curve = |m: &Model| -> Vec<f64> {
            (0..20)
                .map(|_| {
                    let logits = m.forward_train(&x).unwrap();
                    let loss = candle_nn::loss::cross_entropy(&logits, &labels).unwrap();
                    let grads = loss.backward().unwrap();
                    for (_, v) in m.trainable_vars() {
                        let g = grads.get(&v).expect("gradient");
                        v.set(&(v.as_tensor() - (g * 0.1).unwrap()).unwrap())
                            .unwrap();
                    }
                    loss.to_dtype(DType::F64)
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap()
                })
                .collect()
        };
        let (a, b) = (curve(&fast), curve(&slow));
        assert!(a[19] < a[0], "{}: no learning: {a:?}", fast.name());
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert!(
                (a - b).abs() <= tol * a.abs(),
                "{} {dtype:?} step {i}: {a} vs {b}",
                fast.name()
            );
        }
        let e = rel_err(&fast.logits(&x).unwrap(), &slow.logits(&x).unwrap());
        assert!(
            e <= 10.0 * tol,
            "{} {dtype:?}: eval logits differ by {e:e}",
            fast.name()
        );
    }
}

/// The fused conv + ReLU equals the conv followed by candle's ReLU, values
/// and all three gradients (f64, exact up to summation order).
#[test]
fn conv_relu_equals_conv_then_relu() {
    for (stride, pad) in [(1, 1), (2, 1), (1, 0)] {
        let x = Var::from_tensor(&uniform(&[3, 4, 7, 6], 1, DType::F64)).unwrap();
        let w = Var::from_tensor(&uniform(&[5, 4, 3, 3], 2, DType::F64)).unwrap();
        let b = Var::from_tensor(&uniform(&[5], 3, DType::F64)).unwrap();
        let fused = conv::conv2d_relu(
            x.as_tensor(),
            w.as_tensor(),
            Some(b.as_tensor()),
            stride,
            pad,
        )
        .unwrap();
        let plain = conv::conv2d(
            x.as_tensor(),
            w.as_tensor(),
            Some(b.as_tensor()),
            stride,
            pad,
        )
        .unwrap()
        .relu()
        .unwrap();
        let diff = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        assert_eq!(diff(&fused, &plain), 0.0);
        // Some outputs are clamped, some not: the mask matters.
        let zeros = fused
            .eq(0.0)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(zeros > 0.0 && zeros < fused.elem_count() as f64);
        let wts = uniform(fused.dims(), 4, DType::F64);
        let g1 = (&fused * &wts)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (&plain * &wts)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &w, &b] {
            assert!(diff(g1.get(v).unwrap(), g2.get(v).unwrap()) < 1e-12);
        }
    }
}

/// The eval op of a stage and its pool gives the bits of `conv2d_relu`
/// followed by `max_pool_2x2`: output and the gradients of x, w and b, in
/// f32 and f64, with tied windows (inputs in eighths, so equal sums are
/// common, and a bias that zeroes a whole channel). Odd outputs are refused.
#[test]
fn conv_relu_pool_gives_the_bits_of_conv_relu_then_pool() {
    let eighths = |t: Tensor| {
        (t * 8.0)
            .unwrap()
            .round()
            .unwrap()
            .affine(0.125, 0.0)
            .unwrap()
    };
    for dtype in [DType::F32, DType::F64] {
        for (stride, pad, hw) in [(1, 1, 6), (2, 1, 8), (1, 0, 6)] {
            let x = Var::from_tensor(&eighths(uniform(&[3, 4, hw, hw], 1, dtype))).unwrap();
            let w = Var::from_tensor(&eighths(uniform(&[5, 4, 3, 3], 2, dtype))).unwrap();
            let b = Var::from_tensor(
                &Tensor::new(&[0.1f64, -0.2, 0.0, -50.0, 0.3], &Device::Cpu)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap(),
            )
            .unwrap();
            let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
            let run = |fused: bool| {
                let y = if fused {
                    conv::conv2d_relu_pool(xt, wt, bt, stride, pad).unwrap()
                } else {
                    let y = conv::conv2d_relu(xt, wt, Some(bt), stride, pad).unwrap();
                    crate::layers::max_pool_2x2(&y, ConvImpl::Fast).unwrap()
                };
                let wts = eighths(uniform(y.dims(), 4, dtype));
                let g = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
                let mut out = vec![tensor_values(&y)];
                out.extend([xt, wt, bt].map(|v| tensor_values(g.get(v).unwrap())));
                out
            };
            let (fused, separate) = (run(true), run(false));
            for (i, what) in ["output", "dx", "dw", "db"].iter().enumerate() {
                assert_eq!(
                    fused[i], separate[i],
                    "{what} {dtype:?} stride {stride} pad {pad}"
                );
            }
            assert!(fused[0].contains(&0.0) && fused[0].iter().any(|v| *v > 0.0));
        }
        let x = uniform(&[1, 2, 5, 6], 5, dtype);
        let w = uniform(&[2, 2, 3, 3], 6, dtype);
        let b = uniform(&[2], 7, dtype);
        let err = conv::conv2d_relu_pool(&x, &w, &b, 1, 1).unwrap_err();
        assert!(err.to_string().contains("odd size 5x6"), "{err}");
    }
}
