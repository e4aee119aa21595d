//! Optimisers whose state can be saved, so a resumed run continues exactly.
//!
//! candle-nn's `SGD` has no momentum or weight decay, `AdamW` defaults to
//! decoupled weight decay 0.01 (the paper's Adam means none), and neither
//! exposes its state (STACK.md). These follow PyTorch's `torch.optim.Adam`
//! and `torch.optim.SGD` update rules exactly, with L2 weight decay added to
//! the gradient as PyTorch does.

use crate::adam_cpu;
use crate::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use std::collections::HashMap;

/// Which optimiser, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba 2015); the paper trains with Adam, lr 1e-5.
    Adam,
    /// SGD with (optionally Nesterov) momentum.
    Sgd,
}

/// An optimiser over named variables.
#[derive(Debug)]
pub struct Optimizer {
    kind: OptimizerKind,
    vars: Vec<(String, Var)>,
    /// Adam: first moments; SGD: momentum buffers.
    first: Vec<Option<Tensor>>,
    /// Adam: second moments.
    second: Vec<Option<Tensor>>,
    step: u64,
    hyper: Hyper,
    /// Adam on the CPU through [`adam_cpu`] (tests turn it off to compare).
    fused: bool,
}

/// Hyper-parameters shared by both kinds (unused ones are ignored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// Adam's first-moment decay.
    pub beta1: f64,
    /// Adam's second-moment decay.
    pub beta2: f64,
    /// Adam's denominator epsilon.
    pub eps: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD with Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

impl Default for Hyper {
    fn default() -> Self {
        Hyper {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

impl Optimizer {
    /// An optimiser for `vars` (name, variable), in a fixed order.
    pub fn new(kind: OptimizerKind, vars: Vec<(String, Var)>, hyper: Hyper) -> Self {
        let n = vars.len();
        Optimizer {
            kind,
            vars,
            first: vec![None; n],
            second: vec![None; n],
            step: 0,
            hyper,
            fused: true,
        }
    }

    /// The same optimiser with Adam always as tensor ops (the reference
    /// the fused CPU passes are tested against).
    #[cfg(test)]
    pub(crate) fn unfused(self) -> Self {
        Optimizer {
            fused: false,
            ..self
        }
    }

    /// Number of updates made so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The global L2 norm of the gradients of this optimiser's variables.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut total = 0.0;
        for (_, v) in &self.vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let s: f64 = g
                    .sqr()?
                    .sum_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_scalar()?;
                total += s;
            }
        }
        Ok(total.sqrt())
    }

