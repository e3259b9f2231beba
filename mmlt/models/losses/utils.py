"""Input checks and reductions shared by mmlt's classification losses.

The checks raise a ``ValueError`` that names the loss (``owner``), the bad
value and what was expected.
"""
import math
from typing import Optional, Tuple

import torch
from mmpretrain.models.losses.utils import weight_reduce_loss
from torch.autograd import Function

REDUCTIONS = ('none', 'mean', 'sum')


def check_num_classes(num_classes: int, owner: Optional[str] = None) -> None:
    """Raise unless ``num_classes`` is an integer >= 2."""
    if (isinstance(num_classes, bool) or not isinstance(num_classes, int)
            or num_classes < 2):
        prefix = f'{owner}: ' if owner else ''
        raise ValueError(f'{prefix}num_classes must be an integer >= 2, got '
                         f'{num_classes!r}.')


def check_number(value: float,
                 name: str,
                 owner: str,
                 positive: bool = False) -> float:
    """Return ``value`` as a float; raise unless it is a finite real number
    (not a bool or a string) that is >= 0, or > 0 with ``positive``."""
    bound = '> 0' if positive else '>= 0'
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0
            or (positive and value == 0)):
        raise ValueError(f'{owner}: {name} must be a finite number {bound}, '
                         f'got {value!r} ({type(value).__name__}).')
    return float(value)


def check_reduction(reduction: str, owner: str) -> None:
    """Raise unless ``reduction`` is ``'none'``, ``'mean'`` or ``'sum'``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be 'none', 'mean' or "
                         f"'sum', got {reduction!r}.")


def resolve_reduction(reduction: str, reduction_override: Optional[str],
                      owner: str) -> str:
    """The reduction of one call: ``reduction_override`` if given (checked),
    else the loss's ``reduction``."""
    if reduction_override is None:
        return reduction
    if reduction_override not in REDUCTIONS:
        raise ValueError(
            f"{owner}: reduction_override must be None, 'none', 'mean' or "
            f"'sum', got {reduction_override!r}.")
    return reduction_override


def check_cls_score(cls_score: torch.Tensor,
                    owner: str,
                    num_classes: Optional[int] = None,
                    num_classes_from: str = '') -> Tuple[int, int]:
    """Check that ``cls_score`` is (N, C) and return (N, C).

    Args:
        cls_score (torch.Tensor): The logits.
        owner (str): Name of the loss, for the messages.
        num_classes (int, optional): The C the loss expects. Defaults to None
            (any C).
        num_classes_from (str): Where ``num_classes`` comes from, e.g.
            ``'has 4 class counts'``; the message reads ``{owner}
            {num_classes_from} but cls_score has ...``.
    """
    if cls_score.dim() != 2:
        classes = 'K' if num_classes is None else num_classes
        raise ValueError(f'{owner} expects cls_score of shape (N, {classes}), '
                         f'got {tuple(cls_score.shape)}.')
    if num_classes is not None and cls_score.size(1) != num_classes:
        raise ValueError(
            f'{owner} {num_classes_from} but cls_score has '
            f'{cls_score.size(1)} classes: got shape '
            f'{tuple(cls_score.shape)}, expected (N, {num_classes}).')
    return cls_score.shape


def check_sample_weight(weight: Optional[torch.Tensor], num_samples: int,
                        owner: str) -> None:
    """Check that a sample-wise loss weight, if given, has shape (N, )."""
    if weight is not None and tuple(weight.shape) != (num_samples, ):
        raise ValueError(f'{owner}: weight must have shape ({num_samples},), '
                         f'got {tuple(weight.shape)}.')


