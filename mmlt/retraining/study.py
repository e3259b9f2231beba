"""The classifier re-training study on a feature cache: per method, train
its grid, choose on val, test; then GALA's prediction re-balancing on top
of each chosen classifier (tau chosen on val).

Every choice reads only the validation split (the choose-on-val rule of
:func:`mmlt.experiments.choose_on_val`); the test features of a method are
read only after its choices are made. Test figures are those of
:func:`mmlt.experiments.split_figures` (top-1, mean per-class, many /
medium / few, ECE, per-class accuracy) and :class:`LogitsStatistics` (LM
and RSD, mean and per shot group) of the chosen classifier's logits; for
the GALA rows, of the log of the re-balanced probabilities.
"""
from typing import Dict, List, Sequence

import numpy as np
import torch

from mmlt.evaluation import LogitsStatistics
from mmlt.evaluation.rebalancers import PredictionRebalancing
from mmlt.evaluation.shot_groups import LOW_SHOT_THR, MANY_SHOT_THR
from mmlt.experiments import (DEFAULT_TAUS, SplitRecord, check_tau_grid,
                              choose_on_val, split_figures, tau_table)
from .feature_cache import FeatureCache
from .methods import RetrainingMethod
from .trainer import RetrainingSchedule, train_candidates

CHUNK = 8192


def linear_logits(features: np.ndarray, weight: torch.Tensor,
                  bias: torch.Tensor) -> torch.Tensor:
    """Logits (N, C), float32, of one linear classifier on cached features
    read in chunks (float16 features are computed in float32).

    Args:
        features (np.ndarray): Features (N, D), e.g. a memory map.
        weight (torch.Tensor): Shape (C, D).
        bias (torch.Tensor): Shape (C, ).
    """
    if features.shape[1] != weight.size(1):
        raise ValueError(
            f'The features have {features.shape[1]} dimensions but the '
            f'classifier weight has shape {tuple(weight.shape)} (C, D).')
    out = torch.empty(features.shape[0], weight.size(0))
    for start in range(0, features.shape[0], CHUNK):
        chunk = torch.from_numpy(
            np.asarray(features[start:start + CHUNK], dtype=np.float32))
        torch.addmm(bias, chunk, weight.T, out=out[start:start + CHUNK])
    return out


def logits_figures(logits: torch.Tensor, labels: torch.Tensor,
                   train_class_counts: Sequence[int], many_shot_thr: int,
                   low_shot_thr: int) -> Dict:
    """LM and RSD of one split: mean and per shot group
    (:meth:`LogitsStatistics.summarize`) and per class (``class_lm``,
    ``class_rsd``).

    Args:
        logits (torch.Tensor): Logits (N, C).
        labels (torch.Tensor): True labels (N, ).
        train_class_counts (Sequence[int]): Training images per class.
        many_shot_thr (int): Many-shot threshold.
        low_shot_thr (int): Few-shot threshold.
    """
    stats = LogitsStatistics.sufficient_statistics(logits, labels)
    per_class = LogitsStatistics.per_class_from_statistics(stats)
    figures = LogitsStatistics.summarize(per_class,
                                         np.asarray(train_class_counts),
                                         many_shot_thr, low_shot_thr)
    figures['class_lm'] = per_class['lm'].tolist()
    figures['class_rsd'] = per_class['rsd'].tolist()
    return figures


def run_method(name: str, method: RetrainingMethod, cache: FeatureCache,
               schedule: RetrainingSchedule,
               gala_taus: Sequence[float] = DEFAULT_TAUS,
               many_shot_thr: int = MANY_SHOT_THR,
               low_shot_thr: int = LOW_SHOT_THR) -> Dict:
    """Train, choose on val and test one method, then GALA on top of it.

    Args:
        name (str): The method's registered name.
        method (RetrainingMethod): The method with its grid.
        cache (FeatureCache): The cached features.
        schedule (RetrainingSchedule): The stage-2 schedule.
        gala_taus (Sequence[float]): Tau grid of the prediction
            re-balancing. Defaults to 0, 0.1, ..., 2.
        many_shot_thr (int): Many-shot threshold. Defaults to 100.
        low_shot_thr (int): Few-shot threshold. Defaults to 20.

    Returns:
        dict: ``method``, ``grid_key``, ``chosen`` (the grid value),
        ``val`` (one row per grid value), ``test`` (figures),
        ``weight`` / ``bias`` (the chosen classifier) and ``gala``
        (``tau``, ``val`` rows, ``test`` figures).
    """
    gala_taus = check_tau_grid(gala_taus, 'GALA tau')
    thresholds = dict(many_shot_thr=many_shot_thr, low_shot_thr=low_shot_thr)
    counts = tuple(cache.train_class_counts.tolist())
    weight, bias = cache.head()
    train = torch.from_numpy(
        np.array(cache.features('train'), dtype=np.float32))
    weights, biases = train_candidates(method, train, cache.labels('train'),
                                       torch.tensor(counts), weight, bias,
                                       schedule)
    del train

    def record(split: str, index: int) -> SplitRecord:
        logits = linear_logits(
            cache.features(split), weights[index], biases[index])
        return SplitRecord(split, logits,
                           torch.from_numpy(cache.labels(split)), counts,
                           cache.classes)

    rows = []
    for index, value in enumerate(method.grid):
        figures = split_figures(record('val', index), **thresholds)
        rows.append(
            dict(
                index=index,
                value=value,
                top1=figures['top1'],
                mean_class_acc=figures['mean_class_acc']))
    chosen = choose_on_val(rows, key='value')['index']
    gala_rows = tau_table(
        record('val', chosen), 'PredictionRebalancing', gala_taus,
        **thresholds)
    gala_tau = choose_on_val(gala_rows, key='tau')['tau']
    # Every choice is made; only now the test split is read.
    test = record('test', chosen)
    figures = split_figures(test, **thresholds)
    figures.update(
        logits_figures(test.logits, test.labels, counts, **thresholds))
    gala = split_figures(test, 'PredictionRebalancing', gala_tau,
                         **thresholds)
    rebalanced = PredictionRebalancing(gala_tau)(test.logits)
    gala.update(
        logits_figures(
            torch.log(rebalanced.clamp_min(torch.finfo(torch.float64).tiny)),
            test.labels, counts, **thresholds))
    return dict(
        method=name,
        grid_key=method.grid_key,
        chosen=method.grid[chosen],
        val=[{k: v for k, v in row.items() if k != 'index'} for row in rows],
        test=figures,
        weight=weights[chosen],
        bias=biases[chosen],
        gala=dict(
            tau=gala_tau,
            val=[
                dict(tau=r['tau'], mean_class_acc=r['mean_class_acc'])
                for r in gala_rows
            ],
            test=gala))


def run_study(methods: Dict[str, RetrainingMethod], cache: FeatureCache,
              schedule: RetrainingSchedule, **kwargs) -> List[Dict]:
    """:func:`run_method` for every method, in the given order.

    Args:
        methods (dict[str, RetrainingMethod]): Name to method.
        cache (FeatureCache): The cached features.
        schedule (RetrainingSchedule): The stage-2 schedule.
        **kwargs: ``gala_taus``, ``many_shot_thr``, ``low_shot_thr``.
    """
    return [
        run_method(name, method, cache, schedule, **kwargs)
        for name, method in methods.items()
    ]
