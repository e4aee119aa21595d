use crate::arch::{Arch, NetConfig};
use crate::conv::ConvImpl;
use crate::io::write_atomic;
use crate::net::Net;
use crate::normalize::Normalize;
use crate::params::{InitSource, LoadSource, VarSource};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use sc_core::{Classifier, Seed, SpatialFeatures};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// How many mismatches a weights error lists.
const MAX_LISTED_PROBLEMS: usize = 8;

/// A classifier of the zoo: its weights (a candle `VarMap` with
/// torchvision's names), its architecture and its input normalisation.
///
/// Two instances of the network share the weights' storage:
/// - the eval network, behind [`Classifier::logits`]: BatchNorm running
///   statistics and *detached* weights, so an input gradient (attacks,
///   saliency) never computes weight gradients, and nothing reached through
///   [`Classifier`] can change the model;
/// - the train network, behind [`Model::forward_train`]: batch statistics,
///   running-statistic updates and the trainable `Var`s in the graph.
///
/// Optimiser updates (`Var::set`) write the shared storage in place, so the
/// eval network always sees the current weights.
///
/// Convolutions run as [`Model::conv_impl`] says: on the CPU by default
/// [`ConvImpl::Fast`], whose backward skips the gradients of detached
/// weights and whose eval path folds BatchNorm into the conv.
pub struct Model {
    config: NetConfig,
    input_shape: [usize; 3],
    normalize: Option<Normalize>,
    norm: Option<(Tensor, Tensor)>,
    varmap: VarMap,
    train_net: Net,
    eval_net: Net,
    conv_impl: ConvImpl,
    /// The stage whose output GradCAM reads (an index of
    /// `eval_net.feature_layers()`; the last by default).
    feature_stage: usize,
    dtype: DType,
    device: Device,
}

impl Model {
    /// A freshly initialised `arch` for `num_classes` classes and inputs of
    /// `input_shape` `[C, H, W]`, with torchvision's initialisation drawn
    /// from `seed` (the same seed gives bit-identical weights).
    pub fn new(
        arch: Arch,
        num_classes: usize,
        input_shape: [usize; 3],
        normalize: Option<Normalize>,
        seed: Seed,
        dtype: DType,
        device: &Device,
    ) -> Result<Model> {
        let config = arch.config(num_classes, input_shape[0]);
        Model::from_config(config, input_shape, normalize, seed, dtype, device)
    }

    /// As [`Model::new`] for any network, e.g. a tiny custom ResNet.
    pub fn from_config(
        config: NetConfig,
        input_shape: [usize; 3],
        normalize: Option<Normalize>,
        seed: Seed,
        dtype: DType,
        device: &Device,
    ) -> Result<Model> {
        check(&config, input_shape, normalize.as_ref(), dtype)?;
        let mut init = InitSource::new(seed, dtype, device);
        Net::new(&config, &mut init)?;
        Model::assemble(config, input_shape, normalize, init.tensors, dtype, device)
    }

    /// Loads `arch` from a safetensors file with torchvision's names. The
    /// class count comes from `fc.weight`, the input channels from
    /// `conv1.weight`, the image size is the architecture's default, the
    /// dtype f64 if `fc.weight` is f64 and f32 otherwise (half-precision
    /// files are widened); `normalize.mean` / `normalize.std`, when
    /// present, give the normalisation. `num_batches_tracked` entries are
    /// ignored. Any missing, unexpected or misshapen tensor is an error that
    /// lists the first few and names the file.
    pub fn load(arch: Arch, path: impl AsRef<Path>, device: &Device) -> Result<Model> {
        Model::load_as(arch.config(1, 1), arch.default_input_size(), path, device)
    }

