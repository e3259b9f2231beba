"""Long-tailed class profiles and the seeded per-class subsets that follow
them (the LDAM-DRW CIFAR-LT protocol)."""
import math
from numbers import Integral, Real
from typing import Optional, Sequence

import numpy as np

PROFILES = ('exp', 'step')


def check_real(value, name: str) -> float:
    """``value`` as a float if it is a finite real number (not a bool or a
    string), else an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{name} must be a real number, got {value!r} of '
                        f'type {type(value).__name__}.')
    if not math.isfinite(value):
        raise ValueError(f'{name} must be finite, got {value!r}.')
    return float(value)


def check_int(value, name: str) -> int:
    """``value`` as an int if it is an integer (not a bool, a float or a
    string), else an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f'{name} must be an integer, got {value!r} of type '
                        f'{type(value).__name__}.')
    return int(value)


def long_tail_class_counts(num_classes: int,
                           n_max: int,
                           imbalance_factor: float,
                           profile: str = 'exp',
                           mu: float = 0.5,
                           class_order: Optional[Sequence[int]] = None
                           ) -> np.ndarray:
    """Number of training images each class keeps under a long-tailed profile.

    The class of rank ``r`` (``r = 0`` is the head) keeps

    - ``'exp'``: :math:`n_r = \\lfloor n_{max} IF^{-r / (C - 1)} \\rfloor`,
      computed as ``int(n_max * (1 / IF) ** (r / (C - 1)))``;
    - ``'step'``: :math:`n_r = n_{max}` for the first
      :math:`C - \\lfloor \\mu C \\rfloor` ranks and
      :math:`\\lfloor n_{max} / IF \\rfloor` for the last
      :math:`\\lfloor \\mu C \\rfloor` (minority) ranks.

    Ranks follow the class index unless ``class_order`` is given, in which
    case class ``class_order[r]`` gets rank ``r``.

    Args:
        num_classes (int): Number of classes ``C`` (at least 2).
        n_max (int): Images kept by the head class.
        imbalance_factor (float): ``IF = n_max / n_min`` (at least 1).
        profile (str): ``'exp'`` or ``'step'``. Defaults to ``'exp'``.
        mu (float): Fraction of minority classes of the ``'step'`` profile,
            in ``(0, 1)``. Ignored by ``'exp'``. Defaults to 0.5.
        class_order (Sequence[int], optional): A permutation of
            ``range(C)``, head class first. Defaults to None (index order).

    Returns:
        np.ndarray: int64 array of shape ``(C,)``, indexed by class.
    """
    if check_int(num_classes, 'num_classes') < 2:
        raise ValueError(
            f'num_classes must be at least 2, got {num_classes}.')
    if check_int(n_max, 'n_max') < 1:
        raise ValueError(f'n_max must be a positive integer, got {n_max}.')
    if check_real(imbalance_factor, 'imbalance_factor') < 1:
        raise ValueError('imbalance_factor (n_max / n_min) must be >= 1, '
                         f'got {imbalance_factor}.')
    if profile == 'exp':
        counts = [
            int(n_max * (1 / imbalance_factor)**(r / (num_classes - 1)))
            for r in range(num_classes)
        ]
    elif profile == 'step':
        if not 0 < check_real(mu, 'mu') < 1:
            raise ValueError(f'mu must be in (0, 1), got {mu}.')
        num_minority = int(mu * num_classes)
        if num_minority == 0:
            raise ValueError(
                f'mu={mu} with {num_classes} classes gives no minority '
                'class; increase mu.')
        counts = ([int(n_max)] * (num_classes - num_minority) +
                  [int(n_max / imbalance_factor)] * num_minority)
    else:
        raise ValueError(
            f'profile must be one of {PROFILES}, got {profile!r}.')
    counts = np.asarray(counts, dtype=np.int64)
    if counts[-1] == 0:
        raise ValueError(
            f'The tail class would keep 0 images: n_max={n_max} with '
            f'imbalance_factor={imbalance_factor} (profile={profile!r}) '
            'rounds the tail count down to 0; increase n_max or lower '
            'imbalance_factor.')

    if class_order is None:
        return counts
    order = np.asarray(class_order, dtype=np.int64)
    if order.shape != (num_classes, ) or not np.array_equal(
            np.sort(order), np.arange(num_classes)):
        raise ValueError(f'class_order must be a permutation of '
                         f'range({num_classes}), got {list(class_order)}.')
    by_class = np.empty_like(counts)
    by_class[order] = counts
    return by_class


def long_tail_subset_indices(labels: np.ndarray, class_counts: np.ndarray,
                             seed: int) -> np.ndarray:
    """Seeded per-class random subset with ``class_counts[c]`` images of c.

    Follows the LDAM-DRW protocol: one ``np.random.RandomState(seed)``
    shuffles the indices of each class in turn (class 0 first, indices in
    dataset order before shuffling) and the first ``class_counts[c]`` are
    kept. With seed 0 this selects the same CIFAR-LT images as the LDAM-DRW
    code.

    Args:
        labels (np.ndarray): Integer label of every sample, shape ``(N,)``.
        class_counts (np.ndarray): Images to keep per class, shape ``(C,)``.
        seed (int): Seed of the shuffles.

    Returns:
        np.ndarray: Sorted int64 indices into ``labels``.
    """
    if not 0 <= check_int(seed, 'seed') < 2**32:
        raise ValueError(f'seed must be in [0, 2**32), got {seed}.')
    labels = np.asarray(labels)
    class_counts = np.asarray(class_counts)
    num_classes = len(class_counts)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError('labels must be a 1-D integer array, got shape '
                         f'{labels.shape} and dtype {labels.dtype}.')
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f'labels must be in [0, {num_classes}), got values in '
            f'[{labels.min()}, {labels.max()}].')
    available = np.bincount(labels, minlength=num_classes)
    short = np.flatnonzero(class_counts > available)
    if short.size:
        details = ', '.join(
            f'class {c}: {class_counts[c]} requested, {available[c]} available'
            for c in short[:5])
        raise ValueError(
            f'{short.size} of {num_classes} classes have fewer images than '
            f'the long-tailed profile asks for ({details}); lower n_max.')

    by_class = np.argsort(labels, kind='stable')
    ends = np.cumsum(available)
    rng = np.random.RandomState(seed)
    kept = []
    for cls, count in enumerate(class_counts):
        members = by_class[ends[cls] - available[cls]:ends[cls]].copy()
        rng.shuffle(members)
        kept.append(members[:count])
    return np.sort(np.concatenate(kept))
