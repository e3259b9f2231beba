r"""Figures of one split, plain or re-balanced post hoc: the one path by
which experiments compute validation tables and test figures.

The plain probabilities are :math:`\mathrm{softmax}(z)` in float64; a
re-balancing ``method`` (a type of :mod:`mmlt.evaluation.rebalancers`) with
exponent ``tau`` is applied to the logits (``PredictionRebalancing``
transductively, with the column masses of the split itself, as in GALA's
paper). The figures are those of :class:`LongTailAccuracy` plus the
per-class accuracies.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from mmlt.evaluation import LongTailAccuracy
from mmlt.evaluation.shot_groups import LOW_SHOT_THR, MANY_SHOT_THR
from mmlt.evaluation.rebalancers import build_rebalancer
from .split_record import SplitRecord

METRIC_KEYS = ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece')


def split_probabilities(record: SplitRecord,
                        method: Optional[str] = None,
                        tau: float = 0.0,
                        weight: Optional[torch.Tensor] = None,
                        bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The (N, C) float64 probabilities of one split, plain or re-balanced
    (arguments as :func:`split_figures`, which scores them)."""
    logits = record.logits.to(torch.float64)
    if method is None:
        return torch.softmax(logits, dim=1)
    return build_rebalancer(dict(type=method, tau=tau))(
        logits,
        train_class_counts=record.train_class_counts,
        weight=weight,
        bias=bias)


def split_figures(record: SplitRecord,
                  method: Optional[str] = None,
                  tau: float = 0.0,
                  weight: Optional[torch.Tensor] = None,
                  bias: Optional[torch.Tensor] = None,
                  many_shot_thr: int = MANY_SHOT_THR,
                  low_shot_thr: int = LOW_SHOT_THR) -> Dict:
    """:data:`METRIC_KEYS` and ``class_acc`` of one split's predictions.

    Args:
        record (SplitRecord): The split.
        method (str, optional): Post-hoc re-balancing, a registered type
            (``'PredictionRebalancing'``, ``'PosthocLogitAdjustment'``,
            ``'TauNormalization'``); None for the plain predictions.
            Defaults to None.
        tau (float): Exponent of ``method``. Defaults to 0.
        weight (torch.Tensor, optional): Classifier weight for
            ``'TauNormalization'``.
        bias (torch.Tensor, optional): Classifier bias for
            ``'TauNormalization'``.
        many_shot_thr (int): Many-shot threshold of the groups.
        low_shot_thr (int): Few-shot threshold of the groups.

    Returns:
        dict: ``top1``, ``mean_class_acc``, ``many``, ``medium``, ``few``
        and ``ece`` (all percent) and ``class_acc`` (list of C
        percentages).
    """
    probs = split_probabilities(record, method, tau, weight, bias)
    confidences, predicted = probs.max(dim=1)
    labels = record.labels.numpy()
    figures = LongTailAccuracy.calculate(
        pred_labels=predicted.numpy(),
        gt_labels=labels,
        num_classes=record.num_classes,
        confidences=confidences.numpy(),
        train_class_counts=record.train_class_counts,
        many_shot_thr=many_shot_thr,
        low_shot_thr=low_shot_thr)
    figures['class_acc'] = LongTailAccuracy.class_accuracy(
        predicted.numpy(), labels, record.num_classes).tolist()
    return figures


def tau_table(record: SplitRecord, method: str, taus: Sequence[float],
              **kwargs) -> List[Dict]:
    """:func:`split_figures` of ``method`` for each tau (in the given
    order), each row with its ``tau``; ``kwargs`` go to
    :func:`split_figures`."""
    return [
        dict(tau=float(tau), **split_figures(record, method, tau, **kwargs))
        for tau in taus
    ]


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (ddof 1) of one figure over
    seeds; the std is nan for one value, and both are nan if any value is
    nan (e.g. an empty shot group).

    Args:
        values (Sequence[float]): The figure of each seed.

    Returns:
        tuple[float, float]: Mean and std.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.isnan(values).any():
        return math.nan, math.nan
    std = float(values.std(ddof=1)) if values.size > 1 else math.nan
    return float(values.mean()), std