    /// One update with learning rate `lr`, gradients scaled by `grad_scale`
    /// (for clipping by global norm).
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let h = self.hyper;
        let t = self.step as f64;
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // Detached: the moments must not keep this step's graph alive
            // (each step's state would otherwise hold every earlier graph).
            let p = var.as_tensor().detach();
            let g = g.detach();
            let mut g = if grad_scale != 1.0 {
                g.affine(grad_scale, 0.0)?
            } else {
                g.clone()
            };
            if h.weight_decay != 0.0 {
                g = (g + p.affine(h.weight_decay, 0.0)?)?;
            }
            let update = match self.kind {
                OptimizerKind::Sgd => {
                    let buf = match &self.first[i] {
                        Some(b) if h.momentum != 0.0 => (b.affine(h.momentum, 0.0)? + &g)?,
                        _ => g.clone(),
                    };
                    let d = if h.nesterov {
                        (&g + buf.affine(h.momentum, 0.0)?)?
                    } else {
                        buf.clone()
                    };
                    if h.momentum != 0.0 {
                        self.first[i] = Some(buf);
                    }
                    d.affine(lr, 0.0)?
                }
                OptimizerKind::Adam
                    if self.fused && adam_cpu::applies(&p) && g.dtype() == p.dtype() =>
                {
                    // Three in-place passes, the same bits as the ops below.
                    let g = g.contiguous()?;
                    // Each moment on its own, as below: a missing one starts from g.
                    let moment = |slot: &mut Option<Tensor>, beta, square| -> Result<Tensor> {
                        let first = slot.is_none();
                        let m = match slot.take() {
                            Some(m) if m.is_contiguous() => m,
                            Some(m) => m.contiguous()?.copy()?,
                            None => g.zeros_like()?,
                        };
                        m.inplace_op2(
                            &g,
                            &adam_cpu::Moment {
                                beta,
                                square,
                                first,
                            },
                        )?;
                        Ok(m)
                    };
                    let m = moment(&mut self.first[i], h.beta1, false)?;
                    let v = moment(&mut self.second[i], h.beta2, true)?;
                    let apply = adam_cpu::Apply {
                        step: lr / (1.0 - h.beta1.powf(t)),
                        inv_bc2: 1.0 / (1.0 - h.beta2.powf(t)),
                        eps: h.eps,
                    };
                    var.as_tensor().inplace_op3(&m, &v, &apply)?;
                    self.first[i] = Some(m);
                    self.second[i] = Some(v);
                    continue;
                }
                OptimizerKind::Adam => {
                    let m = match &self.first[i] {
                        Some(m) => (m.affine(h.beta1, 0.0)? + g.affine(1.0 - h.beta1, 0.0)?)?,
                        None => g.affine(1.0 - h.beta1, 0.0)?,
                    };
                    let v = match &self.second[i] {
                        Some(v) => {
                            (v.affine(h.beta2, 0.0)? + g.sqr()?.affine(1.0 - h.beta2, 0.0)?)?
                        }
                        None => g.sqr()?.affine(1.0 - h.beta2, 0.0)?,
                    };
                    let bc1 = 1.0 - h.beta1.powf(t);
                    let bc2 = 1.0 - h.beta2.powf(t);
                    let denom = v.affine(1.0 / bc2, 0.0)?.sqrt()?.affine(1.0, h.eps)?;
                    let upd = (m.affine(lr / bc1, 0.0)? / denom)?;
                    self.first[i] = Some(m);
                    self.second[i] = Some(v);
                    upd
                }
            };
            var.set(&(p - update)?)?;
        }
        Ok(())
    }

    /// The state as named tensors (`first.NAME`, `second.NAME`), plus the
    /// step count: copies, since later steps update the moments in place.
    pub fn state(&self) -> Result<(HashMap<String, Tensor>, u64)> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            if let Some(t) = &self.first[i] {
                out.insert(format!("first.{name}"), t.copy()?);
            }
            if let Some(t) = &self.second[i] {
                out.insert(format!("second.{name}"), t.copy()?);
            }
        }
        Ok((out, self.step))
    }

    /// Restores a state saved by [`Optimizer::state`]; every tensor must
    /// belong to a variable of this optimiser and have its shape.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        let index: HashMap<&str, usize> = self
            .vars
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_str(), i))
            .collect();
        let mut first = vec![None; self.vars.len()];
        let mut second = vec![None; self.vars.len()];
        for (key, t) in state {
            let (slot, name) = if let Some(n) = key.strip_prefix("first.") {
                (&mut first, n)
            } else if let Some(n) = key.strip_prefix("second.") {
                (&mut second, n)
            } else {
                return Err(Error::Checkpoint(format!(
                    "optimiser state has an unknown entry {key:?}"
                )));
            };
            let i = *index.get(name).ok_or_else(|| {
                Error::Checkpoint(format!(
                    "optimiser state for {name:?}, which the model does not have"
                ))
            })?;
            let expected = self.vars[i].1.as_tensor().dims();
            if t.dims() != expected {
                return Err(Error::Checkpoint(format!(
                    "optimiser state {key}: shape {:?}, expected {expected:?}",
                    t.dims()
                )));
            }
            // A copy: the moments are updated in place.
            slot[i] = Some(t.to_device(self.vars[i].1.as_tensor().device())?.copy()?);
        }
        self.first = first;
        self.second = second;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Minimise `sum((p - 3)^2)` and compare with a hand-rolled reference of
    /// PyTorch's update rules in f64.
    fn run(kind: OptimizerKind, hyper: Hyper, steps: usize) -> (Vec<f64>, Vec<f64>) {
        let init = vec![0.5f64, -1.0, 2.0];
        let var = Var::from_vec(init.clone(), 3, &Device::Cpu).unwrap();
        let mut opt = Optimizer::new(kind, vec![("p".into(), var.clone())], hyper);
        let lr = 0.1;
        let (mut p, mut m, mut v, mut buf) =
            (init.clone(), vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]);
        for t in 1..=steps {
            let loss = var
                .as_tensor()
                .affine(1.0, -3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            opt.step(&loss.backward().unwrap(), lr, 1.0).unwrap();
            for i in 0..3 {
                let g = 2.0 * (p[i] - 3.0) + hyper.weight_decay * p[i];
                match kind {
                    OptimizerKind::Adam => {
                        m[i] = hyper.beta1 * m[i] + (1.0 - hyper.beta1) * g;
                        v[i] = hyper.beta2 * v[i] + (1.0 - hyper.beta2) * g * g;
                        let mh = m[i] / (1.0 - hyper.beta1.powi(t as i32));
                        let vh = v[i] / (1.0 - hyper.beta2.powi(t as i32));
                        p[i] -= lr * mh / (vh.sqrt() + hyper.eps);
                    }
                    OptimizerKind::Sgd => {
                        buf[i] = if t == 1 {
                            g
                        } else {
                            hyper.momentum * buf[i] + g
                        };
                        let d = if hyper.nesterov {
                            g + hyper.momentum * buf[i]
                        } else {
                            buf[i]
                        };
                        p[i] -= lr * d;
                    }
                }
            }
        }
        (var.as_tensor().to_vec1().unwrap(), p)
    }

    #[test]
    fn updates_follow_pytorch_rules() {
        for (kind, hyper) in [
            (OptimizerKind::Adam, Hyper::default()),
            (
                OptimizerKind::Adam,
                Hyper {
                    weight_decay: 0.01,
                    ..Hyper::default()
                },
            ),
            (OptimizerKind::Sgd, Hyper::default()),
            (
                OptimizerKind::Sgd,
                Hyper {
                    nesterov: true,
                    weight_decay: 5e-4,
                    ..Hyper::default()
                },
            ),
        ] {
            let (ours, reference) = run(kind, hyper, 7);
            for (a, b) in ours.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-12, "{kind:?} {hyper:?}: {a} vs {b}");
            }
        }
    }

    /// The fused CPU passes give the bits of the tensor ops, step after
    /// step, in f32 and f64, with weight decay and gradient scaling, on a
    /// variable larger than one parallel chunk.
    #[test]
    fn fused_adam_gives_the_bits_of_the_tensor_ops() {
        use candle_core::DType;
        let dev = Device::Cpu;
        for dtype in [DType::F32, DType::F64] {
            for (wd, scale) in [(0.0, 1.0), (0.01, 0.5)] {
                let init = Tensor::randn(0f64, 1.0, (7, 10_000), &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap();
                let a = Var::from_tensor(&init).unwrap();
                let b = Var::from_tensor(&init).unwrap();
                let hyper = Hyper {
                    weight_decay: wd,
                    ..Hyper::default()
                };
                let mut fused =
                    Optimizer::new(OptimizerKind::Adam, vec![("w".into(), a.clone())], hyper);
                let mut reference =
                    Optimizer::new(OptimizerKind::Adam, vec![("w".into(), b.clone())], hyper)
                        .unfused();
                let bits = |v: &Var| {
                    v.as_tensor()
                        .to_dtype(DType::F64)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f64>()
                        .unwrap()
                };
                for step in 0..4 {
                    let target = Tensor::randn(0f64, 1.0, (7, 10_000), &dev)
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap();
                    // A loss whose gradient differs in sign and size per element.
                    let loss = |v: &Var| {
                        ((v.as_tensor() - &target).unwrap().sqr().unwrap() * v.as_tensor())
                            .unwrap()
                            .sum_all()
                            .unwrap()
                    };
                    fused
                        .step(&loss(&a).backward().unwrap(), 0.01, scale)
                        .unwrap();
                    reference
                        .step(&loss(&b).backward().unwrap(), 0.01, scale)
                        .unwrap();
                    assert_eq!(bits(&a), bits(&b), "{dtype:?} wd {wd}, step {step}");
                    assert_ne!(bits(&a), bits(&Var::from_tensor(&init).unwrap()));
                }
            }
        }
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let make = || Var::from_vec(vec![1.0f64, 2.0], 2, &Device::Cpu).unwrap();
        let loss = |v: &Var| v.as_tensor().sqr().unwrap().sum_all().unwrap();
        let (a, b) = (make(), make());
        let mut oa = Optimizer::new(
            OptimizerKind::Adam,
            vec![("w".into(), a.clone())],
            Hyper::default(),
        );
        for _ in 0..3 {
            oa.step(&loss(&a).backward().unwrap(), 0.05, 1.0).unwrap();
        }
        b.set(a.as_tensor()).unwrap();
        let mut ob = Optimizer::new(
            OptimizerKind::Adam,
            vec![("w".into(), b.clone())],
            Hyper::default(),
        );
        let (state, step) = oa.state().unwrap();
        ob.load_state(&state, step).unwrap();
        for _ in 0..3 {
            oa.step(&loss(&a).backward().unwrap(), 0.05, 1.0).unwrap();
            ob.step(&loss(&b).backward().unwrap(), 0.05, 1.0).unwrap();
        }
        assert_eq!(
            a.as_tensor().to_vec1::<f64>().unwrap(),
            b.as_tensor().to_vec1::<f64>().unwrap()
        );
        let mut bad = state.clone();
        bad.insert(
            "first.nope".into(),
            Tensor::zeros(2, candle_core::DType::F64, &Device::Cpu).unwrap(),
        );
        assert!(ob.load_state(&bad, 1).is_err());
    }
}
