from typing import List

import torch
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class FrozenFeatureClassifier(ImageClassifier):
    """An :class:`ImageClassifier` that re-trains only its head on a frozen
    feature extractor (stage 2 of decoupled long-tailed training, as in cRT
    and LORT).

    Every parameter of the backbone and the neck gets
    ``requires_grad=False`` when the model is built, i.e. before the runner
    builds the optimizer and wraps the model in DDP, so only the head's
    parameters are trained, DDP synchronises only their gradients, and
    frozen parameters stay bit-identical whatever the optimizer's weight
    decay. During training the features are computed under
    :func:`torch.no_grad`, which saves the backbone's activation memory.

    BatchNorm statistics: with ``norm_eval=True`` (default) the feature
    extractor's BN layers stay in eval mode while training, so they
    normalise with, and keep, the stage-1 running statistics, and the
    features the head is re-trained on are exactly the test-time features.
    ``norm_eval=False`` reproduces the official LORT code, which leaves the
    BN layers in train mode: they normalise each batch with its own
    statistics and their running statistics drift towards the stage-2
    data, while their affine weights stay frozen.

    Load the stage-1 weights with ``load_from`` and add
    :class:`ClassifierRetrainingHook` to ``custom_hooks``: it makes a
    missing stage-1 checkpoint an error and can re-initialise the head.

    Args:
        norm_eval (bool): Keep the feature extractor's BN layers in eval
            mode during training. Defaults to True.
        **kwargs: Arguments of :class:`ImageClassifier` (``backbone``,
            ``neck``, ``head``, ...).
    """

    def __init__(self, norm_eval: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if not self.with_head:
            raise ValueError('FrozenFeatureClassifier re-trains the head, so '
                             'it needs a `head`.')
        if not any(p.requires_grad for p in self.head.parameters()):
            raise ValueError(
                'FrozenFeatureClassifier: the head has no trainable '
                f'parameters ({type(self.head).__name__}), so there would be '
                'nothing to re-train.')
        self.norm_eval = norm_eval
        for param in self._feature_extractor_parameters():
            param.requires_grad_(False)

    def _feature_extractor_modules(self) -> List[torch.nn.Module]:
        return [self.backbone] + ([self.neck] if self.with_neck else [])

    def _feature_extractor_parameters(self):
        for module in self._feature_extractor_modules():
            yield from module.parameters()

    def train(self, mode: bool = True) -> 'FrozenFeatureClassifier':
        """Set train / eval mode; with ``norm_eval`` the feature extractor's
        BN layers stay in eval mode."""
        super().train(mode)
        if mode and self.norm_eval:
            for module in self._feature_extractor_modules():
                for layer in module.modules():
                    if isinstance(layer, _BatchNorm):
                        layer.eval()
        return self

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        """Compute the head's losses on features extracted without
        gradients.

        Args:
            inputs (torch.Tensor): Input batch of shape (N, C, ...).
            data_samples (List[DataSample]): Annotations of every sample.

        Returns:
            dict[str, Tensor]: The head's loss components.
        """
        with torch.no_grad():
            feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples)
