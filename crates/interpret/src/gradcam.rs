use crate::{check_inputs, invalid, target_logit, AttributionMap, Result};
use candle_core::{Tensor, Var};
use sc_core::SpatialFeatures;

/// GradCAM (Selvaraju et al. 2017): the feature map `A` of the model's last
/// spatial layer, weighted per channel by the spatial mean of the target
/// logit's gradient, `relu(sum_k mean(dF_t/dA_k) A_k)`, upsampled
/// bilinearly to the image. Coarse by construction (the paper's Fig. 6
/// shows it at 1/8 of CIFAR's resolution for ResNet18).
#[derive(Debug, Clone, Copy, Default)]
pub struct GradCam;

impl GradCam {
    /// Stable name for reports.
    pub fn name(&self) -> &'static str {
        "gradcam"
    }

    /// The map of `x` for `target`, and the coarse map `[N, h, w]` before upsampling.
    pub fn attribute(
        &self,
        model: &dyn SpatialFeatures,
        x: &Tensor,
        target: &Tensor,
    ) -> Result<(AttributionMap, Tensor)> {
        let n = check_inputs(model, x, target)?;
        let features = model.features(&x.detach())?.detach();
        if features.rank() != 4 || features.dim(0)? != n {
            return Err(invalid(
                "model",
                format!(
                    "{}'s feature layer {} gave shape {:?}: expected [{n}, K, h, w]",
                    model.name(),
                    model.feature_layer(),
                    features.dims()
                ),
            ));
        }
        let var = Var::from_tensor(&features)?;
        let logits = model.logits_from_features(var.as_tensor())?;
        let grads = target_logit(&logits, target)?.sum_all()?.backward()?;
        let grad = match grads.get(var.as_tensor()) {
            Some(g) => g.detach(),
            None => features.zeros_like()?,
        };
        let weights = grad.mean_keepdim((2, 3))?;
        let coarse = features.broadcast_mul(&weights)?.sum(1)?.relu()?;
        let [c, h, w] = model.input_shape();
        let map = coarse
            .unsqueeze(1)?
            .upsample_bilinear2d(h, w, false)?
            .squeeze(1)?;
        let attributions = map.unsqueeze(1)?.repeat((1, c, 1, 1))?;
        Ok((
            AttributionMap {
                attributions,
                map,
                completeness_gap: None,
                coarse: Some(coarse.clone()),
                lime: None,
            },
            coarse,
        ))
    }
}
