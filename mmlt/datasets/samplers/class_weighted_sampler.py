import math
import warnings
from typing import Iterator, Optional, Sized

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler


class ClassWeightedSampler(Sampler):
    """Base of samplers that draw a class, then an image of that class.

    Each draw picks class ``c`` with probability
    :math:`p_c = w_c / \\sum_{c'} w_{c'}`, where the weights ``w_c`` come
    from :meth:`class_weights` applied to the per-class image counts of the
    dataset, and then one of the images of class ``c`` uniformly at random
    (both with replacement). The number of classes ``C`` is that of the
    dataset's ``metainfo['classes']`` (the largest label + 1 for a dataset
    without it); classes without images get no draws, with a warning that
    names them.

    An epoch has ``len(dataset)`` draws (rounded up to a multiple of the
    world size). As in mmengine's ``DefaultSampler``, all ranks generate the
    same stream of draws from ``seed + epoch`` and rank ``r`` keeps
    positions ``r, r + world_size, ...``, so the ranks get disjoint shares;
    call :meth:`set_epoch` every epoch to reseed.

    ``shuffle=True`` is accepted so that the ``sampler.type`` of a stock
    config (``dict(type='DefaultSampler', shuffle=True)``) can be switched
    with ``--cfg-options``; the draws are random either way, so
    ``shuffle=False`` is refused.

    Args:
        dataset (Sized): The dataset; it must have ``get_gt_labels()``.
        seed (int, optional): Random seed, identical on all ranks. Defaults
            to None, a seed synchronised across ranks.
        rank (int, optional): Rank of this process. Defaults to None, the
            rank of the current process group.
        world_size (int, optional): Number of processes. Defaults to None,
            the size of the current process group.
        shuffle (bool): Must be True (the default); see above.
    """

    def __init__(self,
                 dataset: Sized,
                 seed: Optional[int] = None,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None,
                 shuffle: bool = True) -> None:
        if shuffle is not True:
            raise ValueError(
                f'{type(self).__name__} draws at random with replacement; '
                f'shuffle must be True (kept for configs that switch from '
                f'DefaultSampler), got {shuffle!r}. Use DefaultSampler with '
                'shuffle=False for a fixed order.')
        dist_rank, dist_world_size = get_dist_info()
        self.rank = dist_rank if rank is None else rank
        self.world_size = (
            dist_world_size if world_size is None else world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'rank must be in [0, {self.world_size}), got '
                             f'{self.rank}.')
        self.dataset = dataset
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0

        labels = np.asarray(dataset.get_gt_labels())
        if (labels.ndim != 1 or labels.size == 0
                or not np.issubdtype(labels.dtype, np.integer)):
            raise ValueError(
                'get_gt_labels() must return a non-empty 1-D array of '
                f'non-negative integer labels, got shape {labels.shape} and '
                f'dtype {labels.dtype}.')
        if labels.min() < 0:
            raise ValueError(
                'get_gt_labels() must return non-negative integer labels, got '
                f'label {labels.min()} at index {labels.argmin()}.')
        num_classes = self._num_classes(dataset, labels)
        labels = torch.from_numpy(labels.astype(np.int64))
        class_counts = torch.bincount(labels, minlength=num_classes)
        empty = torch.nonzero(class_counts == 0).flatten().tolist()
        if empty:
            warnings.warn(
                f'{type(self).__name__}: {len(empty)} of {num_classes} '
                f'classes have no images and are never drawn (first: '
                f'{empty[:10]}).')
        # Dataset indices grouped by class; class c owns the block
        # [class_starts[c], class_starts[c] + class_counts[c]).
        self._indices_by_class = torch.argsort(labels, stable=True)
        self._class_starts = torch.cumsum(class_counts, 0) - class_counts
        self._class_counts = class_counts
        weights = self.class_weights(class_counts.double())
        weights = torch.where(class_counts > 0, weights, 0.)
        self.class_probs = weights / weights.sum()

        self.num_samples = math.ceil(len(labels) / self.world_size)
        self.total_size = self.num_samples * self.world_size

    @staticmethod
    def _num_classes(dataset: Sized, labels: np.ndarray) -> int:
        """``C`` from ``metainfo['classes']``, else the largest label + 1."""
        classes = getattr(dataset, 'metainfo', {}).get('classes')
        if classes is None:
            return int(labels.max()) + 1
        if labels.max() >= len(classes):
            raise ValueError(
                f'get_gt_labels() has label {labels.max()} at index '
                f'{labels.argmax()}, out of range for the {len(classes)} '
                "classes of the dataset's metainfo.")
        return len(classes)

    def class_weights(self, class_counts: torch.Tensor) -> torch.Tensor:
        """Unnormalised class probabilities from the per-class counts."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        """Iterate the indices of this rank for the current epoch."""
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        classes = torch.multinomial(
            self.class_probs,
            self.total_size,
            replacement=True,
            generator=generator)
        # float64 uniforms keep floor(u * n) < n for any class size n.
        uniforms = torch.rand(
            self.total_size, dtype=torch.float64, generator=generator)
        offsets = (uniforms * self._class_counts[classes]).long()
        indices = self._indices_by_class[self._class_starts[classes] +
                                         offsets]
        indices = indices[self.rank:self.total_size:self.world_size]
        return iter(indices.tolist())

    def __len__(self) -> int:
        """The number of samples in this rank."""
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, which reseeds the draws.

        Args:
            epoch (int): Epoch number.
        """
        self.epoch = epoch
