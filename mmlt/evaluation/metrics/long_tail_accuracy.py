import logging
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmpretrain.registry import METRICS

from ..shot_groups import (check_shot_thresholds, resolve_train_class_counts,
                           shot_group_masks, to_counts_array)


@METRICS.register_module()
class LongTailAccuracy(BaseMetric):
    r"""Accuracy metrics for long-tailed classification.

    Every figure is in percent, like MMPretrain's :class:`Accuracy`; all
    but ``top{k}`` (k > 1) are top-1 based. With per-class accuracy
    :math:`a_c = \#\{i: y_i = c, \hat y_i = c\} / \#\{i: y_i = c\}`:

    - ``top{k}``: fraction of samples whose label is among the ``k`` highest
      scores, for every ``k`` in ``topk``; ``top1`` is always reported.
    - ``mean_class_acc``: :math:`\frac{1}{|P|}\sum_{c \in P} a_c` over the
      set :math:`P` of classes with at least one evaluated sample; on a
      balanced test set this is the figure long-tail papers report.
    - ``many`` / ``medium`` / ``few``: the same mean restricted to classes
      with more than ``many_shot_thr`` training images, between
      ``low_shot_thr`` and ``many_shot_thr`` inclusive, and fewer than
      ``low_shot_thr`` (the OLTR / classifier-balancing ``shot_acc``
      convention: a mean of per-class accuracies, not a pooled accuracy).
      A group holding no evaluated class is reported as ``nan``.
    - ``ece``: expected calibration error of the top-1 confidence
      :math:`s_i = \max_j p_{ij}` with ``num_bins`` equal-width bins
      :math:`B_b = (b/M, (b+1)/M]`, in percent (0 to 100):
      :math:`100 \sum_b \frac{|B_b|}{N} |\mathrm{acc}(B_b) -
      \mathrm{conf}(B_b)|`.

    Besides these keys (prefixed ``long-tail/``), the top-k accuracies are
    also reported under MMPretrain's names ``accuracy/top{k}`` (copies of
    ``long-tail/top{k}``), so that ``save_best='accuracy/top1'``, log
    parsers and MMPretrain's ``analyze_logs.py`` work unchanged.

    Classes without evaluated samples are left out of every class mean (a
    warning says how many). After each evaluation,
    :attr:`per_class_accuracy` holds the per-class accuracies (percent, ``nan`` for a class without
    samples) on the rank that computed the metrics, for
    :class:`ClassAccuracyHook` to log. Shot groups use the *training* class counts,
    taken from ``train_class_counts`` if given, else from the dataset's
    ``metainfo['train_class_counts']``.

    For correct results under distributed evaluation, :meth:`process` stores
    a few scalars per sample (label, prediction, confidence, top-k hits) and
    :meth:`compute_metrics` computes every figure on the gathered set.

    Args:
        topk (int | Sequence[int]): Extra top-k accuracies to report.
            Defaults to ``(1, )``.
        train_class_counts (Sequence[int], optional): Training images per
            class. Overrides ``dataset_meta['train_class_counts']``.
            Defaults to None.
        many_shot_thr (int): Classes with more training images than this are
            many-shot. Defaults to 100.
        low_shot_thr (int): Classes with fewer training images than this are
            few-shot. Defaults to 20.
        num_bins (int): Number of confidence bins of the ECE. Defaults to 15.
        collect_device (str): Device used to collect results across ranks,
            'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'long-tail'``.
        accuracy_keys (bool): Whether to also report ``accuracy/top{k}``.
            Set it to False when the evaluator also holds MMPretrain's
            :class:`Accuracy`, which reports the same names. Defaults to
            True.

    Examples:
        >>> from mmlt.evaluation import LongTailAccuracy
        >>> LongTailAccuracy.calculate(
        ...     pred_labels=[0, 0, 1, 2], gt_labels=[0, 1, 1, 2],
        ...     num_classes=3, train_class_counts=[500, 50, 5])
        {'top1': 75.0, 'mean_class_acc': 83.33..., 'many': 100.0,
         'medium': 50.0, 'few': 100.0}
    """
    default_prefix: Optional[str] = 'long-tail'

    def __init__(self,
                 topk: Union[int, Sequence[int]] = (1, ),
                 train_class_counts: Optional[Sequence[int]] = None,
                 many_shot_thr: int = 100,
                 low_shot_thr: int = 20,
                 num_bins: int = 15,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 accuracy_keys: bool = True) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.accuracy_keys = accuracy_keys
        # Figure-name prefix ('' or 'rebalanced/') -> (C, ) accuracies.
        self.per_class_accuracy: Dict[str, np.ndarray] = {}
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(
                f'`topk` must be positive integers, got {self.topk}.')
        check_shot_thresholds(many_shot_thr, low_shot_thr)
        if num_bins < 1:
            raise ValueError(f'`num_bins` must be >= 1, got {num_bins}.')
        self.train_class_counts = train_class_counts
        self.many_shot_thr = many_shot_thr
        self.low_shot_thr = low_shot_thr
        self.num_bins = num_bins

    def evaluate(self, size: int) -> Dict[str, float]:
        """Compute the metrics and add the ``accuracy/top{k}`` copies.

        Args:
            size (int): Length of the entire evaluation dataset.

        Returns:
            dict[str, float]: The prefixed metrics, plus ``accuracy/top{k}``
            if ``accuracy_keys``.
        """
        metrics = super().evaluate(size)
        if self.accuracy_keys:
            prefix = f'{self.prefix}/' if self.prefix else ''
            for k in sorted(set(self.topk) | {1}):
                metrics[f'accuracy/top{k}'] = metrics[f'{prefix}top{k}']
        return metrics

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store label, top-1 prediction, confidence and top-k hits of every
        sample in ``self.results``.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with ``pred_score``
                (class probabilities) and ``gt_label`` (one hard label).
        """
        if len(data_samples) == 0:
            return
        if any('pred_score' not in s for s in data_samples):
            raise KeyError('LongTailAccuracy needs `pred_score` (class '
                           'probabilities) in every data sample; the '
                           'classification heads of MMPretrain set it.')
        scores = torch.stack([s['pred_score'] for s in data_samples]).cpu()
        check_finite_predictions(scores, 'pred_score', type(self).__name__)
        num_classes = scores.size(1)
        gt_labels = []
        for s in data_samples:
            label = torch.as_tensor(s['gt_label'])
            if label.numel() != 1:
                raise ValueError(
                    'LongTailAccuracy needs one hard label per sample in '
                    f'`gt_label`, got a label of shape {tuple(label.shape)}.')
            gt_labels.append(int(label))
        gt_labels = torch.tensor(gt_labels)

        maxk = max(self.topk)
        if maxk > num_classes:
            raise ValueError(
                f'Top-{maxk} accuracy is unavailable with {num_classes} '
                'classes. Please check `topk` of the LongTailAccuracy in '
                '`val_evaluator` / `test_evaluator`.')
        confidences, ranked = scores.topk(maxk, dim=1)
        hits = ranked == gt_labels[:, None]
        extra_ks = [k for k in self.topk if k > 1]
        topk_hits = torch.stack(
            [hits[:, :k].any(dim=1) for k in extra_ks],
            dim=1) if extra_ks else hits[:, :0]
        for gt, pred, conf, hit in zip(gt_labels.tolist(),
                                       ranked[:, 0].tolist(),
                                       confidences[:, 0].tolist(),
                                       topk_hits.tolist()):
            self.results.append(
                dict(
                    gt_label=gt,
                    pred_label=pred,
                    confidence=conf,
                    topk_hits=hit,
                    num_classes=num_classes))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute the metrics from the per-sample results of all ranks.

        Args:
            results (list[dict]): The gathered outputs of :meth:`process`.

        Returns:
            dict[str, float]: ``top{k}``, ``mean_class_acc``, ``many``,
            ``medium``, ``few`` and ``ece``.
        """
        if len(results) == 0:
            raise ValueError('LongTailAccuracy got no evaluation samples.')
        num_classes = {res['num_classes'] for res in results}
        if len(num_classes) != 1:
            raise ValueError('`pred_score` has different numbers of classes '
                             f'across samples: {sorted(num_classes)}.')
        num_classes = num_classes.pop()

        counts = resolve_train_class_counts(self.train_class_counts,
                                            self.dataset_meta,
                                            type(self).__name__)
        pred_labels = np.array([res['pred_label'] for res in results])
        gt_labels = np.array([res['gt_label'] for res in results])
        metrics = self.calculate(
            pred_labels=pred_labels,
            gt_labels=gt_labels,
            num_classes=num_classes,
            confidences=np.array([res['confidence'] for res in results]),
            train_class_counts=counts,
            many_shot_thr=self.many_shot_thr,
            low_shot_thr=self.low_shot_thr,
            num_bins=self.num_bins)

        hits = np.array([res['topk_hits'] for res in results], dtype=bool)
        extra_ks = [k for k in self.topk if k > 1]
        for i, k in enumerate(extra_ks):
            metrics[f'top{k}'] = float(hits[:, i].mean() * 100)
        self.per_class_accuracy = {
            '': self.class_accuracy(pred_labels, gt_labels, num_classes)
        }
        return metrics

    @staticmethod
    def class_accuracy(pred_labels: np.ndarray, gt_labels: np.ndarray,
                       num_classes: int) -> np.ndarray:
        """Per-class top-1 accuracy in percent; ``nan`` for classes without
        samples.

        Args:
            pred_labels (np.ndarray): Predicted labels, shape (N, ).
            gt_labels (np.ndarray): True labels, shape (N, ).
            num_classes (int): Number of classes C.

        Returns:
            np.ndarray: Shape (C, ), float64.
        """
        support = np.bincount(gt_labels, minlength=num_classes)
        correct = np.bincount(
            gt_labels, weights=pred_labels == gt_labels, minlength=num_classes)
        acc = np.full(num_classes, np.nan)
        present = support > 0
        acc[present] = correct[present] / support[present] * 100
        return acc

    @staticmethod
    def calculate(
        pred_labels: Union[np.ndarray, torch.Tensor, Sequence[int]],
        gt_labels: Union[np.ndarray, torch.Tensor, Sequence[int]],
        num_classes: int,
        confidences: Union[np.ndarray, torch.Tensor, Sequence[float],
                           None] = None,
        train_class_counts: Union[np.ndarray, Sequence[int], None] = None,
        many_shot_thr: int = 100,
        low_shot_thr: int = 20,
        num_bins: int = 15,
    ) -> Dict[str, float]:
        """Compute the metrics from arrays of predictions.

        Args:
            pred_labels (array-like): Top-1 predicted labels, shape (N, ).
            gt_labels (array-like): True labels, shape (N, ).
            num_classes (int): Number of classes C.
            confidences (array-like, optional): Top-1 probabilities, shape
                (N, ), in [0, 1]. ``ece`` is computed only if given.
            train_class_counts (array-like, optional): Training images per
                class, shape (C, ). ``many``, ``medium`` and ``few`` are
                computed only if given.
            many_shot_thr (int): Many-shot means more training images than
                this. Defaults to 100.
            low_shot_thr (int): Few-shot means fewer training images than
                this. Defaults to 20.
            num_bins (int): Number of ECE bins. Defaults to 15.

        Returns:
            dict[str, float]: ``top1`` and ``mean_class_acc`` (percent),
            ``many``, ``medium``, ``few`` (percent, ``nan`` for an empty
            group) and ``ece`` (percent) when their inputs are given.
        """
        pred_labels = _to_label_array(pred_labels, 'pred_labels', num_classes)
        gt_labels = _to_label_array(gt_labels, 'gt_labels', num_classes)
        if pred_labels.shape != gt_labels.shape:
            raise ValueError(
                f'pred_labels has {pred_labels.size} entries but gt_labels '
                f'has {gt_labels.size}.')
        if gt_labels.size == 0:
            raise ValueError('LongTailAccuracy got no evaluation samples.')

        class_acc = LongTailAccuracy.class_accuracy(pred_labels, gt_labels,
                                                    num_classes)
        present = ~np.isnan(class_acc)
        if not present.all():
            print_log(
                f'{num_classes - present.sum()} of {num_classes} classes '
                'have no evaluation samples; they are left out of the class '
                'means.',
                logger='current',
                level=logging.WARNING)
        metrics = dict(
            top1=float((pred_labels == gt_labels).mean() * 100),
            mean_class_acc=float(class_acc[present].mean()))

        if train_class_counts is not None:
            counts = to_counts_array(train_class_counts, num_classes)
            groups = shot_group_masks(counts, many_shot_thr, low_shot_thr)
            for name, in_group in groups.items():
                selected = class_acc[in_group & present]
                metrics[name] = float(
                    selected.mean()) if selected.size else float('nan')

        if confidences is not None:
            confidences = np.asarray(confidences, dtype=np.float64).ravel()
            if confidences.shape != gt_labels.shape:
                raise ValueError(
                    f'confidences has {confidences.size} entries but '
                    f'gt_labels has {gt_labels.size}.')
            metrics['ece'] = 100 * expected_calibration_error(
                confidences, pred_labels == gt_labels, num_bins)
        return metrics


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray,
                               num_bins: int = 15) -> float:
    r"""Expected calibration error with equal-width confidence bins.

    Bin :math:`b` holds confidences in :math:`(b/M, (b+1)/M]` (the first also
    holds 0); :math:`\mathrm{ECE} = \sum_b \frac{|B_b|}{N}
    |\mathrm{acc}(B_b) - \mathrm{conf}(B_b)|
    = \frac{1}{N}\sum_b |\sum_{i \in B_b} (\mathbb{1}[\text{correct}_i] -
    s_i)|`.

    Args:
        confidences (np.ndarray): Top-1 probabilities, shape (N, ).
        correct (np.ndarray): Whether each top-1 prediction is right, (N, ).
        num_bins (int): Number of bins M. Defaults to 15.

    Returns:
        float: The ECE as a fraction, in [0, 1] (the metrics report it in
        percent).
    """
    tol = 1e-6  # float32 softmax may exceed 1 by rounding
    if not np.isfinite(confidences).all():
        raise ValueError(
            'ECE needs finite top-1 probabilities, got '
            f'{float(confidences[~np.isfinite(confidences)][0])!r}: the '
            'logits became non-finite (e.g. training diverged).')
    bad = (confidences < 0) | (confidences > 1 + tol)
    if bad.any():
        raise ValueError(
            'ECE needs top-1 probabilities in [0, 1], got '
            f'{confidences[bad][0]!r}; `pred_score` must be softmax '
            'probabilities.')
    edges = np.linspace(0, 1, num_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidences, side='left')
    gap = np.bincount(
        bins, weights=correct.astype(np.float64) - confidences,
        minlength=num_bins)
    return float(np.abs(gap).sum() / confidences.size)


def check_finite_predictions(values: torch.Tensor, name: str,
                             metric: str) -> None:
    """Raise an error that says the logits became non-finite if ``values``
    (scores or logits of a batch) hold ``nan`` or ``inf``."""
    bad = ~torch.isfinite(values)
    if bad.any():
        rows = bad.any(dim=1).sum().item()
        raise ValueError(
            f'{metric}: `{name}` of {rows} of {values.size(0)} samples in a '
            f'batch is non-finite (first: {values[bad][0].item()!r}): the '
            "model's logits became non-finite, e.g. because training "
            'diverged (learning rate too high, no gradient clipping).')


def _to_label_array(labels, name: str, num_classes: int) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f'{name} must be a 1-D array of class indices, got '
                         f'shape {labels.shape}.')
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f'{name} must hold integer class indices, got dtype '
                        f'{labels.dtype}.')
    labels = labels.astype(np.int64)
    out_of_range = (labels < 0) | (labels >= num_classes)
    if out_of_range.any():
        raise ValueError(
            f'{name} has label {labels[out_of_range][0]} outside [0, '
            f'{num_classes - 1}] ({num_classes} classes in `pred_score`).')
    return labels
