//! Where a network's tensors come from. The architecture code walks the
//! network once per source, asking for each parameter by its torchvision
//! name, so initialisation, loading and the train/eval networks cannot
//! disagree on names or shapes.

use crate::Result;
use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use sc_core::Seed;
use std::collections::{BTreeSet, HashMap};

/// What a parameter is, which decides its initialisation and whether the
/// optimiser sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    Conv,
    BnWeight,
    BnBias,
    BnRunningMean,
    BnRunningVar,
    LinearWeight,
    /// A linear layer's bias; its initialisation depends on the weight's fan-in.
    LinearBias {
        fan_in: usize,
    },
}

impl ParamKind {
    /// BatchNorm running statistics: state, not parameters.
    pub(crate) fn is_running_stat(self) -> bool {
        matches!(self, ParamKind::BnRunningMean | ParamKind::BnRunningVar)
    }
}

/// Hands out the tensor of each named parameter.
pub(crate) trait ParamSource {
    fn param(&mut self, name: &str, shape: &[usize], kind: ParamKind) -> Result<Tensor>;
}

/// torchvision's initialisation, drawn from `seed`: conv weights Kaiming
/// normal (fan_out, ReLU gain), BN weight 1, bias 0, running mean 0 and
/// variance 1, linear weight and bias uniform in `±1/sqrt(fan_in)`.
///
/// Each parameter draws from its own stream, named after it, so the values
/// of one parameter depend only on the seed and its name (not on the order
/// of the walk or on other layers).
pub(crate) struct InitSource {
    seed: Seed,
    dtype: DType,
    device: Device,
    pub(crate) tensors: Vec<(String, Tensor)>,
}

impl InitSource {
    pub(crate) fn new(seed: Seed, dtype: DType, device: &Device) -> Self {
        InitSource {
            seed: seed.derive("init"),
            dtype,
            device: device.clone(),
            tensors: Vec::new(),
        }
    }
}

impl ParamSource for InitSource {
    fn param(&mut self, name: &str, shape: &[usize], kind: ParamKind) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let mut rng = self.seed.stream(name);
        let values: Vec<f64> = match kind {
            ParamKind::Conv => {
                let fan_out = shape[0] * shape[2] * shape[3];
                let std = (2.0 / fan_out as f64).sqrt();
                sc_core::standard_normals(&mut rng, n)
                    .into_iter()
                    .map(|z| z * std)
                    .collect()
            }
            ParamKind::BnWeight | ParamKind::BnRunningVar => vec![1.0; n],
            ParamKind::BnBias | ParamKind::BnRunningMean => vec![0.0; n],
            ParamKind::LinearWeight | ParamKind::LinearBias { .. } => {
                let fan_in = match kind {
                    ParamKind::LinearBias { fan_in } => fan_in,
                    _ => shape[1],
                };
                let bound = 1.0 / (fan_in as f64).sqrt();
                (0..n)
                    .map(|_| -bound + 2.0 * bound * rng.random::<f64>())
                    .collect()
            }
        };
        let t = Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?;
        self.tensors.push((name.to_string(), t.clone()));
        Ok(t)
    }
}

/// The tensors of a model's `Var`s. For the eval network (`detached`),
/// weights are detached views: they share storage with the `Var`s, so
/// optimiser updates are seen, but backward never reaches them. Running
/// statistics stay the `Var`s themselves in both networks, because candle's
/// `BatchNorm` copies a non-`Var` tensor and would then miss the updates of
/// train-mode forwards; its eval path reads them detached anyway.
pub(crate) struct VarSource<'a> {
    pub(crate) vars: &'a HashMap<String, Var>,
    pub(crate) detached: bool,
}

impl ParamSource for VarSource<'_> {
    fn param(&mut self, name: &str, shape: &[usize], kind: ParamKind) -> Result<Tensor> {
        let var = self.vars.get(name).ok_or_else(|| {
            candle_core::Error::Msg(format!("internal: no variable {name} in the model"))
        })?;
        if var.dims() != shape {
            return Err(candle_core::Error::Msg(format!(
                "internal: variable {name} has shape {:?}, expected {shape:?}",
                var.dims()
            ))
            .into());
        }
        Ok(if self.detached && !kind.is_running_stat() {
            var.as_detached_tensor()
        } else {
            var.as_tensor().clone()
        })
    }
}

/// Tensors of a weights file, checked against what the architecture asks
/// for. Every problem is recorded (a stand-in of the expected shape keeps
/// the walk going), so one error can list them all.
pub(crate) struct LoadSource {
    file: HashMap<String, Tensor>,
    dtype: DType,
    device: Device,
    used: BTreeSet<String>,
    pub(crate) problems: Vec<String>,
    pub(crate) tensors: Vec<(String, Tensor)>,
}

/// File entries that are not parameters of the network: PyTorch's BN step
/// counters and our normalisation constants.
fn is_auxiliary(name: &str) -> bool {
    name.ends_with("num_batches_tracked") || name.starts_with("normalize.")
}

impl LoadSource {
    pub(crate) fn new(file: HashMap<String, Tensor>, dtype: DType, device: &Device) -> Self {
        LoadSource {
            file,
            dtype,
            device: device.clone(),
            used: BTreeSet::new(),
            problems: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Records every file entry the walk did not ask for.
    pub(crate) fn finish(&mut self) {
        let mut extra: Vec<&String> = self
            .file
            .keys()
            .filter(|k| !self.used.contains(*k) && !is_auxiliary(k))
            .collect();
        extra.sort();
        for k in extra {
            self.problems
                .push(format!("{k}: unexpected (shape {:?})", self.file[k].dims()));
        }
    }
}

impl ParamSource for LoadSource {
    fn param(&mut self, name: &str, shape: &[usize], _kind: ParamKind) -> Result<Tensor> {
        self.used.insert(name.to_string());
        let t = match self.file.get(name) {
            None => {
                self.problems
                    .push(format!("{name}: missing (expected {shape:?})"));
                None
            }
            Some(t) if t.dims() != shape => {
                self.problems
                    .push(format!("{name}: expected {shape:?}, found {:?}", t.dims()));
                None
            }
            Some(t) if !t.dtype().is_float() => {
                self.problems
                    .push(format!("{name}: not a float tensor ({:?})", t.dtype()));
                None
            }
            Some(t) => Some(t.to_dtype(self.dtype)?),
        };
        let t = match t {
            Some(t) => t,
            None => Tensor::zeros(shape, self.dtype, &self.device)?,
        };
        self.tensors.push((name.to_string(), t.clone()));
        Ok(t)
    }
}
