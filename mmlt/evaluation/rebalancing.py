"""Helpers of the prediction re-balancing tools (``tools/analysis/
estimate_column_mass.py`` and ``tools/analysis/select_tau.py``)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import collect_results
from torch.utils.data import DataLoader

from mmlt.models.heads.rebalanced_linear_head import (check_method,
                                                      column_mass,
                                                      rebalanced_probs)
from .metrics.rebalanced_accuracy import RebalancedAccuracy


@torch.no_grad()
def collect_logits(model: torch.nn.Module, dataloader: DataLoader
                   ) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """Plain logits and labels of a whole split, gathered from all ranks.

    Every rank runs ``model.test_step`` on its part of ``dataloader``; the
    per-sample results are gathered in dataset order (padding added by a
    distributed sampler is dropped), as :class:`mmengine.evaluator.Evaluator`
    does.

    Args:
        model (torch.nn.Module): A classifier (or its DDP wrapper) whose head
            sets ``pred_logits``, e.g. :class:`RebalancedLinearClsHead`.
        dataloader (DataLoader): The split to run on.

    Returns:
        tuple[torch.Tensor, torch.Tensor] | None: On rank 0, float32 logits
        (N, C) and int64 labels (N, ); None on the other ranks.
    """
    model.eval()
    results = []
    for data_batch in dataloader:
        for sample in model.test_step(data_batch):
            if 'pred_logits' not in sample:
                raise KeyError(
                    'The model predictions carry no `pred_logits`; use '
                    '`RebalancedLinearClsHead` (or `LogitsLinearClsHead`) as '
                    'the head, e.g. --cfg-options '
                    'model.head.type=RebalancedLinearClsHead.')
            results.append((sample.pred_logits.cpu(),
                            int(sample.gt_label.reshape(-1)[0])))
    results = collect_results(results, len(dataloader.dataset), device='cpu')
    if results is None:
        return None
    logits = torch.stack([logit for logit, _ in results])
    labels = torch.tensor([label for _, label in results])
    return logits, labels


def tau_sweep(logits: torch.Tensor,
              labels: torch.Tensor,
              taus: Sequence[float],
              train_class_counts: Sequence[int],
              method: str = 'prediction',
              weight: Optional[torch.Tensor] = None,
              bias: Optional[torch.Tensor] = None,
              **metric_kwargs) -> List[Dict[str, float]]:
    """Metrics of one split re-balanced post hoc, for several ``tau``.

    ``method`` is that of :class:`RebalancedLinearClsHead`:
    ``'prediction'`` re-balances transductively with the split's own column
    masses (:func:`rebalance_probs`), ``'logit_adjust'`` subtracts ``tau``
    times the log prior of ``train_class_counts`` (:func:`adjust_logits`),
    ``'tau_norm'`` uses the classifier ``weight`` / ``bias`` the logits came
    from (:func:`tau_normalize_logits`).

    Args:
        logits (torch.Tensor): Plain logits of the split, shape (N, C).
        labels (torch.Tensor): True labels, shape (N, ).
        taus (Sequence[float]): Exponents to try.
        train_class_counts (Sequence[int]): Training images per class of the
            TRAIN split (the many / medium / few groups, and the prior of
            ``'logit_adjust'``).
        method (str): ``'prediction'``, ``'logit_adjust'`` or
            ``'tau_norm'``. Defaults to ``'prediction'``.
        weight (torch.Tensor, optional): Classifier weight (C, D), needed
            for ``'tau_norm'``.
        bias (torch.Tensor, optional): Classifier bias (C, ) for
            ``'tau_norm'``, or None if it has none.
        **metric_kwargs: Other arguments of :class:`RebalancedAccuracy`
            (``topk``, ``many_shot_thr``, ``low_shot_thr``, ``num_bins``).

    Returns:
        list[dict]: Per tau, ``tau`` and :class:`LongTailAccuracy`'s figures
        of the re-balanced predictions (``tau=0`` gives the plain ones, except
        that ``'tau_norm'`` drops the bias).
    """
    check_method(method, 'tau_sweep')
    metric = RebalancedAccuracy(
        train_class_counts=train_class_counts, **metric_kwargs)
    mass = None
    if method == 'prediction':  # transductive: the split's own masses
        mass = column_mass(torch.softmax(logits.to(torch.float64), dim=1))
    gt_labels = labels.numpy()
    rows = []
    for tau in taus:
        rebalanced = rebalanced_probs(
            logits,
            method,
            tau,
            mass=mass,
            train_class_counts=train_class_counts,
            weight=weight,
            bias=bias)
        rows.append(
            dict(
                tau=float(tau),
                **metric.metrics_from_probs(rebalanced, gt_labels)))
    return rows
