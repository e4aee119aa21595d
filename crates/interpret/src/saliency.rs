use crate::{check_inputs, target_gradient, Attribution, AttributionMap, Result};
use candle_core::Tensor;
use sc_core::Classifier;

/// The gradient of the target logit with respect to the pixels (Simonyan et
/// al. 2014, "Deep inside convolutional networks"); the map is the largest
/// absolute gradient over the colour channels of each pixel.
#[derive(Debug, Clone, Copy, Default)]
pub struct Saliency;

impl Attribution for Saliency {
    fn name(&self) -> &'static str {
        "saliency"
    }

    fn attribute(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        target: &Tensor,
    ) -> Result<AttributionMap> {
        check_inputs(model, x, target)?;
        let (grad, _) = target_gradient(model, x, target)?;
        let map = grad.abs()?.max(1)?;
        Ok(AttributionMap {
            attributions: grad,
            map,
            completeness_gap: None,
            coarse: None,
            lime: None,
        })
    }
}
