"""The logits, labels and training class counts of one evaluated split."""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from mmlt.evaluation.shot_groups import to_counts_array
from .test_dump import read_test_dump


@dataclass(frozen=True)
class SplitRecord:
    """What an experiment needs of one evaluated split.

    Everything after collection (choices on the validation split, test
    figures, tables) reads a record, never a dataloader, so a choice can only
    use the split it was given.

    Args:
        split (str): Which split, e.g. ``'val'`` or ``'test'``.
        logits (torch.Tensor): Plain logits, shape (N, C), float.
        labels (torch.Tensor): True labels, shape (N, ), int64.
        train_class_counts (tuple[int]): Training images per class of the
            TRAIN split, length C.
        classes (tuple[str], optional): Class names, length C.
        features (torch.Tensor, optional): Per-sample features, (N, D).
    """
    split: str
    logits: torch.Tensor
    labels: torch.Tensor
    train_class_counts: Tuple[int, ...]
    classes: Optional[Tuple[str, ...]] = None
    features: Optional[torch.Tensor] = None

    def __post_init__(self):
        logits, labels = self.logits, self.labels
        if logits.dim() != 2 or logits.size(0) == 0:
            raise ValueError(f'The {self.split} split: logits must have '
                             f'shape (N, C) with N >= 1, got '
                             f'{tuple(logits.shape)}.')
        num, num_classes = logits.shape
        if labels.shape != (num, ) or labels.dtype != torch.int64:
            raise ValueError(
                f'The {self.split} split: labels must be int64 of shape '
                f'({num}, ), got {labels.dtype} {tuple(labels.shape)}.')
        if num and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'The {self.split} split has labels in [{int(labels.min())}, '
                f'{int(labels.max())}], expected [0, {num_classes}).')
        counts = to_counts_array(self.train_class_counts, num_classes,
                                 f'the {self.split} logits')
        object.__setattr__(self, 'train_class_counts',
                           tuple(int(n) for n in counts))
        if self.classes is not None:
            if len(self.classes) != num_classes:
                raise ValueError(
                    f'The {self.split} split has {len(self.classes)} class '
                    f'names for {num_classes} classes of logits.')
            object.__setattr__(self, 'classes', tuple(self.classes))
        if self.features is not None and (self.features.dim() != 2
                                          or self.features.size(0) != num):
            raise ValueError(
                f'The {self.split} split: features must have shape ({num}, '
                f'D), got {tuple(self.features.shape)}.')

    @property
    def num_classes(self) -> int:
        return self.logits.size(1)

    def __len__(self) -> int:
        return self.logits.size(0)

    def subset(self, indices: Sequence[int]) -> 'SplitRecord':
        """The record of the samples at ``indices``, in that order."""
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return SplitRecord(
            self.split, self.logits[index], self.labels[index],
            self.train_class_counts, self.classes,
            None if self.features is None else self.features[index])

    @classmethod
    def from_dump(cls,
                  path: str,
                  train_class_counts: Sequence[int],
                  split: str = 'test',
                  classes: Optional[Sequence[str]] = None) -> 'SplitRecord':
        """Read the predictions ``tools/test.py --out`` writes (MMEngine's
        ``DumpResults``: a list of dicts with ``gt_label`` and
        ``pred_logits``, the latter from ``LogitsLinearClsHead`` or
        ``RebalancedLinearClsHead``), with :func:`read_test_dump`.

        Args:
            path (str): The ``.pkl`` file.
            train_class_counts (Sequence[int]): Training images per class
                (a dump does not carry them).
            split (str): Name of the split. Defaults to ``'test'``.
            classes (Sequence[str], optional): Class names.

        Returns:
            SplitRecord: The record, in the dump's (dataset) order.
        """
        dump = read_test_dump(path)
        if 'logits' not in dump:
            raise ValueError(
                f'{path} has no `pred_logits`; dump the predictions of a '
                'head that keeps the logits (model.head.type='
                'LogitsLinearClsHead or RebalancedLinearClsHead).')
        logits = torch.from_numpy(dump['logits'])
        labels = torch.from_numpy(dump['labels'])
        return cls(split, logits, labels, tuple(train_class_counts),
                   None if classes is None else tuple(classes))
