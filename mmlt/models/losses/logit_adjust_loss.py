import math
from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS

from .class_count_loss import ClassCountLoss, ClassCounts


@MODELS.register_module()
class LogitAdjustLoss(ClassCountLoss):
    r"""Logit-adjusted softmax cross-entropy.

    Refers to `Long-tail learning via logit adjustment (ICLR 2021)
    <https://arxiv.org/abs/2007.07314>`_, equation (10). During training the
    logits are shifted by the log of the training label prior
    :math:`\pi_j = n_j / \sum_{j'} n_{j'}` before the cross-entropy:

    .. math::
        \ell(z, y) = -\log
        \frac{e^{z_y + \tau \log \pi_y}}{\sum_j e^{z_j + \tau \log \pi_j}}

    The model's raw logits :math:`z` then estimate the balanced posterior,
    so prediction uses them unchanged (the loss is not applied at test
    time). :math:`\tau = 1` is Fisher-consistent for the balanced error.

    Soft labels :math:`q` (Mixup / CutMix) use the soft cross-entropy on the
    adjusted logits, :math:`\sum_k q_k \ell(z, k)`: the loss is linear in the
    target, so a mix of one-hot targets gets the same mix of losses.

    Args:
        tau (float): Temperature :math:`\tau \ge 0` of the adjustment;
            0 gives the plain cross-entropy. Defaults to 1.0.
        class_counts (Sequence[float], optional): Training images per class.
            Defaults to None: :class:`ClassCountsHook` sets them.
        num_classes (int, optional): Number of classes. Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """
    supports_soft_labels = True

    def __init__(self,
                 tau: float = 1.0,
                 class_counts: Optional[ClassCounts] = None,
                 num_classes: Optional[int] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        if not (isinstance(tau, (int, float)) and math.isfinite(tau)
                and tau >= 0):
            raise ValueError(
                f'LogitAdjustLoss: tau must be a finite number >= 0, got '
                f'{tau!r}.')
        super().__init__(num_classes, reduction, loss_weight)
        self.tau = float(tau)
        self.register_buffer('logit_adjustment', None, persistent=False)
        if class_counts is not None:
            self.set_class_counts(class_counts)

    def _set_class_stats(self, class_counts: torch.Tensor) -> None:
        log_prior = torch.log(class_counts / class_counts.sum())
        self.logit_adjustment = (self.tau * log_prior).float()

    def _training_logits(
            self, cls_score: torch.Tensor, label: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """:math:`z + \\tau \\log \\pi`; no class weights."""
        adjustment = self._on_device(self.logit_adjustment, cls_score)
        return cls_score + adjustment, None

    def extra_repr(self) -> str:
        return f'tau={self.tau}, num_classes={self.num_classes}'
