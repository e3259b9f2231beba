"""The held-out rule: no validation sample may be a test sample.

Configs are compared by what they *resolve to*, not by their text: each
dataset config is built and every kept sample is named by its identity,

- the absolute path of its file (``img_path``), for datasets of image
  files (ImageNet-LT, Places-LT, iNaturalist, split files, folders);
- otherwise (data held in memory, e.g. MNIST, Fashion-MNIST, CIFAR) a
  digest of the whole underlying data set (what ``indices`` and wrappers
  select from) and the sample's index in it.

``indices`` of mmengine's ``BaseDataset`` and nested :class:`LongTailDataset`
wrappers are followed; another wrapper (a config with a ``dataset`` or
``datasets`` key) is taken to keep every sample of what it wraps, so the
rule errs on the side of refusing.
"""
import copy
import hashlib
import os.path as osp
import pickle
from typing import Dict, Hashable, List, Optional

import numpy as np
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

from mmlt.datasets import LongTailDataset, long_tail_subset_indices


def _dataset_class(cfg: dict) -> type:
    kind = cfg.get('type')
    if isinstance(kind, type):
        return kind
    cls = DATASETS.get(kind)
    if cls is None:
        raise KeyError(f'Dataset type {kind!r} is not registered.')
    return cls


def _positions(size: int, indices) -> np.ndarray:
    """Positions that mmengine's ``BaseDataset(indices=...)`` keeps: all,
    the first / last ``indices`` (an int), or the listed ones."""
    every = np.arange(size)
    if indices is None:
        return every
    if isinstance(indices, int):
        return every[:indices] if indices >= 0 else every[indices:]
    return every[np.asarray(list(indices), dtype=np.int64)]


def _leaf_samples(cfg: dict) -> List[Hashable]:
    if not issubclass(_dataset_class(cfg), BaseDataset):
        raise TypeError(
            f'Cannot tell which samples a {cfg.get("type")!r} dataset holds: '
            "the held-out check follows mmengine's BaseDataset, "
            'LongTailDataset and wrappers with a `dataset` key.')
    cfg = copy.deepcopy(cfg)
    indices = cfg.pop('indices', None)
    dataset = DATASETS.build(cfg)
    dataset.full_init()
    kept = _positions(len(dataset), indices)
    if len(dataset) and 'img_path' in dataset.get_data_info(0):
        return [
            osp.realpath(dataset.get_data_info(int(i))['img_path'])
            for i in kept
        ]
    # data held in memory: a digest of all of it names the source
    data = (memoryview(dataset.data_bytes) if dataset.serialize_data else
            pickle.dumps(dataset.data_list, protocol=4))
    digest = hashlib.sha1(data).hexdigest()
    return [(digest, int(i)) for i in kept]


def resolve_samples(cfg: dict) -> List[Hashable]:
    """The identities of the samples a dataset config keeps, in order.

    Args:
        cfg (dict): A dataset config (``type`` and its arguments).

    Returns:
        list: One hashable identity per kept sample (see the module
        docstring).
    """
    cls = _dataset_class(cfg)
    if issubclass(cls, LongTailDataset):
        inner = resolve_samples(cfg['dataset'])
        if not cfg.get('subsample', True):
            return inner
        wrapper = DATASETS.build(cfg)
        inner_labels = DATASETS.build(cfg['dataset']).get_gt_labels()
        kept = long_tail_subset_indices(
            np.asarray(inner_labels, dtype=np.int64),
            wrapper.get_train_class_counts(), wrapper.seed)
        return [inner[i] for i in kept]
    if 'datasets' in cfg:
        return [s for inner in cfg['datasets'] for s in resolve_samples(inner)]
    if 'dataset' in cfg:
        return resolve_samples(cfg['dataset'])
    return _leaf_samples(cfg)


def check_held_out(val_cfg: Optional[dict],
                   test_cfg: Optional[dict],
                   source: str = 'The config') -> Dict[str, int]:
    """Refuse a validation split that shares any sample with the test split.

    Args:
        val_cfg (dict, optional): ``val_dataloader.dataset``.
        test_cfg (dict, optional): ``test_dataloader.dataset``; None when
            the config has no test split (nothing to compare with).
        source (str): What the configs come from, for the error message.

    Returns:
        dict: ``num_val`` and ``num_test``, the resolved split sizes.
    """
    if val_cfg is None:
        raise ValueError(f'{source} has no val_dataloader.dataset to make '
                         'choices on.')
    advice = ('choices must be made on a held-out validation split, never '
              'on the test split. Point val_dataloader.dataset at a split '
              "disjoint from the test split (e.g. split='val', or training "
              'images left out of the training subset).')
    if test_cfg is not None and val_cfg == test_cfg:  # no need to build
        raise ValueError(f'{source}: the validation dataset is the test '
                         f'dataset; {advice}')
    val = resolve_samples(val_cfg)
    if test_cfg is None:
        return dict(num_val=len(val), num_test=0)
    test = resolve_samples(test_cfg)
    shared = set(val).intersection(test)
    if shared:
        example = sorted(map(str, shared))[0]
        raise ValueError(
            f'{source}: {len(shared)} of the {len(val)} validation samples '
            f'are also test samples (e.g. {example}); {advice}')
    return dict(num_val=len(val), num_test=len(test))
