"""Helpers of the prediction re-balancing tools (``tools/analysis/
estimate_column_mass.py`` and ``tools/analysis/select_tau.py``)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import collect_results
from torch.utils.data import DataLoader

from .metrics.rebalanced_accuracy import RebalancedAccuracy
from .rebalancers import build_rebalancer


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
              rebalance: str = 'PredictionRebalancing',
              weight: Optional[torch.Tensor] = None,
              bias: Optional[torch.Tensor] = None,
              **metric_kwargs) -> List[Dict[str, float]]:
    """Metrics of one split re-balanced post hoc, for several ``tau``.

    ``rebalance`` is a type of :mod:`mmlt.evaluation.rebalancers`:
    ``PredictionRebalancing`` re-balances transductively with the split's
    own column masses, ``PosthocLogitAdjustment`` uses the log prior of
    ``train_class_counts``, ``TauNormalization`` the classifier ``weight`` /
    ``bias`` the logits came from.

    Args:
        logits (torch.Tensor): Plain logits of the split, shape (N, C).
        labels (torch.Tensor): True labels, shape (N, ).
        taus (Sequence[float]): Exponents to try.
        train_class_counts (Sequence[int]): Training images per class of the
            TRAIN split (the many / medium / few groups, and the prior of
            ``PosthocLogitAdjustment``).
        rebalance (str): The re-balancer's registered type. Defaults to
            ``'PredictionRebalancing'``.
        weight (torch.Tensor, optional): Classifier weight (C, D), needed
            for ``TauNormalization``.
        bias (torch.Tensor, optional): Classifier bias (C, ) for
            ``TauNormalization``, or None if it has none.
        **metric_kwargs: Other arguments of :class:`RebalancedAccuracy`
            (``topk``, ``many_shot_thr``, ``low_shot_thr``, ``num_bins``).

    Returns:
        list[dict]: Per tau, ``tau`` and :class:`LongTailAccuracy`'s figures
        of the re-balanced predictions (``tau=0`` gives the plain ones, except
        that ``TauNormalization`` drops the bias).
    """
    rebalancers = [build_rebalancer(dict(type=rebalance, tau=tau))
                   for tau in taus]
    metric = RebalancedAccuracy(
        train_class_counts=train_class_counts, **metric_kwargs)
    gt_labels = labels.numpy()
    rows = []
    for rebalancer in rebalancers:
        rebalanced = rebalancer(
            logits,
            train_class_counts=train_class_counts,
            weight=weight,
            bias=bias)
        rows.append(
            dict(
                tau=rebalancer.tau,
                **metric.metrics_from_probs(rebalanced, gt_labels)))
    return rows
