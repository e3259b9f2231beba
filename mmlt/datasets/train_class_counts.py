"""The training images per class of a training dataset."""
from typing import Optional

import numpy as np


def train_class_counts(dataset,
                       num_classes: Optional[int] = None,
                       owner: str = 'mmlt') -> np.ndarray:
    """Training images per class of a training ``dataset``: its
    ``metainfo['train_class_counts']`` (every mmlt long-tailed dataset
    carries them), else :math:`n_c = |\\{i : y_i = c\\}|` over its labels
    (``get_gt_labels()``). Validating them is the caller's
    (:func:`mmlt.evaluation.shot_groups.check_class_counts`).

    Args:
        dataset: The training dataset.
        num_classes (int, optional): C, so that classes without images
            count 0. Defaults to the length of ``metainfo['classes']``, else
            the largest label + 1.
        owner (str): What needs the counts, for the error message.

    Returns:
        np.ndarray: The counts, shape (C, ).

    Raises:
        ValueError: If the dataset has neither.
    """
    metainfo = getattr(dataset, 'metainfo', None) or {}
    counts = metainfo.get('train_class_counts')
    if counts is not None:
        return np.asarray(counts)
    if not hasattr(dataset, 'get_gt_labels'):
        raise ValueError(
            f'{owner} needs the training images per class, but the training '
            f'dataset ({type(dataset).__name__}) has no `train_class_counts` '
            'in its metainfo and no `get_gt_labels()`: use an mmlt '
            'long-tailed dataset (e.g. LongTailDataset) or give '
            f'{owner} the counts.')
    if num_classes is None:
        classes = metainfo.get('classes')
        num_classes = 0 if classes is None else len(classes)
    labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    return np.bincount(labels, minlength=num_classes)
