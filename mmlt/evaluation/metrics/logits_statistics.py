import json
import logging
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.utils import mkdir_or_exist
from mmpretrain.registry import METRICS

from ..shot_groups import (check_shot_thresholds, resolve_train_class_counts,
                           shot_group_masks, to_counts_array)

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]


@METRICS.register_module()
class LogitsStatistics(BaseMetric):
    r"""Logits Magnitude and Regularized Standard Deviation of LORT.

    Refers to `Rethinking Classifier Re-Training in Long-Tailed Recognition:
    A Simple Logits Retargeting Approach <https://arxiv.org/abs/2403.00250>`_.
    For class :math:`i` with :math:`n_i` of the :math:`N` evaluation
    samples, and logits :math:`z_{s,i}` of sample :math:`s`:

    .. math::
        \mathrm{LM}_i = \frac{1}{n_i}\sum_{s: y_s = i} z_{s,i}
        - \frac{1}{N - n_i}\sum_{s: y_s \ne i} z_{s,i}, \qquad
        \mathrm{RSD}_i = \frac{\sigma_i}{\mathrm{LM}_i}, \qquad
        \sigma_i = \sqrt{\frac{1}{N}\sum_s (z_{s,i} - \bar z_i)^2}

    :math:`\sigma_i` is the *population* standard deviation (divisor
    :math:`N`, ``np.std`` with ``ddof=0``) of logit :math:`i` over all
    evaluation samples. Reported, as means over classes: ``lm`` and ``rsd``
    over all classes and ``lm_many`` ... ``rsd_few`` over the many / medium
    / few groups of :class:`LongTailAccuracy` (more than ``many_shot_thr``,
    ``low_shot_thr`` to ``many_shot_thr``, fewer than ``low_shot_thr``
    training images). A class without evaluation samples has no LM and is
    left out of the means (with a warning); a group without classes is
    ``nan``. RSD is meaningful only for :math:`\mathrm{LM}_i > 0`; classes
    with :math:`\mathrm{LM}_i \le 0` are kept (negative / infinite RSD) and
    a warning names them.

    The metric needs the raw logits as ``pred_logits`` in the data samples,
    which :class:`LogitsLinearClsHead` provides.

    Per rank it keeps :math:`O(C)` sufficient statistics in float64: per
    class the number of samples, the sum of the own-class logit over the
    class's samples, and the sum and the sum of squares of the logit over
    all samples. Under distributed evaluation the sampler pads the data set
    by repeating samples at the end; mmengine's result collection drops
    them (see :meth:`evaluate`), as for :class:`LongTailAccuracy`.

    Args:
        train_class_counts (Sequence[int], optional): Training images per
            class. Overrides ``dataset_meta['train_class_counts']``.
            Defaults to None.
        many_shot_thr (int): Many-shot classes have more training images
            than this. Defaults to 100.
        low_shot_thr (int): Few-shot classes have fewer training images than
            this. Defaults to 20.
        out_file (str, optional): JSON file to write the per-class values to
            (for ``tools/analysis/plot_logits.py``); see
            :meth:`dump_per_class`. Defaults to None.
        collect_device (str): Device used to collect results across ranks.
            Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'logits'``.
    """
    default_prefix: Optional[str] = 'logits'

    def __init__(self,
                 train_class_counts: Optional[Sequence[int]] = None,
                 many_shot_thr: int = 100,
                 low_shot_thr: int = 20,
                 out_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_shot_thresholds(many_shot_thr, low_shot_thr)
        self.train_class_counts = train_class_counts
        self.many_shot_thr = many_shot_thr
        self.low_shot_thr = low_shot_thr
        self.out_file = out_file
        self._reset_state()

    def _reset_state(self) -> None:
        self._stats: Optional[Dict[str, torch.Tensor]] = None
        self._num_processed = 0
        self._last_sample: Optional[Dict[str, torch.Tensor]] = None

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Add the batch to this rank's sufficient statistics.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with ``pred_logits``
                (raw logits) and ``gt_label`` (one hard label).
        """
        if len(data_samples) == 0:
            return
        if any('pred_logits' not in s for s in data_samples):
            raise KeyError(
                'LogitsStatistics needs the raw logits as `pred_logits` in '
                "every data sample: use dict(type='LogitsLinearClsHead') "
                'as the head (MMPretrain heads only pass softmax scores).')
        logits = torch.stack([s['pred_logits'] for s in data_samples])
        labels = []
        for s in data_samples:
            label = torch.as_tensor(s['gt_label'])
            if label.numel() != 1:
                raise ValueError(
                    'LogitsStatistics needs one hard label per sample in '
                    f'`gt_label`, got a label of shape {tuple(label.shape)}.')
            labels.append(int(label))
        logits = logits.detach().to('cpu', torch.float64)
        labels = torch.tensor(labels)
        batch_stats = self.sufficient_statistics(logits, labels)
        if self._stats is None:
            self._stats = batch_stats
        else:
            if batch_stats['sum'].numel() != self._stats['sum'].numel():
                raise ValueError(
                    '`pred_logits` has different numbers of classes across '
                    f"batches: {self._stats['sum'].numel()} and "
                    f"{batch_stats['sum'].numel()}.")
            for key, value in batch_stats.items():
                self._stats[key] += value
        self._num_processed += len(labels)
        self._last_sample = self.sufficient_statistics(logits[-1:],
                                                       labels[-1:])

    def evaluate(self, size: int) -> dict:
        """Gather the statistics of all ranks and compute the metrics.

        mmengine's result collection drops the samples a distributed
        sampler pads with (the last ones of some ranks) by truncating the
        rank-interleaved per-sample results to ``size``. So this rank hands
        it one entry per processed sample: an empty dict for all but the
        last two (mmengine drops ``None`` entries before truncating), then the statistics of all samples but the last, then those of
        the last sample, which is dropped if it is padding.

        Args:
            size (int): Length of the entire evaluation data set.

        Returns:
            dict: The metrics, see :meth:`compute_metrics`.
        """
        self.results = []
        if self._stats is not None:
            last = self._last_sample
            rest = {k: v - last[k] for k, v in self._stats.items()}
            self.results = [{}] * (self._num_processed - 2) + [rest, last]
            self.results = self.results[-self._num_processed:]
        self._reset_state()
        return super().evaluate(size)

    def compute_metrics(self, results: List[dict]) -> dict:
        """Sum the statistics of all ranks and average LM and RSD.

        Args:
            results (list[dict]): The statistics of every rank (and empty
                placeholders).

        Returns:
            dict[str, float]: ``lm``, ``rsd`` and ``lm_{group}``,
            ``rsd_{group}`` for the groups ``many``, ``medium``, ``few``.
        """
        results = [r for r in results if r]  # no empty placeholders
        if not results:
            raise ValueError('LogitsStatistics got no evaluation samples.')
        stats = {k: sum(r[k] for r in results) for k in results[0]}
        per_class = self.per_class_from_statistics(stats)
        counts = resolve_train_class_counts(self.train_class_counts,
                                            self.dataset_meta,
                                            type(self).__name__)
        counts = to_counts_array(counts, per_class['lm'].size, 'the logits')
        metrics = self.summarize(per_class, counts, self.many_shot_thr,
                                 self.low_shot_thr)
        if self.out_file is not None:
            self.dump_per_class(self.out_file, per_class, counts, metrics,
                                (self.dataset_meta or {}).get('classes'))
        return metrics

    @staticmethod
    def sufficient_statistics(logits: torch.Tensor,
                              labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per-class sums of a batch, float64, each of shape (C, ).

        Args:
            logits (torch.Tensor): Logits of shape (N, C).
            labels (torch.Tensor): Class indices of shape (N, ).

        Returns:
            dict[str, torch.Tensor]: ``count`` (samples of class i),
            ``own_sum`` (sum of logit i over the samples of class i),
            ``sum`` and ``sum_sq`` (sum of logit i and of its square over
            all samples).
        """
        logits = torch.as_tensor(logits).to(torch.float64)
        labels = torch.as_tensor(labels)
        if logits.dim() != 2 or labels.dim() != 1 or labels.numel(
        ) != logits.size(0):
            raise ValueError(
                'LogitsStatistics expects logits of shape (N, C) and labels '
                f'of shape (N, ), got {tuple(logits.shape)} and '
                f'{tuple(labels.shape)}.')
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise TypeError('LogitsStatistics expects integer class indices, '
                            f'got dtype {labels.dtype}.')
        num_classes = logits.size(1)
        out_of_range = (labels < 0) | (labels >= num_classes)
        if out_of_range.any():
            raise ValueError(
                f'LogitsStatistics: label {int(labels[out_of_range][0])} is '
                f'outside [0, {num_classes - 1}] ({num_classes} classes in '
                '`pred_logits`).')
        labels = labels.long()
        own_logits = logits.gather(1, labels[:, None]).squeeze(1)
        return dict(
            count=torch.bincount(labels, minlength=num_classes).double(),
            own_sum=torch.bincount(
                labels, weights=own_logits, minlength=num_classes),
            sum=logits.sum(dim=0),
            sum_sq=(logits * logits).sum(dim=0))

    @staticmethod
    def per_class_from_statistics(
            stats: Dict[str, torch.Tensor]) -> Dict[str, np.ndarray]:
        """Per-class LM, population std and RSD from summed statistics.

        Args:
            stats (dict[str, torch.Tensor]): As from
                :meth:`sufficient_statistics`, summed over all samples.

        Returns:
            dict[str, np.ndarray]: ``lm``, ``std``, ``rsd`` and ``count``
            (evaluation samples per class), shape (C, ) float64; ``lm`` and
            ``rsd`` are ``nan`` for classes without evaluation samples.
        """
        count, own_sum, total, sum_sq = (
            stats[k].double().numpy()
            for k in ('count', 'own_sum', 'sum', 'sum_sq'))
        num_samples = count.sum()
        present = count > 0
        if num_samples == 0 or present.sum() < 2:
            raise ValueError(
                'LogitsStatistics needs evaluation samples of at least two '
                f'classes, got {int(num_samples)} samples of '
                f'{int(present.sum())} class(es).')
        mean = total / num_samples
        var = np.maximum(sum_sq / num_samples - mean * mean, 0.)
        std = np.sqrt(var)
        lm = np.full(count.shape, np.nan)
        lm[present] = (
            own_sum[present] / count[present] -
            (total[present] - own_sum[present]) /
            (num_samples - count[present]))
        with np.errstate(divide='ignore', invalid='ignore'):
            rsd = std / lm
        return dict(lm=lm, std=std, rsd=rsd, count=count)

    @staticmethod
    def summarize(per_class: Dict[str, np.ndarray],
                  train_class_counts: np.ndarray,
                  many_shot_thr: int = 100,
                  low_shot_thr: int = 20) -> Dict[str, float]:
        """Average per-class LM and RSD over all classes and shot groups.

        Args:
            per_class (dict[str, np.ndarray]): From
                :meth:`per_class_from_statistics`.
            train_class_counts (np.ndarray): Training images per class (C, ).
            many_shot_thr (int): Many-shot threshold. Defaults to 100.
            low_shot_thr (int): Few-shot threshold. Defaults to 20.

        Returns:
            dict[str, float]: ``lm``, ``rsd``, ``lm_many``, ``rsd_many``,
            ``lm_medium``, ``rsd_medium``, ``lm_few``, ``rsd_few``.
        """
        lm, rsd = per_class['lm'], per_class['rsd']
        present = ~np.isnan(lm)
        if not present.all():
            print_log(
                f'{int((~present).sum())} of {lm.size} classes have no '
                'evaluation samples; they are left out of the LM / RSD '
                'means.',
                logger='current',
                level=logging.WARNING)
        non_positive = np.flatnonzero(present & (lm <= 0))
        if non_positive.size:
            print_log(
                f'{non_positive.size} classes have a Logits Magnitude <= 0 '
                f'(first: {non_positive[:10].tolist()}); their RSD is '
                'negative or infinite and is kept in the RSD means.',
                logger='current',
                level=logging.WARNING)
        groups = shot_group_masks(train_class_counts, many_shot_thr,
                                  low_shot_thr)
        metrics = dict(
            lm=float(lm[present].mean()), rsd=float(rsd[present].mean()))
        for name, in_group in groups.items():
            selected = in_group & present
            for key, values in (('lm', lm), ('rsd', rsd)):
                metrics[f'{key}_{name}'] = float(
                    values[selected].mean()) if selected.any() else math.nan
        return metrics

    @staticmethod
    def dump_per_class(out_file: str,
                       per_class: Dict[str, np.ndarray],
                       train_class_counts: np.ndarray,
                       metrics: Dict[str, float],
                       classes: Optional[Sequence[str]] = None) -> None:
        """Write the per-class values to a JSON file.

        The file holds ``lm``, ``rsd``, ``std`` (population) and
        ``eval_count`` per class, ``train_class_counts``, ``classes``
        (names or None) and ``metrics`` (the averages, unprefixed); ``nan``
        and infinities are written as ``null``.

        Args:
            out_file (str): Path of the JSON file.
            per_class (dict[str, np.ndarray]): Per-class values.
            train_class_counts (np.ndarray): Training images per class.
            metrics (dict[str, float]): The averaged metrics.
            classes (Sequence[str], optional): Class names.
        """

        def finite_or_none(values):
            return [float(v) if math.isfinite(v) else None for v in values]

        content = dict(
            lm=finite_or_none(per_class['lm']),
            rsd=finite_or_none(per_class['rsd']),
            std=finite_or_none(per_class['std']),
            eval_count=[int(c) for c in per_class['count']],
            train_class_counts=[int(c) for c in train_class_counts],
            classes=list(classes) if classes is not None else None,
            metrics={
                k: (v if math.isfinite(v) else None)
                for k, v in metrics.items()
            },
            std_kind='population')
        mkdir_or_exist(osp.dirname(osp.abspath(out_file)))
        with open(out_file, 'w') as f:
            json.dump(content, f)

    @classmethod
    def calculate(cls,
                  logits: ArrayLike,
                  labels: ArrayLike,
                  train_class_counts: ArrayLike,
                  many_shot_thr: int = 100,
                  low_shot_thr: int = 20) -> Dict[str, float]:
        """Compute the metrics from arrays of logits and labels.

        Args:
            logits (array-like): Logits of shape (N, C).
            labels (array-like): Class indices of shape (N, ).
            train_class_counts (array-like): Training images per class (C, ).
            many_shot_thr (int): Many-shot threshold. Defaults to 100.
            low_shot_thr (int): Few-shot threshold. Defaults to 20.

        Returns:
            dict[str, float]: As :meth:`compute_metrics`.
        """
        stats = cls.sufficient_statistics(
            torch.as_tensor(np.asarray(logits)),
            torch.as_tensor(np.asarray(labels)))
        per_class = cls.per_class_from_statistics(stats)
        counts = to_counts_array(train_class_counts, per_class['lm'].size,
                                 'the logits')
        return cls.summarize(per_class, counts, many_shot_thr, low_shot_thr)