    /// As [`Model::load`] for any network and image size `[H, W]`; the
    /// class and channel counts of `config` are replaced by the file's.
    pub fn load_as(
        config: NetConfig,
        input_size: [usize; 2],
        path: impl AsRef<Path>,
        device: &Device,
    ) -> Result<Model> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Model::from_bytes(config, input_size, &bytes, path, device)
    }

    pub(crate) fn from_bytes(
        config: NetConfig,
        input_size: [usize; 2],
        bytes: &[u8],
        path: &Path,
        device: &Device,
    ) -> Result<Model> {
        let file = candle_core::safetensors::load_buffer(bytes, device)
            .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
        let mismatch = |problems: Vec<String>| Error::WeightsMismatch {
            path: path.to_path_buf(),
            arch: config.name().to_string(),
            count: problems.len(),
            problems: problems.into_iter().take(MAX_LISTED_PROBLEMS).collect(),
        };
        let (num_classes, dtype) = match file.get("fc.weight") {
            Some(t) if t.rank() == 2 && t.dtype().is_float() => (
                t.dims()[0],
                match t.dtype() {
                    DType::F64 => DType::F64,
                    _ => DType::F32,
                },
            ),
            Some(t) => {
                return Err(mismatch(vec![format!(
                    "fc.weight: expected a [classes, features] float tensor, found {:?} {:?}",
                    t.dims(),
                    t.dtype()
                )]))
            }
            None => return Err(mismatch(vec!["fc.weight: missing".into()])),
        };
        let in_channels = match file.get("conv1.weight") {
            Some(t) if t.rank() == 4 => t.dims()[1],
            Some(t) => {
                return Err(mismatch(vec![format!(
                    "conv1.weight: expected [out, in, k, k], found {:?}",
                    t.dims()
                )]))
            }
            None => return Err(mismatch(vec!["conv1.weight: missing".into()])),
        };
        let normalize = read_normalize(&file, path)?;
        let config = config.with_io(num_classes, in_channels);
        let input_shape = [in_channels, input_size[0], input_size[1]];
        check(&config, input_shape, normalize.as_ref(), dtype)
            .map_err(|e| Error::format(path, e.to_string()))?;
        let mut src = LoadSource::new(file, dtype, device);
        Net::new(&config, &mut src)?;
        src.finish();
        if !src.problems.is_empty() {
            return Err(mismatch(src.problems));
        }
        Model::assemble(config, input_shape, normalize, src.tensors, dtype, device)
    }

    fn assemble(
        config: NetConfig,
        input_shape: [usize; 3],
        normalize: Option<Normalize>,
        tensors: Vec<(String, Tensor)>,
        dtype: DType,
        device: &Device,
    ) -> Result<Model> {
        let varmap = VarMap::new();
        let (train_net, eval_net) = {
            let mut vars = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
            for (name, t) in tensors {
                vars.insert(name, Var::from_tensor(&t)?);
            }
            let train = Net::new(
                &config,
                &mut VarSource {
                    vars: &vars,
                    detached: false,
                },
            )?;
            let eval = Net::new(
                &config,
                &mut VarSource {
                    vars: &vars,
                    detached: true,
                },
            )?;
            (train, eval)
        };
        let norm = match &normalize {
            Some(n) => Some(n.tensors(dtype, device)?),
            None => None,
        };
        let feature_stage = eval_net.feature_layers().len() - 1;
        Ok(Model {
            config,
            input_shape,
            normalize,
            norm,
            varmap,
            train_net,
            eval_net,
            feature_stage,
            conv_impl: ConvImpl::auto(device, dtype),
            dtype,
            device: device.clone(),
        })
    }

    /// The layers GradCAM can read ([`SpatialFeatures::features`]), in
    /// forward order: the output of each stage (`block1..4` of the small
    /// CNN, `layer1..4` of a ResNet; torchvision's names).
    pub fn feature_layers(&self) -> Vec<String> {
        self.eval_net.feature_layers()
    }

    /// Makes [`SpatialFeatures`] read `layer` (one of
    /// [`Model::feature_layers`]; the last stage by default, as GradCAM's
    /// paper does). An unknown name is an error listing the available ones.
    pub fn set_feature_layer(&mut self, layer: &str) -> Result<()> {
        let layers = self.feature_layers();
        match layers.iter().position(|l| l == layer) {
            Some(i) => {
                self.feature_stage = i;
                Ok(())
            }
            None => Err(Error::Invalid {
                what: "layer",
                problem: format!(
                    "{layer:?} is not a layer of this model: expected one of {}",
                    layers.join(", ")
                ),
            }),
        }
    }

    /// Writes the weights (torchvision names) and `normalize.*` to a
    /// safetensors file, atomically (temporary file + rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_bytes(path.as_ref()).map(|_| ())
    }

    /// Saves and returns the bytes written, for the checkpoint's hash.
    pub(crate) fn save_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let mut tensors: HashMap<String, Tensor> = self
            .named_vars()
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().clone()))
            .collect();
        if let Some(n) = &self.normalize {
            let t = |v: &[f64]| Tensor::from_slice(v, v.len(), &Device::Cpu);
            tensors.insert("normalize.mean".into(), t(n.mean())?);
            tensors.insert("normalize.std".into(), t(n.std())?);
        }
        write_atomic(path, |tmp| {
            candle_core::safetensors::save(&tensors, tmp)
                .map_err(|e| Error::format(path, format!("cannot write: {e}")))?;
            std::fs::read(tmp).map_err(|e| Error::io(tmp, e))
        })
    }

    /// Train-mode forward of `[0, 1]` pixels: BatchNorm uses batch
    /// statistics and updates its running mean and variance in place
    /// (momentum 0.1, as PyTorch); the trainable `Var`s are in the graph.
    ///
    /// Only the trainer (`sc-train`) calls this; everything else sees the
    /// model through [`Classifier`], whose forward cannot change it.
    ///
    /// The batch needs at least two images: batch statistics of one image
    /// are degenerate wherever a feature map is 1x1 (PyTorch refuses too).
    pub fn forward_train(&self, x: &Tensor) -> Result<Tensor> {
        if x.dims().first().is_some_and(|&n| n < 2) {
            return Err(Error::invalid(
                "training batch",
                format!("shape {:?}: need at least 2 images", x.dims()),
            ));
        }
        Ok(self.train_net.forward_t(&self.input(x)?, true)?)
    }

    /// Every parameter the optimiser updates, sorted by name: all weights
    /// and biases, not the BatchNorm running statistics (updated by
    /// [`Model::forward_train`]) nor the normalisation constants (not
    /// variables at all).
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        self.named_vars()
            .into_iter()
            .filter(|(k, _)| !is_running_stat(k))
            .collect()
    }

    /// Every variable (parameters and running statistics), sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let vars = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<(String, Var)> =
            vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The variables, as candle's optimisers and `VarMap::save` expect them.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// A copy with the same weights (not shared), normalisation, shape and
    /// convolution implementation.
    pub fn deep_clone(&self) -> Result<Model> {
        let tensors = self.copied_tensors(|_| true)?;
        Model::assemble(
            self.config,
            self.input_shape,
            self.normalize.clone(),
            tensors,
            self.dtype,
            &self.device,
        )?
        .with_conv_impl(self.conv_impl)
    }

    /// How the convolutions are computed: by default [`ConvImpl::Fast`] on
    /// the CPU in f32 and f64, candle's own elsewhere ([`ConvImpl::auto`]).
    pub fn conv_impl(&self) -> ConvImpl {
        self.conv_impl
    }

    /// The same model with its convolutions computed by `imp` (e.g.
    /// [`ConvImpl::Candle`] as a reference); an error if `imp` does not
    /// support the model's device and dtype. Results agree within float
    /// noise.
    pub fn with_conv_impl(mut self, imp: ConvImpl) -> Result<Model> {
        if !imp.supports(&self.device, self.dtype) {
            return Err(Error::invalid(
                "convolution implementation",
                format!(
                    "{imp:?} does not run on {:?} in {:?}",
                    self.device.location(),
                    self.dtype
                ),
            ));
        }
        self.train_net.set_conv_impl(imp);
        self.eval_net.set_conv_impl(imp);
        self.conv_impl = imp;
        Ok(self)
    }

    /// A copy for `num_classes` classes: the same (copied) weights except a
    /// fresh `fc` drawn from `seed`, for fine-tuning on another data set
    /// (the paper's transfer experiment, Sec. 4.6).
    pub fn with_new_head(&self, num_classes: usize, seed: Seed) -> Result<Model> {
        let config = self.config.with_io(num_classes, self.input_shape[0]);
        check(
            &config,
            self.input_shape,
            self.normalize.as_ref(),
            self.dtype,
        )?;
        let mut init = InitSource::new(seed, self.dtype, &self.device);
        Net::new(&config, &mut init)?;
        let mut tensors = self.copied_tensors(|k| !k.starts_with("fc."))?;
        tensors.extend(
            init.tensors
                .into_iter()
                .filter(|(k, _)| k.starts_with("fc.")),
        );
        Model::assemble(
            config,
            self.input_shape,
            self.normalize.clone(),
            tensors,
            self.dtype,
            &self.device,
        )?
        .with_conv_impl(self.conv_impl)
    }

    /// The same model with another input normalisation.
    pub fn with_normalize(self, normalize: Option<Normalize>) -> Result<Model> {
        check(
            &self.config,
            self.input_shape,
            normalize.as_ref(),
            self.dtype,
        )?;
        let norm = match &normalize {
            Some(n) => Some(n.tensors(self.dtype, &self.device)?),
            None => None,
        };
        Ok(Model {
            normalize,
            norm,
            ..self
        })
    }

    fn copied_tensors(&self, keep: impl Fn(&str) -> bool) -> Result<Vec<(String, Tensor)>> {
        self.named_vars()
            .into_iter()
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| Ok((k, v.as_tensor().copy()?)))
            .collect()
    }

    /// The network.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// The preset architecture, if the network is one.
    pub fn arch(&self) -> Option<Arch> {
        self.config.arch()
    }

    /// The input normalisation, if any.
    pub fn normalize(&self) -> Option<&Normalize> {
        self.normalize.as_ref()
    }

    /// The dtype of the weights and of the logits.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device of the weights.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Checks the input's shape, converts it to the model's dtype and
    /// normalises it.
    fn input(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let c = self.input_shape[0];
        if dims.len() != 4 || dims[1] != c {
            candle_core::bail!(
                "{}: input of shape {dims:?}, expected [N, {c}, H, W]",
                self.config.name()
            );
        }
        if let Err(problem) = self.config.check_input_size(dims[2], dims[3]) {
            candle_core::bail!("{problem}");
        }
        let x = x.to_dtype(self.dtype)?;
        match &self.norm {
            Some((mean, std)) => x.broadcast_sub(mean)?.broadcast_div(std),
            None => Ok(x),
        }
    }
}

