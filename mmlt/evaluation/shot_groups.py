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


def to_counts_array(counts: Union[np.ndarray, Sequence[int]],
                    num_classes: int,
                    source: str = 'the predictions') -> np.ndarray:
    """Validate training class counts against the number of classes.

    Args:
        counts (array-like): Training images per class.
        num_classes (int): Number of classes C of the data they describe.
        source (str): What has ``num_classes`` classes, for the error
            message. Defaults to ``'the predictions'``.

    Returns:
        np.ndarray: The counts, shape (C, ), of an integer dtype.
    """
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.size != num_classes:
        raise ValueError(
            f'train_class_counts has {counts.size} entries but {source} '
            f'have {num_classes} classes.')
    if not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any():
        raise ValueError('train_class_counts must be non-negative integers, '
                         f'got {counts}.')
    return counts


def check_class_counts(counts: ClassCounts,
                       num_classes: int) -> torch.Tensor:
    """Validate training images per class; return them as float64 on CPU.

    Args:
        counts (Sequence[float] | np.ndarray | torch.Tensor): ``C`` positive,
            finite counts of the TRAIN split (``train_class_counts``).
        num_classes (int): The number of classes ``C`` they must match.

    Returns:
        torch.Tensor: Shape (C, ), float64.
    """
    counts = torch.as_tensor(counts).detach().cpu().to(torch.float64)
    if counts.dim() != 1:
        raise ValueError('train_class_counts must be a 1-D sequence, got '
                         f'shape {tuple(counts.shape)}.')
    if counts.numel() != num_classes:
        raise ValueError(f'Got {counts.numel()} train class counts for '
                         f'{num_classes} classes.')
    bad = ~(torch.isfinite(counts) & (counts > 0))
    if bool(bad.any()):
        index = int(bad.nonzero()[0])
        raise ValueError(
            'Every class needs a positive, finite training count, but class '
            f'{index} has {counts[index].item():g}.')
    return counts


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
