import copy
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset, Compose, force_full_init

from mmpretrain.datasets import MNIST
from mmpretrain.datasets.utils import rm_suffix
from mmpretrain.registry import DATASETS, TRANSFORMS
from .long_tail_profile import (check_int, check_real, long_tail_class_counts,
                                long_tail_subset_indices)
from .mnist_files import check_mnist_files


@DATASETS.register_module()
class LongTailDataset:
    """A wrapper that turns a classification dataset into a long-tailed one.

    Class ``c`` keeps a seeded random subset of ``n_c`` of its images, with
    ``n_c`` given by :func:`long_tail_class_counts` (exponential
    :math:`n_r = \\lfloor n_{max} IF^{-r/(C-1)} \\rfloor` or step profile,
    ranks in class-index order or ``class_order``). The subset is drawn as
    in LDAM-DRW (see :func:`long_tail_subset_indices`), so it is fixed by
    ``seed``.

    The per-class training counts are stored in
    ``metainfo['train_class_counts']`` and returned by
    :meth:`get_train_class_counts`. To wrap the balanced validation or test
    split of the same data, set ``subsample=False``: every sample is kept
    and ``train_class_counts`` still reports the training profile, so the
    same ``n_max``, ``imbalance_factor``, ``profile``, ``mu`` and
    ``class_order`` as the training wrapper must be given (``n_max``
    explicitly, because the evaluation split's class sizes are not the
    training ones).

    MMPretrain's tools read the test pipeline from the config at
    ``test_dataloader.dataset.pipeline`` (``ImageClassificationInferencer``,
    ``tools/analysis_tools/analyze_results.py``), so the wrapper takes a
    ``pipeline`` too: when given it replaces the wrapped dataset's, and
    :attr:`pipeline` is the one that applies.

    Args:
        dataset (BaseDataset | dict): The dataset to wrap, or its config.
            It must have ``get_gt_labels`` and ``metainfo['classes']``.
        imbalance_factor (float): ``n_max / n_min``, at least 1.
        n_max (int, optional): Images of the head class. Defaults to None,
            the size of the smallest class of ``dataset`` (for example 6,000
            on Fashion-MNIST train); required when ``subsample=False``.
        profile (str): ``'exp'`` or ``'step'``. Defaults to ``'exp'``.
        mu (float): Fraction of minority classes of the ``'step'`` profile.
            Defaults to 0.5.
        class_order (Sequence[int], optional): Classes from head to tail.
            Defaults to None (class-index order).
        seed (int): Seed of the per-class subsets. Defaults to 0.
        subsample (bool): Whether to keep only the long-tailed subset
            (training split) or every sample (balanced evaluation split).
            Defaults to True.
        lazy_init (bool): Whether to defer loading the wrapped data (and
            computing ``train_class_counts``) until :meth:`full_init`.
            Defaults to False.
        pipeline (Sequence[dict | Callable], optional): Transforms that
            replace the wrapped dataset's pipeline. Defaults to None (keep
            the wrapped dataset's).
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 imbalance_factor: float,
                 n_max: Optional[int] = None,
                 profile: str = 'exp',
                 mu: float = 0.5,
                 class_order: Optional[Sequence[int]] = None,
                 seed: int = 0,
                 subsample: bool = True,
                 lazy_init: bool = False,
                 pipeline: Optional[Sequence[Union[dict, Callable]]] = None):
        check_real(imbalance_factor, 'imbalance_factor')
        check_int(seed, 'seed')
        if n_max is not None:
            check_int(n_max, 'n_max')
        if isinstance(dataset, dict):
            _check_mnist_config(dataset)
            if pipeline is not None:
                dataset = dict(dataset, pipeline=pipeline)
            dataset = DATASETS.build(dataset)
        elif isinstance(dataset, BaseDataset) and pipeline is not None:
            dataset.pipeline = Compose([
                TRANSFORMS.build(t) if isinstance(t, dict) else t
                for t in pipeline
            ])
        if not isinstance(dataset, BaseDataset):
            raise TypeError('dataset must be a BaseDataset or its config, '
                            f'got {type(dataset)}.')
        if (isinstance(dataset, MNIST) and dataset.split == 'test'
                and not dataset.test_mode):
            # MMPretrain's MNIST / FashionMNIST pick their files by test_mode
            raise ValueError(
                f"{type(dataset).__name__}(split='test', test_mode=False) "
                'loads the training images: MMPretrain\'s MNIST and '
                'FashionMNIST choose their files by test_mode, not split. Set '
                'test_mode=True for the test split.')
        if not subsample and n_max is None:
            raise ValueError(
                'subsample=False (evaluation split) needs an explicit n_max: '
                'the one of the training split whose counts it reports.')
        self.dataset = dataset
        self.imbalance_factor = imbalance_factor
        self.n_max = n_max
        self.profile = profile
        self.mu = mu
        self.class_order = class_order
        self.seed = seed
        self.subsample = subsample
        self._metainfo = self.dataset.metainfo

        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def pipeline(self) -> Compose:
        """The transforms applied to each sample (the wrapped dataset's)."""
        return self.dataset.pipeline

    @property
    def metainfo(self) -> dict:
        """Meta information of the wrapped dataset plus
        ``train_class_counts``."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Load the wrapped dataset and select the long-tailed subset."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        metainfo = self.dataset.metainfo
        if metainfo.get('classes') is None:
            raise ValueError(
                f'{type(self.dataset).__name__} has no metainfo["classes"]; '
                'LongTailDataset needs it to know the number of classes.')
        num_classes = len(metainfo['classes'])
        labels = np.asarray(self.dataset.get_gt_labels())
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f'{type(self.dataset).__name__}.get_gt_labels() must give one '
                f'integer label per sample, got shape {labels.shape} and '
                f'dtype {labels.dtype}.')
        labels = labels.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'{type(self.dataset).__name__} has labels in '
                f'[{labels.min()}, {labels.max()}], expected [0, '
                f'{num_classes}) for its {num_classes} classes.')

        n_max = self.n_max
        if n_max is None:
            available = np.bincount(labels, minlength=num_classes)
            if available.min() == 0:
                raise ValueError(
                    f'Class {int(available.argmin())} has no images in '
                    f'{type(self.dataset).__name__}; cannot default n_max '
                    'to the smallest class size.')
            n_max = int(available.min())
        counts = long_tail_class_counts(num_classes, n_max,
                                        self.imbalance_factor, self.profile,
                                        self.mu, self.class_order)
        if self.subsample:
            indices = long_tail_subset_indices(labels, counts, self.seed)
            self.dataset = self.dataset.get_subset(indices.tolist())
            labels = labels[indices]
        self._gt_labels = labels
        self._metainfo = dict(
            metainfo, train_class_counts=tuple(int(n) for n in counts))
        self._fully_initialized = True

    @force_full_init
    def get_train_class_counts(self) -> np.ndarray:
        """Training images per class, shape ``(C,)``."""
        return np.array(self._metainfo['train_class_counts'], dtype=np.int64)

    @force_full_init
    def get_gt_labels(self) -> np.ndarray:
        """Ground-truth labels of the kept samples."""
        return self._gt_labels.copy()

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        """Category of the ``idx``-th kept sample."""
        return [int(self._gt_labels[idx])]

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """Annotation of the ``idx``-th kept sample."""
        return self.dataset.get_data_info(idx)

    @force_full_init
    def __len__(self) -> int:
        return len(self.dataset)

    @force_full_init
    def __getitem__(self, idx: int) -> dict:
        return self.dataset[idx]

    @property
    def CLASSES(self) -> Optional[Sequence[str]]:
        """Category names."""
        return self._metainfo.get('classes', None)

    @property
    def class_to_idx(self) -> dict:
        """Mapping from category name to index."""
        return {cat: i for i, cat in enumerate(self.CLASSES)}

    def __repr__(self) -> str:
        head = 'Dataset ' + self.__class__.__name__
        body = [
            f'Profile: \t{self.profile}, imbalance factor '
            f'{self.imbalance_factor}, n_max {self.n_max}',
            f'Seed: \t{self.seed}',
            f'Subsample: \t{self.subsample}',
        ]
        if self._fully_initialized:
            body.append(f'Number of samples: \t{len(self)}')
        else:
            body.append("Haven't been initialized")
        body.append(
            f'Original dataset type:\t{self.dataset.__class__.__name__}')
        lines = [head] + [' ' * 4 + line for line in body]
        return '\n'.join(lines)


def _check_mnist_config(dataset_cfg: dict) -> None:
    """Check the IDX files of an MNIST / FashionMNIST config before MMPretrain
    reads them (it would suggest ``download=True`` for a missing file and
    fail in a reshape for a truncated one)."""
    dataset_cls = dataset_cfg.get('type')
    if isinstance(dataset_cls, str):
        dataset_cls = DATASETS.get(dataset_cls)
    if not (isinstance(dataset_cls, type) and issubclass(dataset_cls, MNIST)):
        return
    data_root = dataset_cfg.get('data_root', '')
    data_prefix = dataset_cfg.get('data_prefix', '')
    if not (isinstance(data_root, str) and isinstance(data_prefix, str)):
        return  # MMPretrain reports bad root arguments itself
    root = osp.join(data_root, data_prefix)
    files = dataset_cls.train_list + dataset_cls.test_list
    if dataset_cfg.get('download', True) and not all(
            osp.isfile(osp.join(root, rm_suffix(name))) for name, _ in files):
        return  # MMPretrain downloads the missing files
    check_mnist_files(dataset_cls, root)
