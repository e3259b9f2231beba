r"""Many / medium / few-shot class groups of long-tailed evaluation.

With :math:`n_c` training images of class :math:`c`, thresholds
:math:`t_{many}` (``many_shot_thr``) and :math:`t_{low}` (``low_shot_thr``):
many-shot :math:`n_c > t_{many}`, medium-shot
:math:`t_{low} \le n_c \le t_{many}`, few-shot :math:`n_c < t_{low}` (the
OLTR convention: 100 and 20 by default).
"""
from typing import Dict, Mapping, Optional, Sequence, TypeVar, Union

import numpy as np
import torch

SHOT_GROUPS = ('many', 'medium', 'few')
MANY_SHOT_THR = 100  # OLTR's thresholds, the defaults everywhere
LOW_SHOT_THR = 20

CountsT = TypeVar('CountsT', np.ndarray, torch.Tensor)
ClassCounts = Union[Sequence[float], np.ndarray, torch.Tensor]


def check_shot_thresholds(many_shot_thr: int, low_shot_thr: int) -> None:
    """Refuse a few-shot threshold above the many-shot one.

    Args:
        many_shot_thr (int): Many-shot classes have more training images.
        low_shot_thr (int): Few-shot classes have fewer training images.
    """
    if low_shot_thr > many_shot_thr:
        raise ValueError(
            f'low_shot_thr ({low_shot_thr}) must not exceed many_shot_thr '
            f'({many_shot_thr}).')


def shot_group_masks(counts: CountsT,
                     many_shot_thr: int = MANY_SHOT_THR,
                     low_shot_thr: int = LOW_SHOT_THR) -> Dict[str, CountsT]:
    """Boolean class masks of the many / medium / few-shot groups.

    Args:
        counts (np.ndarray | torch.Tensor): Training images per class, (C, ).
        many_shot_thr (int): Many-shot threshold. Defaults to 100.
        low_shot_thr (int): Few-shot threshold. Defaults to 20.

    Returns:
        dict: ``many``, ``medium`` and ``few``, each a boolean mask of shape
        (C, ) of the same array type as ``counts``.
    """
    check_shot_thresholds(many_shot_thr, low_shot_thr)
    return dict(
        many=counts > many_shot_thr,
        medium=(counts >= low_shot_thr) & (counts <= many_shot_thr),
        few=counts < low_shot_thr)


def check_class_counts(counts: ClassCounts,
                       num_classes: Optional[int] = None,
                       *,
                       integers: bool = False,
                       source: str = 'the predictions',
                       name: str = 'train_class_counts',
                       owner: Optional[str] = None) -> np.ndarray:
    r"""Validate training images per class: the one check of the TRAIN
    split's class counts for the re-balancers, the heads, the class-count
    losses and the long-tail metrics.

    The counts must be 1-D with one entry per class: ``num_classes`` of them
    when given, else at least 2. By default every count must be positive and
    finite (re-balancing and the losses take :math:`\log n_c`); with
    ``integers=True`` (shot groups, reports) they must be non-negative
    integers instead, since a class without training images is few-shot.

    Args:
        counts (Sequence[float] | np.ndarray | torch.Tensor): The counts.
        num_classes (int, optional): The number of classes ``C`` they must
            match. Defaults to None (any ``C >= 2``).
        integers (bool): Require non-negative integers (of an integer dtype)
            instead of positive, finite numbers. Defaults to False.
        source (str): What has ``num_classes`` classes, for the error
            message. Defaults to ``'the predictions'``.
        name (str): The counts' argument name, for the error message.
            Defaults to ``'train_class_counts'``.
        owner (str, optional): Prefix of the error message (e.g. the loss).
            Defaults to None.

    Returns:
        np.ndarray: Shape (C, ): float64, or the integer dtype of ``counts``
        with ``integers=True``.
    """
    if isinstance(counts, torch.Tensor):
        counts = counts.detach().cpu().numpy()
    counts = np.asarray(counts)
    prefix = f'{owner}: ' if owner else ''
    if counts.ndim != 1 or (num_classes is None and counts.size < 2):
        expected = 'at least 2' if num_classes is None else num_classes
        raise ValueError(f'{prefix}{name} must be a 1-D sequence of '
                         f'{expected} counts, got shape {counts.shape}.')
    if num_classes is not None and counts.size != num_classes:
        raise ValueError(f'{prefix}{name} has {counts.size} entries but '
                         f'{source} have {num_classes} classes.')
    if integers:
        if not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any():
            raise ValueError(f'{prefix}{name} must be non-negative integers, '
                             f'got {counts}.')
        return counts
    if not np.issubdtype(counts.dtype, np.number):
        raise ValueError(f'{prefix}{name} must be numbers, got {counts}.')
    counts = counts.astype(np.float64)
    bad = ~(np.isfinite(counts) & (counts > 0))
    if bad.any():
        index = int(bad.nonzero()[0][0])
        every = 'every' if owner else 'Every'
        raise ValueError(
            f'{prefix}{every} class needs a positive, finite training count, '
            f'but class {index} has {counts[index]:g}.')
    return counts


def to_counts_array(counts: Union[np.ndarray, Sequence[int]],
                    num_classes: int,
                    source: str = 'the predictions') -> np.ndarray:
    """Training class counts for shot groups: :func:`check_class_counts`
    with ``integers=True``.

    Args:
        counts (array-like): Training images per class.
        num_classes (int): Number of classes C of the data they describe.
        source (str): What has ``num_classes`` classes, for the error
            message. Defaults to ``'the predictions'``.

    Returns:
        np.ndarray: The counts, shape (C, ), of an integer dtype.
    """
    return check_class_counts(
        counts, num_classes, integers=True, source=source)


def resolve_train_class_counts(counts: Optional[Sequence[int]],
                               dataset_meta: Optional[Mapping],
                               owner: str) -> Sequence[int]:
    """The training class counts given to a metric, else those of its
    dataset's metainfo.

    Args:
        counts (Sequence[int], optional): The metric's own
            ``train_class_counts``.
        dataset_meta (Mapping, optional): The metric's ``dataset_meta``.
        owner (str): Name of the metric, for the error message.

    Returns:
        Sequence[int]: The (unvalidated) counts.
    """
    if counts is None:
        counts = (dataset_meta or {}).get('train_class_counts')
    if counts is None:
        raise ValueError(
            f'{owner} needs the number of training images per class for the '
            'many/medium/few groups. Pass `train_class_counts` to the '
            'metric, or evaluate on an mmlt long-tailed dataset, whose '
            'metainfo carries `train_class_counts`.')
    return counts
