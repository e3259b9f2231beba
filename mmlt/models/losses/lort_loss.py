from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS

from mmlt.ops import (adjusted_cross_entropy, check_backend,
                      resolve_backend)
from .utils import (check_cls_score, check_labels, check_num_classes,
                    check_reduction, check_sample_weight, reduce_with_gradient,
                    resolve_reduction)


@MODELS.register_module()
class LORTLoss(nn.Module):
    r"""Logits retargeting loss of LORT for classifier re-training.

    Refers to `Rethinking Classifier Re-Training in Long-Tailed Recognition:
    A Simple Logits Retargeting Approach <https://arxiv.org/abs/2403.00250>`_
    (later "Label Over-Smooth"). Stage 2 of the decoupled training re-trains
    only the classifier with cross-entropy against a heavily smoothed
    target; it needs no class counts. For a target distribution :math:`q`
    over :math:`K` classes (one-hot of the label :math:`y`, or a Mixup /
    CutMix mixture) the retargeted distribution is

    .. math::
        t_j = (1 - \epsilon)\, q_j + \frac{\epsilon}{K}
        \quad\Big(\text{hard label: } t_y = 1 - \epsilon + \frac{\epsilon}{K},
        \ t_{j \ne y} = \frac{\epsilon}{K}\Big)

    and the loss is :math:`-\sum_j t_j \log \mathrm{softmax}(z)_j`. With
    :math:`\sum_j q_j = 1` and :math:`\log \mathrm{softmax}(z)_j = z_j -
    \mathrm{LSE}(z)` it is computed without a :math:`B \times K` target as

    .. math::
        \ell(z, q) = \mathrm{LSE}(z) - (1 - \epsilon) \sum_j q_j z_j
        - \epsilon\, \bar{z}, \qquad \bar{z} = \frac{1}{K}\sum_j z_j,

    where :math:`\sum_j q_j z_j = z_y` for a hard label. For hard labels
    this equals ``F.cross_entropy(z, y, label_smoothing=eps)`` (the tests
    check it). It keeps its own path, from one log-softmax that also gives
    the gradient :math:`\mathrm{softmax}(z) - t` in the forward pass (so
    hard labels have no second derivatives), for three reasons: it needs
    half of the peak memory of torch's label smoothing (measured by
    ``benchmarks/overhead.py``, rows ``LORTLoss`` and
    ``CrossEntropy(label_smoothing)``, see docs/benchmarks.md: 0.47x /
    0.50x of CE's against 0.98x / 1.01x at (256, 1000) / (128, 8142),
    CPU); on CUDA it runs as the fused ``backend='triton'`` kernel, one
    read of the logits for the loss and its gradient (not yet measured on a
    GPU); and it has the float32 evaluation below. The CPU time is about
    that of torch's label smoothing (1.65x / 1.31x CE against 1.50x /
    1.32x at (256, 1000) / (128, 8142), 1 thread on a heavily loaded
    2-CPU machine; earlier idle runs of the same benchmark gave 1.11x /
    0.93x for this path). The loss is evaluated in at least float32, so
    fp16 / bf16 logits (AMP) neither overflow nor lose the small
    :math:`\epsilon / K` terms.

    The paper uses :math:`\epsilon = 0.98` on CIFAR-100-LT. The ratio of the
    true-class target to any other class's target,
    :math:`1 + K (1 - \epsilon) / \epsilon` (3.04 there), grows with
    :math:`K` for a fixed :math:`\epsilon` (21.4 for :math:`K = 1000`), so
    :math:`\epsilon` has to be chosen per data set (on a validation split);
    :func:`lort_eps_from_ratio` carries a ratio across data sets.

    Args:
        eps (float): Smoothing strength :math:`\epsilon \in [0, 1)`;
            0 is plain cross-entropy. Defaults to 0.98.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        backend (str): Hard labels: ``'torch'`` (PyTorch operations),
            ``'triton'`` (one Triton kernel that reads each row of logits
            once and writes the loss and its gradient, see
            :mod:`mmlt.ops.fused_cross_entropy`) or ``'auto'`` (Triton
            for CUDA tensors when it imports, else torch). Soft labels
            always use torch. Defaults to ``'auto'``.
    """

    def __init__(self,
                 eps: float = 0.98,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 backend: str = 'auto') -> None:
        super().__init__()
        if (isinstance(eps, bool) or not isinstance(eps, (int, float))
                or not 0 <= eps < 1):
            raise ValueError(
                f'LORTLoss: eps must be a number in [0, 1), got {eps!r}. '
                'It is the label smoothing strength (0 is cross-entropy; '
                'the paper uses 0.98 on CIFAR-100-LT).')
        check_reduction(reduction, 'LORTLoss')
        check_backend(backend, 'LORTLoss')
        self.eps = float(eps)
        self.backend = backend
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Compute the LORT loss.

        Args:
            cls_score (torch.Tensor): Logits of shape (N, K).
            label (torch.Tensor): Class indices of shape (N, ), or soft
                labels of shape (N, K) whose rows are non-negative and sum
                to 1 (Mixup / CutMix ``gt_score``).
            weight (torch.Tensor, optional): Sample-wise loss weight (N, ).
                Defaults to None.
            avg_factor (float, optional): Divisor of the summed loss for
                ``'mean'``. Defaults to None (the number of samples).
            reduction_override (str, optional): Overrides ``reduction``.
                Defaults to None.

        Returns:
            torch.Tensor: The loss, float32 for half-precision logits.
        """
        reduction = resolve_reduction(self.reduction, reduction_override,
                                      'LORTLoss')
        num_samples = check_cls_score(cls_score, 'LORTLoss')[0]
        check_sample_weight(weight, num_samples, 'LORTLoss')
        soft = check_labels(label, cls_score, 'LORTLoss', soft_labels=True)

        if not soft:
            backend = resolve_backend(self.backend, cls_score, 'LORTLoss')
            loss, grad, _ = adjusted_cross_entropy(
                cls_score.detach(),
                label.long(),
                smoothing=self.eps,
                backend=backend)
            return reduce_with_gradient(cls_score, loss, grad, weight,
                                        reduction, avg_factor,
                                        self.loss_weight)
        logits = cls_score
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        loss = (
            torch.logsumexp(logits, dim=1) -
            (1 - self.eps) * (label.to(logits.dtype) * logits).sum(dim=1) -
            self.eps * logits.mean(dim=1))
        if weight is not None:
            weight = weight.float()
        return self.loss_weight * weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return (f'eps={self.eps}, reduction={self.reduction!r}, '
                f'backend={self.backend!r}')


def lort_target_ratio(eps: float, num_classes: int) -> float:
    r"""Ratio of LORT's true-class target to any other class's target,
    :math:`r = (1 - \epsilon + \epsilon / K) / (\epsilon / K)
    = 1 + K (1 - \epsilon) / \epsilon`.

    Args:
        eps (float): Smoothing strength in (0, 1).
        num_classes (int): Number of classes K.

    Returns:
        float: The ratio r (> 1).
    """
    if not 0 < eps < 1:
        raise ValueError(f'eps must be in (0, 1), got {eps!r}.')
    check_num_classes(num_classes)
    return 1 + num_classes * (1 - eps) / eps


def lort_eps_from_ratio(ratio: float, num_classes: int) -> float:
    r"""The :math:`\epsilon` whose LORT target has true-to-other ratio
    ``ratio`` over ``num_classes`` classes, :math:`\epsilon = K / (K + r -
    1)` (the inverse of :func:`lort_target_ratio`). It carries a setting
    across data sets with different :math:`K`: CIFAR-100's
    :math:`\epsilon = 0.98` is :math:`r \approx 3.04`.

    Args:
        ratio (float): The target ratio r, > 1.
        num_classes (int): Number of classes K.

    Returns:
        float: :math:`\epsilon` in (0, 1).
    """
    if not ratio > 1:
        raise ValueError(f'The target ratio must be > 1, got {ratio!r}.')
    check_num_classes(num_classes)
    return num_classes / (num_classes + ratio - 1)
