r"""The numbers of the long-tail report for one result (one model's test
predictions).

With scores :math:`p_{ij}` of sample :math:`i` and class :math:`j`, label
:math:`y_i`, top-1 prediction :math:`\hat y_i = \arg\max_j p_{ij}` and
confidence :math:`s_i = \max_j p_{ij}`:

- the headline figures are those of :class:`LongTailAccuracy` (top-1, mean
  per-class, many / medium / few, ECE) and, when logits are given, of
  :class:`LogitsStatistics` (LM and RSD means), computed by the metrics'
  own ``calculate`` / sufficient-statistics code;
- per-class accuracy :math:`a_c` in percent (``nan`` without test samples);
- tail confusions: for each few-shot class :math:`c`, the classes
  :math:`k \ne c` with the most samples :math:`\#\{i: y_i = c,
  \hat y_i = k\}`;
- the confusion matrix :math:`M_{ck} = \#\{i: y_i = c, \hat y_i = k\}` with
  classes ordered by training count (head first), or for many classes the
  3 x 3 matrix of shot groups :math:`M_{gh} = \#\{i: y_i \in g,
  \hat y_i \in h\}`;
- the reliability diagram: per confidence bin :math:`B_b = (b/M, (b+1)/M]`
  of the ECE, the number of samples, their accuracy and mean confidence;
- per-class LM and RSD of LORT when logits are given.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from mmlt.evaluation.metrics import LogitsStatistics, LongTailAccuracy
from mmlt.evaluation.shot_groups import (LOW_SHOT_THR, MANY_SHOT_THR,
                                         SHOT_GROUPS, shot_group_masks,
                                         to_counts_array)

# Up to this many classes the report shows the full confusion matrix; above
# it the many / medium / few aggregate.
FULL_CONFUSION_MAX_CLASSES = 100


def analyze_result(scores: np.ndarray,
                   labels: np.ndarray,
                   train_class_counts: Sequence[int],
                   logits: Optional[np.ndarray] = None,
                   many_shot_thr: int = MANY_SHOT_THR,
                   low_shot_thr: int = LOW_SHOT_THR,
                   num_bins: int = 15,
                   num_confusions: int = 3,
                   chunk_size: int = 1024) -> Dict:
    """All report numbers of one result.

    Args:
        scores (np.ndarray): Class probabilities (``pred_score``), (N, C).
        labels (np.ndarray): True class indices, (N, ).
        train_class_counts (Sequence[int]): Training images per class, (C, ).
        logits (np.ndarray, optional): Raw logits (``pred_logits``), (N, C).
            LM and RSD are computed only if given. Defaults to None.
        many_shot_thr (int): Many-shot: more training images than this.
            Defaults to 100.
        low_shot_thr (int): Few-shot: fewer training images than this.
            Defaults to 20.
        num_bins (int): Confidence bins of the ECE and the reliability
            diagram. Defaults to 15.
        num_confusions (int): Predicted classes listed per few-shot class.
            Defaults to 3.
        chunk_size (int): Rows of ``logits`` converted to float64 at a time
            for LM / RSD (bounds the extra memory). Defaults to 1024.

    Returns:
        dict: ``metrics`` (the headline figures), ``class_accuracy`` and
        ``eval_count`` (per class), ``tail_confusions``, ``confusion``,
        ``reliability``, ``accuracy_by_count`` (the curve of
        :func:`accuracy_by_training_count`) and, with logits, ``lm`` and
        ``rsd`` per class.
    """
    num_classes = scores.shape[1]
    counts = to_counts_array(train_class_counts, num_classes, 'the scores')
    confidences, pred_labels = torch.as_tensor(scores).topk(1, dim=1)
    confidences = confidences[:, 0].to(torch.float64).numpy()
    pred_labels = pred_labels[:, 0].numpy()
    labels = np.asarray(labels, dtype=np.int64)

    metrics = LongTailAccuracy.calculate(
        pred_labels=pred_labels,
        gt_labels=labels,
        num_classes=num_classes,
        confidences=confidences,
        train_class_counts=counts,
        many_shot_thr=many_shot_thr,
        low_shot_thr=low_shot_thr,
        num_bins=num_bins)
    groups = shot_group_masks(counts, many_shot_thr, low_shot_thr)
    analysis = dict(
        metrics=metrics,
        class_accuracy=LongTailAccuracy.class_accuracy(pred_labels, labels,
                                                       num_classes),
        eval_count=np.bincount(labels, minlength=num_classes),
        tail_confusions=tail_confusions(pred_labels, labels, groups['few'],
                                        num_confusions),
        confusion=confusion_by_training_count(pred_labels, labels, counts,
                                              groups),
        reliability=reliability_bins(confidences, pred_labels == labels,
                                     num_bins))
    analysis['accuracy_by_count'] = accuracy_by_training_count(
        analysis['class_accuracy'], counts)
    if logits is not None:
        per_class = logits_per_class(logits, labels, chunk_size)
        metrics.update(
            LogitsStatistics.summarize(per_class, counts, many_shot_thr,
                                       low_shot_thr))
        analysis.update(lm=per_class['lm'], rsd=per_class['rsd'])
    return analysis


def logits_per_class(logits: np.ndarray,
                     labels: np.ndarray,
                     chunk_size: int = 1024) -> Dict[str, np.ndarray]:
    """Per-class LM, std and RSD of :class:`LogitsStatistics`, summing its
    sufficient statistics over row chunks as its ``process`` does over
    batches.

    Args:
        logits (np.ndarray): Raw logits, (N, C).
        labels (np.ndarray): True class indices, (N, ).
        chunk_size (int): Rows per chunk. Defaults to 1024.

    Returns:
        dict[str, np.ndarray]: As
        :meth:`LogitsStatistics.per_class_from_statistics`.
    """
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}.')
    labels = torch.as_tensor(labels)
    stats = None
    for start in range(0, len(labels), chunk_size):
        chunk = LogitsStatistics.sufficient_statistics(
            torch.as_tensor(logits[start:start + chunk_size]),
            labels[start:start + chunk_size])
        if stats is None:
            stats = chunk
        else:
            for key, value in chunk.items():
                stats[key] += value
    return LogitsStatistics.per_class_from_statistics(stats)


def tail_confusions(pred_labels: np.ndarray, labels: np.ndarray,
                    few_shot: np.ndarray, num_confusions: int) -> List[Dict]:
    """For each few-shot class, the classes it is most often predicted as.

    Args:
        pred_labels (np.ndarray): Top-1 predictions, (N, ).
        labels (np.ndarray): True class indices, (N, ).
        few_shot (np.ndarray): Boolean mask of the few-shot classes, (C, ).
        num_confusions (int): How many predicted classes to keep per class.

    Returns:
        list[dict]: One entry per few-shot class with test samples, in class
        order: ``class`` (index), ``predicted`` (up to ``num_confusions``
        wrong classes, most frequent first, ties by class index) and
        ``counts`` (their numbers of samples).
    """
    if num_confusions < 1:
        raise ValueError(f'num_confusions must be >= 1, got {num_confusions}.')
    num_classes = few_shot.size
    wrong = (pred_labels != labels) & few_shot[labels]
    pairs, pair_counts = np.unique(
        labels[wrong] * num_classes + pred_labels[wrong], return_counts=True)
    true, predicted = pairs // num_classes, pairs % num_classes
    order = np.lexsort((predicted, -pair_counts, true))
    true, predicted, pair_counts = (true[order], predicted[order],
                                    pair_counts[order])
    rank = np.arange(true.size) - np.searchsorted(true, true, side='left')
    keep = rank < num_confusions
    by_class = {
        int(c): {
            'class': int(c),
            'predicted': [],
            'counts': []
        }
        for c in np.flatnonzero(
            few_shot & (np.bincount(labels, minlength=num_classes) > 0))
    }
    for c, k, n in zip(true[keep], predicted[keep], pair_counts[keep]):
        by_class[int(c)]['predicted'].append(int(k))
        by_class[int(c)]['counts'].append(int(n))
    return list(by_class.values())


def confusion_by_training_count(pred_labels: np.ndarray, labels: np.ndarray,
                                train_class_counts: np.ndarray,
                                groups: Dict[str, np.ndarray]) -> Dict:
    """The confusion matrix ordered by training count, or for more than
    :data:`FULL_CONFUSION_MAX_CLASSES` classes its shot-group aggregate.

    Args:
        pred_labels (np.ndarray): Top-1 predictions, (N, ).
        labels (np.ndarray): True class indices, (N, ).
        train_class_counts (np.ndarray): Training images per class, (C, ).
        groups (dict[str, np.ndarray]): The shot-group masks.

    Returns:
        dict: ``kind`` (``'classes'`` or ``'shot_groups'``), ``order`` (the
        class indices, most training images first, or the group names) and
        ``matrix`` (rows: true, columns: predicted, in that order).
    """
    num_classes = train_class_counts.size
    if num_classes <= FULL_CONFUSION_MAX_CLASSES:
        order = np.argsort(-train_class_counts, kind='stable')
        rank = np.empty_like(order)
        rank[order] = np.arange(num_classes)
        size, true, predicted, names = (num_classes, rank[labels],
                                        rank[pred_labels], order.tolist())
        kind = 'classes'
    else:
        group_of = np.empty(num_classes, dtype=np.int64)
        for i, name in enumerate(SHOT_GROUPS):
            group_of[groups[name]] = i
        size, true, predicted, names = (len(SHOT_GROUPS), group_of[labels],
                                        group_of[pred_labels],
                                        list(SHOT_GROUPS))
        kind = 'shot_groups'
    matrix = np.bincount(
        true * size + predicted, minlength=size * size).reshape(size, size)
    return dict(kind=kind, order=names, matrix=matrix)


def reliability_bins(confidences: np.ndarray,
                     correct: np.ndarray,
                     num_bins: int = 15) -> Dict[str, np.ndarray]:
    r"""Per confidence bin of the ECE: sample count, accuracy, mean
    confidence.

    Bin :math:`b` holds :math:`(b/M, (b+1)/M]`, the first also 0, as in
    :func:`expected_calibration_error`, so that
    :math:`\mathrm{ECE} = \sum_b \frac{|B_b|}{N}|\mathrm{acc}(B_b) -
    \mathrm{conf}(B_b)|`.

    Args:
        confidences (np.ndarray): Top-1 probabilities, (N, ).
        correct (np.ndarray): Whether each top-1 prediction is right, (N, ).
        num_bins (int): Number of bins M. Defaults to 15.

    Returns:
        dict[str, np.ndarray]: ``edges`` (M + 1), ``count``, ``accuracy``
        and ``confidence`` (M each; accuracy in [0, 1], ``nan`` for empty
        bins).
    """
    edges = np.linspace(0, 1, num_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidences, side='left')
    count = np.bincount(bins, minlength=num_bins)
    with np.errstate(invalid='ignore', divide='ignore'):
        accuracy = np.bincount(
            bins, weights=correct.astype(np.float64),
            minlength=num_bins) / count
        confidence = np.bincount(
            bins, weights=confidences, minlength=num_bins) / count
    return dict(
        edges=edges, count=count, accuracy=accuracy, confidence=confidence)


def accuracy_by_training_count(class_accuracy: np.ndarray,
                               train_class_counts: np.ndarray,
                               max_points: int = 60) -> Dict[str, np.ndarray]:
    r"""The points of the per-class accuracy curve: mean accuracy of the
    classes with the same training count, or, with more than ``max_points``
    distinct counts, of the classes in each of ``max_points`` equal-width
    bins of :math:`\log(1 + n_c)`.

    Classes without test samples (``nan`` accuracy) are left out of the
    means; a point without classes is dropped.

    Args:
        class_accuracy (np.ndarray): Per-class accuracy, (C, ).
        train_class_counts (np.ndarray): Training images per class, (C, ).
        max_points (int): Most points of the curve. Defaults to 60.

    Returns:
        dict[str, np.ndarray]: ``count`` (mean training count of the
        point's classes), ``accuracy`` and ``num_classes``, ascending count.
    """
    present = ~np.isnan(class_accuracy)
    counts = train_class_counts[present].astype(np.float64)
    accuracy = class_accuracy[present]
    distinct, point = np.unique(counts, return_inverse=True)
    if distinct.size > max_points:
        edges = np.linspace(0, np.log1p(counts.max()), max_points + 1)
        _, point = np.unique(
            np.searchsorted(edges[1:-1], np.log1p(counts), side='right'),
            return_inverse=True)
    num_classes = np.bincount(point)
    return dict(
        count=np.bincount(point, weights=counts) / num_classes,
        accuracy=np.bincount(point, weights=accuracy) / num_classes,
        num_classes=num_classes)
