use candle_core::Tensor;

/// An image classifier seen from outside: eval-mode logits of pixels.
///
/// Inputs are `[N, C, H, W]` f32 tensors with pixels in `[0, 1]`; any
/// per-dataset normalisation is the model's first layer, so epsilons of
/// attacks are in pixel units (8/255) as in the paper (Sec. 4.4).
///
/// `logits` is the representation `F(x)` of the paper (Sec. 2.1). It always
/// runs the model in evaluation mode (BatchNorm running statistics): attacks,
/// probes and attributions cannot alter the model. Implementations should not
/// track gradients of their weights here, so that an input gradient does not
/// pay for weight gradients.
pub trait Classifier {
    /// Logits `[N, num_classes]` of a batch `[N, C, H, W]` in `[0, 1]`.
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor>;
    /// Number of classes (width of the logits).
    fn num_classes(&self) -> usize;
    /// Expected `[C, H, W]` of one input image.
    fn input_shape(&self) -> [usize; 3];
    /// A stable name for reports, e.g. `resnet18`.
    fn name(&self) -> &str;
}

/// A classifier that exposes an intermediate spatial feature map, so that
/// GradCAM can weight it by the gradient of a class score (Sec. 4.5).
pub trait SpatialFeatures: Classifier {
    /// Name of the layer whose output [`SpatialFeatures::features`] returns.
    fn feature_layer(&self) -> &str;
    /// The feature map `[N, K, h, w]` of `x`, in eval mode.
    fn features(&self, x: &Tensor) -> candle_core::Result<Tensor>;
    /// Logits from a feature map returned by [`SpatialFeatures::features`].
    fn logits_from_features(&self, features: &Tensor) -> candle_core::Result<Tensor>;
}
