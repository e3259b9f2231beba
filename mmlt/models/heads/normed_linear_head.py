import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .logits_linear_head import LogitsLinearClsHead


@MODELS.register_module()
class NormedLinearClsHead(LogitsLinearClsHead):
    r"""Cosine classifier head, the ``NormedLinear`` layer of LDAM-DRW.

    Refers to `Learning Imbalanced Datasets with Label-Distribution-Aware
    Margin Loss (NeurIPS 2019) <https://arxiv.org/abs/1906.07413>`_. Features
    :math:`x` and class weights :math:`w_j` are L2-normalised, there is no
    bias:

    .. math::
        z_j = \frac{x^\top w_j}{\lVert x \rVert_2 \lVert w_j \rVert_2}
        \in [-1, 1].

    :meth:`forward` returns these cosines, the training logits of a loss
    that applies its own scale, e.g. :class:`LDAMLoss` (``scale`` s = 30,
    margins on the cosine scale). Predictions use the scaled logits
    :math:`s z` (``pred_logits``) and :math:`\mathrm{softmax}(s z)`
    (``pred_score``), the distribution the loss is fitted to, so confidence
    (ECE) and post-hoc re-balancing of the logits are meaningful; the
    predicted labels do not depend on :math:`s`. Set ``scale`` to the
    loss's scale.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Number of input channels.
        scale (float): Factor :math:`s > 0` of the prediction logits.
            Defaults to 30.0 (:class:`LDAMLoss`'s default).
        init_cfg (dict, optional): Initialisation config. Defaults to None:
            the LDAM-DRW initialisation, each class weight drawn uniformly in
            :math:`[-1, 1]^D` and rescaled to unit norm.
        **kwargs: Other arguments of :class:`LinearClsHead` (``loss``,
            ``topk``, ``cal_acc``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 scale: float = 30.0,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if not (isinstance(scale, (int, float)) and math.isfinite(scale)
                and scale > 0):
            raise ValueError('NormedLinearClsHead: scale must be a finite '
                             f'number > 0, got {scale!r}.')
        super().__init__(
            num_classes, in_channels, init_cfg=init_cfg, **kwargs)
        self.scale = float(scale)
        self.fc = nn.Linear(in_channels, num_classes, bias=False)

    def init_weights(self) -> None:
        """Apply ``init_cfg``, or without one the LDAM-DRW initialisation
        (unit-norm class weights with uniformly drawn entries)."""
        initialised = self.is_init
        super().init_weights()
        if not initialised and self.init_cfg is None:
            with torch.no_grad():
                weight = self.fc.weight.uniform_(-1, 1)
                weight.div_(weight.norm(dim=1, keepdim=True))

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Cosines between the features and the class weights, (N, C)."""
        pre_logits = self.pre_logits(feats)
        return F.linear(
            F.normalize(pre_logits, dim=1), F.normalize(self.fc.weight,
                                                        dim=1))

    def _get_predictions(
            self, cls_score: torch.Tensor,
            data_samples: Optional[List[Optional[DataSample]]]
    ) -> List[DataSample]:
        return super()._get_predictions(cls_score * self.scale, data_samples)

    def extra_repr(self) -> str:
        return f'scale={self.scale}'
