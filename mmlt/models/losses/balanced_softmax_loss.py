from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS

from .class_count_loss import ClassCountLoss, ClassCounts


@MODELS.register_module()
class BalancedSoftmaxLoss(ClassCountLoss):
    r"""Balanced Softmax cross-entropy.

    Refers to `Balanced Meta-Softmax for Long-Tailed Visual Recognition
    (NeurIPS 2020) <https://arxiv.org/abs/2007.10740>`_, equation (4). The
    training softmax weights each class by its number of training images
    :math:`n_j`, which compensates the label shift between the long-tailed
    training set and a balanced test set:

    .. math::
        \hat{p}_j = \frac{n_j e^{z_j}}{\sum_{j'} n_{j'} e^{z_{j'}}},
        \qquad \ell(z, y) = -\log \hat{p}_y
        = \mathrm{CE}(z + \log n, y)

    It equals :class:`LogitAdjustLoss` with ``tau=1``. Prediction uses the
    raw logits (the plain softmax). Soft labels :math:`q` (Mixup / CutMix)
    give :math:`-\sum_k q_k \log \hat{p}_k`, linear in the target.

    Args:
        class_counts (Sequence[float], optional): Training images per class.
            Defaults to None: :class:`ClassCountsHook` sets them.
        num_classes (int, optional): Number of classes. Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """
    supports_soft_labels = True

    def __init__(self,
                 class_counts: Optional[ClassCounts] = None,
                 num_classes: Optional[int] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(num_classes, reduction, loss_weight)
        self.register_buffer('log_class_counts', None, persistent=False)
        if class_counts is not None:
            self.set_class_counts(class_counts)

    def _set_class_stats(self, class_counts: torch.Tensor) -> None:
        self.log_class_counts = torch.log(class_counts).float()

    def _training_logits(
            self, cls_score: torch.Tensor, label: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """:math:`z + \\log n`; no class weights."""
        log_counts = self._on_device(self.log_class_counts, cls_score)
        return cls_score + log_counts, None

    def extra_repr(self) -> str:
        return f'num_classes={self.num_classes}'
