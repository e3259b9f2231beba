import math
from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS

from .class_count_loss import ClassCountLoss, ClassCounts


@MODELS.register_module()
class LDAMLoss(ClassCountLoss):
    r"""Label-distribution-aware margin (LDAM) loss with optional deferred
    re-weighting (DRW).

    Refers to `Learning Imbalanced Datasets with Label-Distribution-Aware
    Margin Loss (NeurIPS 2019) <https://arxiv.org/abs/1906.07413>`_. Class
    :math:`j` with :math:`n_j` training images gets the margin

    .. math::
        m_j = m_{\max} \left(\frac{\min_{j'} n_{j'}}{n_j}\right)^{1/4}
        \propto n_j^{-1/4},

    subtracted from the target logit before a scaled cross-entropy:

    .. math::
        \ell(z, y) = w_y \, \mathrm{CE}\big(s\,(z - m_y e_y),\ y\big).

    DRW: before epoch ``drw_start_epoch`` all :math:`w_j = 1`; from it on
    (0-based epochs, as ``runner.epoch``), :math:`w_j` are the inverse
    effective numbers :math:`(1 - \beta) / (1 - \beta^{n_j})`, normalised to
    sum to :math:`C`. As in the paper's code (PyTorch's weighted
    ``cross_entropy``), ``'mean'`` then divides by the batch's total class
    weight rather than by its size: by ``avg_factor`` (default: the number
    of samples) times the batch mean of :math:`w_y`. ``'sum'`` and
    ``'none'`` return the weighted losses.

    The epoch comes from :meth:`set_epoch`, which :class:`LossEpochHook`
    calls before every training epoch with ``runner.epoch`` (restored on
    resume). With DRW configured the loss refuses to run until it knows the
    epoch.

    Note:
        :math:`s = 30` assumes cosine logits in :math:`[-1, 1]` (the paper
        normalises features and classifier weights); for an unnormalised
        linear classifier use ``scale=1``.

    Args:
        max_margin (float): Largest margin :math:`m_{\max}` (of the rarest
            class). Defaults to 0.5.
        scale (float): Logit scale :math:`s`. Defaults to 30.0.
        drw_start_epoch (int, optional): First (0-based) epoch with the
            re-weighting; None disables DRW. Defaults to None.
        drw_beta (float): :math:`\beta \in (0, 1)` of the effective number.
            Defaults to 0.9999.
        class_counts (Sequence[float], optional): Training images per class.
            Defaults to None: :class:`ClassCountsHook` sets them.
        num_classes (int, optional): Number of classes. Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 max_margin: float = 0.5,
                 scale: float = 30.0,
                 drw_start_epoch: Optional[int] = None,
                 drw_beta: float = 0.9999,
                 class_counts: Optional[ClassCounts] = None,
                 num_classes: Optional[int] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(num_classes, reduction, loss_weight)
        for name, value in (('max_margin', max_margin), ('scale', scale)):
            if not (isinstance(value, (int, float)) and math.isfinite(value)
                    and value > 0):
                raise ValueError(f'LDAMLoss: {name} must be a finite number '
                                 f'> 0, got {value!r}.')
        if drw_start_epoch is not None and (not isinstance(
                drw_start_epoch, int) or drw_start_epoch < 0):
            raise ValueError('LDAMLoss: drw_start_epoch must be None or an '
                             f'integer >= 0, got {drw_start_epoch!r}.')
        if not (isinstance(drw_beta, (int, float)) and 0 < drw_beta < 1):
            raise ValueError(
                f'LDAMLoss: drw_beta must lie in (0, 1), got {drw_beta!r}.')
        self.max_margin = float(max_margin)
        self.scale = float(scale)
        self.drw_start_epoch = drw_start_epoch
        self.drw_beta = float(drw_beta)
        self.epoch: Optional[int] = None
        self.register_buffer('margins', None, persistent=False)
        self.register_buffer('drw_weights', None, persistent=False)
        if class_counts is not None:
            self.set_class_counts(class_counts)

    def _set_class_stats(self, class_counts: torch.Tensor) -> None:
        self.margins = (self.max_margin *
                        (class_counts.min() / class_counts)**0.25).float()
        # 1 - beta ** n, computed without cancellation for beta near 1.
        effective = -torch.expm1(class_counts * math.log(self.drw_beta))
        weights = (1 - self.drw_beta) / effective
        weights = weights * (weights.numel() / weights.sum())
        self.drw_weights = weights.float()

    def set_epoch(self, epoch: int) -> None:
        """Tell the loss the current 0-based training epoch."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(
                f'LDAMLoss: epoch must be an integer >= 0, got {epoch!r}.')
        self.epoch = epoch

    @property
    def drw_active(self) -> bool:
        """Whether the deferred re-weighting applies at the current epoch."""
        if self.drw_start_epoch is None:
            return False
        if self.epoch is None:
            raise RuntimeError(
                f'LDAMLoss(drw_start_epoch={self.drw_start_epoch}) does not '
                "know the epoch: add dict(type='LossEpochHook') to "
                'custom_hooks, or call set_epoch(epoch).')
        return self.epoch >= self.drw_start_epoch

    def _training_logits(
            self, cls_score: torch.Tensor, label: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """:math:`s (z - m_y e_y)`, and the DRW weights once active."""
        class_weight = None
        if self.drw_active:
            class_weight = self._on_device(self.drw_weights, cls_score)
        index = label.view(-1, 1)
        margins = self._on_device(self.margins, cls_score)[index]
        # s * (z - m_y e_y): scale, then subtract s * m_y at the targets
        # (in place on the product, whose backward does not need it).
        logits = cls_score * self.scale
        logits.scatter_add_(1, index,
                            margins.to(logits.dtype).mul_(-self.scale))
        return logits, class_weight

    def extra_repr(self) -> str:
        return (f'max_margin={self.max_margin}, scale={self.scale}, '
                f'drw_start_epoch={self.drw_start_epoch}, '
                f'drw_beta={self.drw_beta}, num_classes={self.num_classes}')
