from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss

from mmlt.evaluation.shot_groups import ClassCounts, check_class_counts

from .utils import (check_cls_score, check_labels, check_num_classes,
                    check_reduction, check_sample_weight, resolve_reduction)


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
    :meth:`forward` checks the inputs and takes the cross-entropy of what a
    subclass's :meth:`_training_logits` returns.

    Args:
        num_classes (int, optional): Number of classes, checked against the
            counts and the scores; mmlt's heads fill in theirs. Defaults to
            None (taken from the counts).
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
        check_reduction(reduction, type(self).__name__)
        if num_classes is not None:
            check_num_classes(num_classes, type(self).__name__)
        self.num_classes = num_classes
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_counts: Optional[torch.Tensor] = None

    def set_class_counts(self, class_counts: ClassCounts) -> None:
        """Validate (:func:`~mmlt.evaluation.shot_groups.check_class_counts`)
        and store the training images per class (positive, float64 on CPU),
        then derive the loss's per-class buffers (:meth:`_set_class_stats`).
        """
        counts = torch.from_numpy(
            check_class_counts(
                class_counts,
                self.num_classes,
                source=f'the logits (num_classes={self.num_classes})',
                name='class_counts',
                owner=type(self).__name__))
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

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Cross-entropy on the loss's training logits
        (:meth:`_training_logits`).

        Args:
            cls_score (torch.Tensor): Logits of shape (N, C).
            label (torch.Tensor): Class indices (N, ), or soft labels (N, C)
                if the loss supports them.
            weight (torch.Tensor, optional): Sample-wise loss weight (N, ).
                Defaults to None.
            avg_factor (float, optional): Divisor of the summed loss for
                ``'mean'``. Defaults to None (the number of samples).
            reduction_override (str, optional): Overrides ``reduction``.
                Defaults to None.

        Returns:
            torch.Tensor: The loss.
        """
        name = type(self).__name__
        reduction = resolve_reduction(self.reduction, reduction_override, name)
        if self.class_counts is None:
            raise RuntimeError(
                f'{name} has no class counts: pass class_counts=[...] or add '
                "dict(type='ClassCountsHook') to custom_hooks so they are "
                "read from the train dataset's metainfo.")
        check_cls_score(cls_score, name, self.num_classes,
                        f'has {self.num_classes} class counts')
        check_sample_weight(weight, cls_score.size(0), name)
        check_labels(
            label, cls_score, name, soft_labels=self.supports_soft_labels)
        logits, class_weight = self._training_logits(cls_score, label)
        return self._cross_entropy(logits, label, weight, avg_factor,
                                   reduction, class_weight)

    def _training_logits(
            self, cls_score: torch.Tensor, label: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The logits the cross-entropy is taken of, and the per-class
        weights of the cross-entropy (or None)."""
        raise NotImplementedError

    def _cross_entropy(
            self,
            logits: torch.Tensor,
            label: torch.Tensor,
            weight: Optional[torch.Tensor],
            avg_factor: Optional[float],
            reduction: str,
            class_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        r"""Cross-entropy of ``logits`` reduced as MMPretrain's losses do,
        times ``loss_weight``.

        ``'mean'`` divides the summed loss by ``avg_factor`` (default: the
        number of samples). With ``class_weight`` :math:`w` the per-sample
        losses are :math:`w_{y_i} \ell_i` and ``'mean'`` divides by
        ``avg_factor`` times the batch mean of :math:`w_{y_i}` (PyTorch's
        weighted mean when ``avg_factor`` is the batch size). Without sample
        weights the reduction is fused into ``F.cross_entropy``.
        """
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