fn is_running_stat(name: &str) -> bool {
    name.ends_with(".running_mean") || name.ends_with(".running_var")
}

fn check(
    config: &NetConfig,
    input_shape: [usize; 3],
    normalize: Option<&Normalize>,
    dtype: DType,
) -> Result<()> {
    config.validate()?;
    if input_shape[0] != config.in_channels() {
        return Err(Error::invalid(
            "input shape",
            format!(
                "{input_shape:?} has {} channels, the network takes {}",
                input_shape[0],
                config.in_channels()
            ),
        ));
    }
    config
        .check_input_size(input_shape[1], input_shape[2])
        .map_err(|p| Error::invalid("input shape", p))?;
    if let Some(n) = normalize {
        if n.channels() != input_shape[0] {
            return Err(Error::invalid(
                "normalisation",
                format!(
                    "{} channels, the input has {}",
                    n.channels(),
                    input_shape[0]
                ),
            ));
        }
    }
    if !matches!(dtype, DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
        return Err(Error::invalid(
            "dtype",
            format!("{dtype:?}: a model needs a float dtype"),
        ));
    }
    Ok(())
}

/// `normalize.mean` and `normalize.std` of a weights file: both or neither.
fn read_normalize(file: &HashMap<String, Tensor>, path: &Path) -> Result<Option<Normalize>> {
    let read = |name: &str| -> Result<Option<Vec<f64>>> {
        match file.get(name) {
            None => Ok(None),
            Some(t) if t.rank() == 1 && t.dtype().is_float() => {
                Ok(Some(t.to_dtype(DType::F64)?.to_vec1::<f64>()?))
            }
            Some(t) => Err(Error::format(
                path,
                format!(
                    "{name}: expected a [C] float tensor, found {:?} {:?}",
                    t.dims(),
                    t.dtype()
                ),
            )),
        }
    };
    match (read("normalize.mean")?, read("normalize.std")?) {
        (None, None) => Ok(None),
        (Some(mean), Some(std)) => Normalize::new(mean, std)
            .map(Some)
            .map_err(|e| Error::format(path, e.to_string())),
        _ => Err(Error::format(
            path,
            "normalize.mean and normalize.std must both be present or both absent",
        )),
    }
}

impl Classifier for Model {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.eval_net.forward_t(&self.input(x)?, false)
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes()
    }

    fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }

    fn name(&self) -> &str {
        self.config.name()
    }
}

impl SpatialFeatures for Model {
    fn feature_layer(&self) -> &str {
        // Names are built per call in `feature_layers`; the chosen one is
        // one of a fixed set, so return it as a static string.
        const SMALL: [&str; 4] = ["block1", "block2", "block3", "block4"];
        const RESNET: [&str; 4] = ["layer1", "layer2", "layer3", "layer4"];
        match self.config {
            NetConfig::SmallCnn { .. } => SMALL[self.feature_stage],
            NetConfig::ResNet(_) => RESNET[self.feature_stage],
        }
    }

    fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.eval_net
            .features_at(&self.input(x)?, self.feature_stage, false)
    }

    fn logits_from_features(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        self.eval_net
            .logits_from_stage(features, self.feature_stage)
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.config)
            .field("input_shape", &self.input_shape)
            .field("normalize", &self.normalize)
            .field("dtype", &self.dtype)
            .field("conv_impl", &self.conv_impl)
            .finish_non_exhaustive()
    }
}
