from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss

ClassCounts = Union[Sequence[float], np.ndarray, torch.Tensor]


class ClassCountLoss(nn.Module):
    """Base of the classification losses that depend on the number of
    training images per class (logit adjustment, Balanced Softmax, LDAM).

    The counts are given either explicitly (a subclass's ``class_counts``
    argument, passed on to :meth:`set_class_counts` at the end of its
    ``__init__``) or later by :class:`ClassCountsHook`, which calls
    :meth:`set_class_counts` at ``before_train`` with the train dataset's
    ``train_class_counts``. The per-class quantities a subclass derives from
    them (``O(C)``) live in non-persistent buffers: they are a property of
    the training set, not of the model, so checkpoints do not carry them.

    Labels are checked on every call: hard labels must be integer class
    indices of shape ``(N, )`` in ``[0, C)``; soft labels (``(N, C)`` float
    rows of non-negative weights summing to 1, as produced by Mixup / CutMix)
    are accepted only by subclasses that set ``supports_soft_labels``.

    Args:
        num_classes (int, optional): Number of classes, checked against the
            counts and the scores. Defaults to None (taken from the counts).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """
    supports_soft_labels = False

    def __init__(self,
                 num_classes: Optional[int] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'{type(self).__name__}: reduction must be '
                             f"'none', 'mean' or 'sum', got {reduction!r}.")
        if num_classes is not None and (not isinstance(num_classes, int)
                                        or num_classes < 2):
            raise ValueError(f'{type(self).__name__}: num_classes must be an '
                             f'integer >= 2, got {num_classes!r}.')
        self.num_classes = num_classes
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_counts: Optional[torch.Tensor] = None

    def set_class_counts(self, class_counts: ClassCounts) -> None:
        """Validate and store the training images per class (positive,
        float64 on CPU), then derive the loss's per-class buffers
        (:meth:`_set_class_stats`)."""
        counts = torch.as_tensor(class_counts).detach().cpu().double()
        name = type(self).__name__
        if counts.dim() != 1 or counts.numel() < 2:
            raise ValueError(f'{name}: class_counts must be a 1-D sequence of '
                             f'at least 2 counts, got shape '
                             f'{tuple(counts.shape)}.')
        bad = ~(torch.isfinite(counts) & (counts > 0))
        if bad.any():
            index = int(bad.nonzero()[0])
            raise ValueError(
                f'{name}: every class needs a positive, finite training '
                f'count, but class {index} has {counts[index].item():g}.')
        if self.num_classes is not None and counts.numel() != self.num_classes:
            raise ValueError(
                f'{name}: got {counts.numel()} class counts but '
                f'num_classes={self.num_classes}.')
        self.num_classes = counts.numel()
        self.class_counts = counts
        self._set_class_stats(counts)

    def _set_class_stats(self, class_counts: torch.Tensor) -> None:
        """Derive the loss's per-class buffers from float64 counts."""
        raise NotImplementedError

    @staticmethod
    def _on_device(buffer: torch.Tensor,
                   reference: torch.Tensor) -> torch.Tensor:
        """``buffer`` on the device of ``reference`` (no copy if there)."""
        if buffer.device != reference.device:
            buffer = buffer.to(reference.device)
        return buffer

    def _check_inputs(self, cls_score: torch.Tensor,
                      label: torch.Tensor,
                      weight: Optional[torch.Tensor]) -> bool:
        """Raise a ValueError naming the bad input; return whether ``label``
        holds soft labels."""
        name = type(self).__name__
        if self.class_counts is None:
            raise RuntimeError(
                f'{name} has no class counts: pass class_counts=[...] or add '
                "dict(type='ClassCountsHook') to custom_hooks so they are "
                "read from the train dataset's metainfo.")
        if cls_score.dim() != 2:
            raise ValueError(f'{name} expects cls_score of shape (N, C), got '
                             f'{tuple(cls_score.shape)}.')
        num_samples, num_classes = cls_score.shape
        if num_classes != self.num_classes:
            raise ValueError(
                f'{name} has {self.num_classes} class counts but cls_score '
                f'has {num_classes} classes (shape '
                f'{tuple(cls_score.shape)}).')
        if weight is not None and tuple(weight.shape) != (num_samples, ):
            raise ValueError(f'{name}: weight must have shape '
                             f'({num_samples},), got {tuple(weight.shape)}.')
        if label.dim() == 2 and label.is_floating_point():
            if tuple(label.shape) != tuple(cls_score.shape):
                raise ValueError(
                    f'{name}: soft labels must have the shape of cls_score '
                    f'{tuple(cls_score.shape)}, got {tuple(label.shape)}.')
            if not self.supports_soft_labels:
                raise ValueError(
                    f'{name} needs hard labels (class indices of shape '
                    f'({num_samples},)), got soft labels of shape '
                    f'{tuple(label.shape)}; batch augments such as Mixup or '
                    'CutMix produce these.')
            self._check_soft_labels(label)
            return True
        if label.dim() != 1 or label.is_floating_point() or (label.dtype
                                                              == torch.bool):
            hint = (' or soft labels of shape (N, C)'
                    if self.supports_soft_labels else '')
            raise ValueError(
                f'{name} expects integer class indices of shape '
                f'({num_samples},){hint}, got labels of shape '
                f'{tuple(label.shape)} and dtype {label.dtype}.')
        if label.numel() != num_samples:
            raise ValueError(f'{name}: got {label.numel()} labels for '
                             f'{num_samples} rows of cls_score.')
        low, high = torch.aminmax(label)
        if int(low) < 0 or int(high) >= num_classes:
            index = int(((label < 0) | (label >= num_classes)).nonzero()[0])
            raise ValueError(
                f'{name}: label {int(label[index])} (sample {index}) is '
                f'outside the class range [0, {num_classes}).')
        return False

    def _check_soft_labels(self, label: torch.Tensor) -> None:
        row_sums = label.sum(dim=1)
        bad = (label < 0).any(dim=1) | ((row_sums - 1).abs() > 1e-3)
        if bad.any():
            index = int(bad.nonzero()[0])
            raise ValueError(
                f'{type(self).__name__}: soft label rows must be non-negative '
                f'and sum to 1, but row {index} sums to '
                f'{row_sums[index].item():.6g} with minimum '
                f'{label[index].min().item():.6g}.')

    def _cross_entropy(
            self,
            logits: torch.Tensor,
            label: torch.Tensor,
            weight: Optional[torch.Tensor],
            avg_factor: Optional[float],
            reduction_override: Optional[str],
            class_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Cross-entropy of ``logits`` reduced as MMPretrain's losses do,
        times ``loss_weight``.

        ``'mean'`` divides the summed loss by ``avg_factor`` (default: the
        number of samples). With ``class_weight`` :math:`w` the per-sample
        losses are :math:`w_{y_i} \ell_i` and ``'mean'`` divides by
        ``avg_factor`` times the batch mean of :math:`w_{y_i}` (PyTorch's
        weighted mean when ``avg_factor`` is the batch size). Without sample
        weights the reduction is fused into ``F.cross_entropy``.
        """
        if reduction_override not in (None, 'none', 'mean', 'sum'):
            raise ValueError(
                f'{type(self).__name__}: reduction_override must be None, '
                f"'none', 'mean' or 'sum', got {reduction_override!r}.")
        reduction = reduction_override or self.reduction
        num_samples = logits.size(0)
        if class_weight is not None:
            class_weight = class_weight.to(logits.dtype)
        if weight is None and (reduction != 'sum' or avg_factor is None):
            loss = F.cross_entropy(
                logits, label, weight=class_weight, reduction=reduction)
            factor = self.loss_weight
            if reduction == 'mean' and avg_factor is not None:
                factor = factor * num_samples / avg_factor
            if isinstance(factor, (int, float)) and factor == 1:
                return loss
            return loss * factor
        loss = F.cross_entropy(
            logits, label, weight=class_weight, reduction='none')
        if class_weight is not None and reduction == 'mean':
            avg_factor = (num_samples if avg_factor is None else
                          avg_factor) * class_weight[label].mean()
        if weight is not None:
            weight = weight.float()
        return self.loss_weight * weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)