def check_labels(label: torch.Tensor,
                 cls_score: torch.Tensor,
                 owner: str,
                 soft_labels: bool = False,
                 hard_label_reason: str = '') -> bool:
    """Check the labels of (N, C) ``cls_score``; return whether they are
    soft.

    Hard labels are integer class indices of shape (N, ) in [0, C). Soft
    labels, accepted with ``soft_labels=True``, are float (N, C) rows of
    non-negative weights summing to 1 (within 1e-3), as Mixup / CutMix
    produce.

    Args:
        label (torch.Tensor): The labels.
        cls_score (torch.Tensor): The (N, C) logits, already checked.
        owner (str): Name of the loss, for the messages.
        soft_labels (bool): Whether the loss accepts soft labels.
            Defaults to False.
        hard_label_reason (str): Said when a loss that needs hard labels gets
            soft ones, before the hint to remove the batch augments.
    """
    num_samples, num_classes = cls_score.shape
    if label.dim() == 2 and label.is_floating_point():
        if tuple(label.shape) != tuple(cls_score.shape):
            raise ValueError(
                f'{owner}: soft labels must have the shape of cls_score '
                f'{tuple(cls_score.shape)}, got {tuple(label.shape)}.')
        if not soft_labels:
            raise ValueError(
                f'{owner} needs hard labels (class indices of shape '
                f'({num_samples},)), got soft labels of shape '
                f'{tuple(label.shape)}. {hard_label_reason}Batch augments '
                'such as Mixup or CutMix produce these: remove '
                '`train_cfg.augments` from the model config.')
        row_sums = label.sum(dim=1)
        bad = (label < 0).any(dim=1) | ((row_sums - 1).abs() > 1e-3)
        if not label.device.type == 'cpu':
            _assert_on_device(
                ~bad.any(), f'{owner}: soft label rows must be non-negative '
                'and sum to 1 (within 1e-3); move the batch to the CPU to '
                'see which row is not.')
        elif bad.any():
            index = int(bad.nonzero()[0])
            raise ValueError(
                f'{owner}: soft label rows must be non-negative and sum to 1, '
                f'but row {index} sums to {row_sums[index].item():.6g} with '
                f'minimum {label[index].min().item():.6g}.')
        return True
    if (label.dim() != 1 or label.is_floating_point()
            or label.dtype == torch.bool):
        alternative = ' or soft labels of shape (N, C)' if soft_labels else ''
        raise ValueError(
            f'{owner} expects integer class indices of shape '
            f'({num_samples},), one integer class index per sample'
            f'{alternative}, got labels of shape {tuple(label.shape)} and '
            f'dtype {label.dtype}.')
    if label.numel() != num_samples:
        raise ValueError(f'{owner}: got {label.numel()} labels for '
                         f'{num_samples} rows of cls_score.')
    if num_samples and label.device.type != 'cpu':
        _assert_on_device(
            ((label >= 0) & (label < num_classes)).all(),
            f'{owner}: a label is outside the class range [0, {num_classes}) '
            f'(num_classes={num_classes}); the labels are checked on the '
            'device without naming the value, to keep the training step free '
            'of host synchronisation: move the batch to the CPU, or check the '
            "dataset's labels, to see which.")
    elif num_samples:
        low, high = torch.aminmax(label)
        if int(low) < 0 or int(high) >= num_classes:
            index = int(((label < 0) | (label >= num_classes)).nonzero()[0])
            raise ValueError(
                f'{owner}: label {int(label[index])} (sample {index}) is '
                f'outside the class range [0, {num_classes}).')
    return False


def check_batch_labels(data_batch: Optional[dict], num_classes: int,
                       owner: str) -> None:
    """Check the hard ``gt_label`` of a batch's data samples against
    ``num_classes`` while they are still on the host (one vectorised check,
    no device sync); labels already on a device, and soft labels, are left
    to the loss's own check.

    Raises:
        ValueError: Naming the label, the sample (its ``img_path`` or
            ``sample_idx`` if it has one) and ``num_classes``.
    """
    if not isinstance(data_batch, dict):
        return
    samples = [
        sample for sample in data_batch.get('data_samples') or ()
        if isinstance(getattr(sample, 'gt_label', None), torch.Tensor)
    ]
    labels = [sample.gt_label for sample in samples]
    if (not labels or any(label.device.type != 'cpu' or label.numel() != 1
                          or label.is_floating_point() for label in labels)):
        return
    labels = torch.cat([label.view(1) for label in labels])
    bad = ((labels < 0) | (labels >= num_classes)).nonzero()
    if bad.numel():
        index = int(bad[0])
        metainfo = samples[index].metainfo
        where = metainfo.get('img_path', metainfo.get('sample_idx', index))
        raise ValueError(
            f'{owner}: training label {int(labels[index])} of sample {where} '
            f'is outside the class range [0, {num_classes}) '
            f'(num_classes={num_classes}).')


