from typing import List, Optional, Sequence

import numpy as np
from mmengine.fileio import exists, join_path

from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.datasets.utils import check_md5
from mmpretrain.registry import DATASETS
from .long_tail_profile import (check_int, long_tail_class_counts,
                                long_tail_subset_indices)


@DATASETS.register_module()
class CIFAR10LT(CIFAR10):
    """Long-tailed CIFAR-10 (LDAM-DRW protocol).

    The train split keeps, for class ``c``,
    :math:`\\lfloor n_{max} IF^{-c/(C-1)} \\rfloor` images drawn by a
    per-class shuffle seeded with ``seed`` (the LDAM-DRW subsets for seed 0;
    see :func:`long_tail_subset_indices`): 12,406 / 13,996 / 20,431 images
    for IF 100 / 50 / 10. The test split stays balanced (1,000 per class).
    Both splits carry the training counts in
    ``metainfo['train_class_counts']``.

    The files are read by MMPretrain's :class:`CIFAR10` loader from
    ``data_root/cifar-10-batches-py`` (see docs/dataset_prepare.md). Unlike
    that loader, nothing is downloaded unless ``download=True``, and the
    files are not compared with the md5 of the official release unless
    ``check_md5=True``: instead the loaded split must have the official
    number of images per class, which catches truncated or foreign files
    while accepting well-formed re-serialised copies.

    Args:
        data_root (str): Directory holding ``cifar-10-batches-py``.
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        imbalance_factor (float): ``n_max / n_min``. Defaults to 100.
        n_max (int, optional): Images of the head class. Defaults to None,
            i.e. 5,000 (500 for CIFAR-100).
        profile (str): ``'exp'`` or ``'step'``. Defaults to ``'exp'``.
        mu (float): Fraction of minority classes of the ``'step'`` profile.
            Defaults to 0.5.
        class_order (Sequence[int], optional): Classes from head to tail.
            Defaults to None (class-index order).
        seed (int): Seed of the per-class subsets. Defaults to 0.
        download (bool): Whether to download missing files. Defaults to
            False.
        check_md5 (bool): Whether to require the official file bytes.
            Defaults to False.
        **kwargs: Other keyword arguments of :class:`CIFAR10`.
    """

    N_MAX = 5000
    SPLIT_CLASS_SIZE = {'train': 5000, 'test': 1000}

    def __init__(self,
                 data_root: str = 'data/cifar10',
                 split: str = 'train',
                 imbalance_factor: float = 100.,
                 n_max: Optional[int] = None,
                 profile: str = 'exp',
                 mu: float = 0.5,
                 class_order: Optional[Sequence[int]] = None,
                 seed: int = 0,
                 download: bool = False,
                 check_md5: bool = False,
                 **kwargs):
        num_classes = len(self.METAINFO['classes'])
        n_max = self.N_MAX if n_max is None else n_max
        self.train_class_counts = long_tail_class_counts(
            num_classes, n_max, imbalance_factor, profile, mu, class_order)
        class_size = self.SPLIT_CLASS_SIZE['train']
        if n_max > class_size:
            raise ValueError(
                f'n_max={n_max} exceeds the {class_size} images per class of '
                f'the {type(self).__name__} train split.')
        self.seed = check_int(seed, 'seed')
        self.check_md5 = check_md5
        super().__init__(
            data_root=data_root, split=split, download=download, **kwargs)
        self._metainfo['train_class_counts'] = tuple(
            int(n) for n in self.train_class_counts)

    def load_data_list(self) -> List[dict]:
        """Load the split and keep the long-tailed subset of the train
        split."""
        data_list = super().load_data_list()
        labels = np.array([info['gt_label'] for info in data_list],
                          dtype=np.int64)
        num_classes = len(self.train_class_counts)
        if labels.size and (labels.min() < 0
                            or labels.max() >= num_classes):
            raise ValueError(
                f'{self._split_dir()} has labels in [{labels.min()}, '
                f'{labels.max()}], expected [0, {num_classes}).')
        sizes = np.bincount(labels, minlength=num_classes)
        expected = self.SPLIT_CLASS_SIZE[self.split]
        if np.any(sizes != expected):
            raise ValueError(
                f'{self._split_dir()} does not hold the {self.split} split '
                f'of {type(self).__name__}: expected {expected} images for '
                f'each of {num_classes} classes, got per-class sizes '
                f'{sizes.tolist()}.')
        if self.split != 'train':
            return data_list
        keep = long_tail_subset_indices(labels, self.train_class_counts,
                                        self.seed)
        return [data_list[i] for i in keep]

    def get_train_class_counts(self) -> np.ndarray:
        """Training images per class, shape ``(C,)``."""
        return self.train_class_counts.copy()

    def _check_integrity(self) -> bool:
        """Check that every split file exists (and has the official md5 if
        ``check_md5``).

        Returns False only when ``download=True`` so that the parent loader
        fetches the archive; otherwise a missing or mismatching file raises
        an error that says how to prepare the data.
        """
        files = self.train_list + self.test_list
        missing = [name for name, _ in files if not exists(self._path(name))]
        if missing:
            if self.download:
                return False
            raise FileNotFoundError(
                f'{type(self).__name__} files {missing} not found in '
                f'{self._split_dir()}. Download and extract {self.url} into '
                f'{self.data_prefix["root"]} (see docs/dataset_prepare.md) '
                'or pass download=True.')
        if self.check_md5:
            mismatched = [
                name for name, md5 in files
                if not check_md5(self._path(name), md5)
            ]
            if mismatched:
                if self.download:
                    return False
                raise RuntimeError(
                    f'{type(self).__name__} files {mismatched} in '
                    f'{self._split_dir()} differ from the official release '
                    f'({self.url}); re-download them, or pass '
                    'check_md5=False to accept well-formed copies.')
        return True

    def _split_dir(self) -> str:
        return join_path(self.data_prefix['root'], self.base_folder)

    def _path(self, name: str) -> str:
        return join_path(self._split_dir(), name)


@DATASETS.register_module()
class CIFAR100LT(CIFAR10LT, CIFAR100):
    """Long-tailed CIFAR-100 (LDAM-DRW protocol).

    As :class:`CIFAR10LT` on MMPretrain's :class:`CIFAR100` files
    (``data_root/cifar-100-python``), with ``n_max`` 500: the train split
    keeps 10,847 / 12,608 / 19,573 images for IF 100 / 50 / 10; the test
    split stays balanced (100 per class).

    Args:
        data_root (str): Directory holding ``cifar-100-python``.
        **kwargs: Keyword arguments of :class:`CIFAR10LT`.
    """

    N_MAX = 500
    SPLIT_CLASS_SIZE = {'train': 500, 'test': 100}

    def __init__(self, data_root: str = 'data/cifar100', **kwargs):
        super().__init__(data_root=data_root, **kwargs)