def _assert_on_device(condition: torch.Tensor, message: str) -> None:
    """Assert a boolean device tensor without a host synchronisation: the
    device raises ``message`` asynchronously (on CUDA the error surfaces at
    the next synchronising call)."""
    torch._assert_async(condition, message)


class _LossWithGradient(Function):
    """Scaled per-sample losses whose gradient with respect to the logits
    was computed together with them (see :func:`reduce_with_gradient`)."""

    @staticmethod
    def forward(ctx, cls_score: torch.Tensor, loss: torch.Tensor,
                grad: torch.Tensor, scale: float,
                reduce: bool) -> torch.Tensor:
        ctx.scale = scale
        ctx.reduce = reduce
        ctx.input_dtype = cls_score.dtype
        ctx.save_for_backward(grad)
        return loss.sum() * scale if reduce else loss * scale

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        if torch.is_grad_enabled():
            raise RuntimeError(
                'This loss computes its gradient in the forward pass and has '
                'no second derivatives (backward with create_graph=True).')
        grad, = ctx.saved_tensors
        scale = grad_output * ctx.scale
        if not ctx.reduce:
            scale = scale[:, None]
        return (grad * scale).to(ctx.input_dtype), None, None, None, None


def reduce_with_gradient(cls_score: torch.Tensor, loss: torch.Tensor,
                         grad: torch.Tensor, weight: Optional[torch.Tensor],
                         reduction: str, avg_factor: Optional[float],
                         loss_weight: float) -> torch.Tensor:
    r"""Weight and reduce per-sample losses exactly as MMPretrain's
    ``weight_reduce_loss`` followed by ``loss_weight`` do, with a hand-made
    gradient.

    A loss whose gradient comes out of its own forward computation (the
    softmax cross-entropy family: :math:`\partial \ell_i / \partial z_i =
    \mathrm{softmax}(z_i) - t_i`) computes ``loss`` and ``grad`` without
    autograd and attaches them to ``cls_score`` here. The backward pass is
    then one multiplication of ``grad`` by the incoming gradient, instead of
    autograd's replay of every forward operation. There are no second
    derivatives: a backward pass with ``create_graph=True`` raises.

    Args:
        cls_score (torch.Tensor): The (N, C) logits the gradient flows to.
        loss (torch.Tensor): Per-sample losses :math:`\ell_i`, shape (N, ),
            not attached to a graph.
        grad (torch.Tensor): :math:`\partial \ell_i / \partial z_i`, shape
            (N, C), not attached to a graph. It is kept for the backward
            pass and must not be modified afterwards.
        weight (torch.Tensor, optional): Sample-wise loss weight (N, ),
            applied by ``weight_reduce_loss`` (so it may require grad).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): Divisor of the summed loss for
            ``'mean'`` (default: N); an error with ``'sum'``.
        loss_weight (float): Factor of the loss.

    Returns:
        torch.Tensor: The loss: ``loss_weight * weight_reduce_loss(loss,
        weight, reduction, avg_factor)``.
    """
    if weight is not None:
        loss = _LossWithGradient.apply(cls_score, loss, grad, 1.0, False)
        return loss_weight * weight_reduce_loss(
            loss,
            weight=weight.float(),
            reduction=reduction,
            avg_factor=avg_factor)
    if reduction == 'mean':
        divisor = loss.numel() if avg_factor is None else avg_factor
        scale = loss_weight / divisor if divisor else math.nan
    elif reduction == 'sum' and avg_factor is not None:
        raise ValueError('avg_factor can not be used with reduction="sum"')
    else:
        scale = loss_weight
    reduce = reduction != 'none'
    return _LossWithGradient.apply(cls_score, loss, grad, scale, reduce)
