"""Cached classifier inputs of a stage-1 model, for re-training its head.

:func:`build_feature_cache` runs a stage-1 checkpoint over the train, val
and test splits of its config, all through the config's *test* pipeline
(no augmentation), and writes to a directory

- ``{split}_features.npy``: the neck output (the head's input), (N, D),
  float32 or float16, in dataset order;
- ``{split}_labels.npy``: the labels, (N, ), int64;
- ``head_weight.npy`` / ``head_bias.npy``: the stage-1 linear classifier;
- ``meta.json``: the config and checkpoint it came from and their
  fingerprint, the classes, the shapes and the training class counts
  (written last: a cache without it is incomplete and rebuilt).

The feature files are written in place batch by batch (``numpy`` memory
maps), so no split is ever held in memory. Under a distributed launcher
every rank extracts its share of each split (mmengine's ``DefaultSampler``
without shuffling: rank ``r`` gets positions ``r, r + W, ...`` of the
padded index list) and writes its rows at their dataset indices; the
positions past the end of the split (the sampler's padding) are dropped.
The ranks must share the cache directory.

:class:`FeatureCache` opens a cache; one built from another config or
checkpoint is refused, naming both.
"""
import copy
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dist import barrier, get_dist_info, is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmlt.utils import build_runner, load_checkpoints_strictly

SPLITS = ('train', 'val', 'test')
FEATURE_DTYPES = ('float32', 'float16')
META_FILE = 'meta.json'


class ForeignCacheError(ValueError):
    """A feature cache built from another config or checkpoint."""


def _sha256_of_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def cache_fingerprint(cfg: Config, checkpoint: str, dtype: str) -> str:
    """SHA-256 of what the cached features depend on: the model, the data
    preprocessor and the three split datasets of ``cfg``, the checkpoint's
    bytes and the feature dtype.

    Args:
        cfg (Config): The stage-1 config (after ``--cfg-options``).
        checkpoint (str): The stage-1 checkpoint file.
        dtype (str): ``'float32'`` or ``'float16'``.
    """
    sections = dict(
        model=cfg.get('model'),
        data_preprocessor=cfg.get('data_preprocessor'),
        **{
            split: cfg.get(f'{split}_dataloader', {}).get('dataset')
            for split in SPLITS
        })
    text = json.dumps(
        ConfigDict(sections).to_dict(), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode())
    digest.update(_sha256_of_file(checkpoint).encode())
    digest.update(dtype.encode())
    return digest.hexdigest()


def _pipeline_cfg(dataset_cfg: ConfigDict, what: str) -> ConfigDict:
    """``dataset_cfg`` or the innermost wrapped dataset that has a
    ``pipeline`` (e.g. inside ``LongTailDataset``)."""
    while 'pipeline' not in dataset_cfg:
        inner = dataset_cfg.get('dataset')
        if not isinstance(inner, dict):
            raise ValueError(
                f'{what} (type={dataset_cfg.get("type")!r}) has no '
                '`pipeline` and wraps no single `dataset` that has one; the '
                'feature cache needs the test pipeline.')
        dataset_cfg = inner
    return dataset_cfg


def extraction_dataloader_cfg(cfg: Config, split: str) -> ConfigDict:
    """The dataloader config that extracts ``split``: the config's, with
    the test pipeline (for ``train``, also the test batch size) and
    ``DefaultSampler(shuffle=False)``.

    Args:
        cfg (Config): The stage-1 config.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}.')
    loader = copy.deepcopy(cfg.get(f'{split}_dataloader'))
    if loader is None:
        raise ValueError(f'The config has no {split}_dataloader; the study '
                         'needs train, val and test splits.')
    test_loader = cfg.test_dataloader
    if split == 'train':
        test_pipeline = _pipeline_cfg(test_loader.dataset,
                                      'test_dataloader.dataset').pipeline
        _pipeline_cfg(loader.dataset, 'train_dataloader.dataset').pipeline = \
            copy.deepcopy(test_pipeline)
        loader.batch_size = test_loader.batch_size
    loader.sampler = dict(type='DefaultSampler', shuffle=False)
    loader.pop('batch_sampler', None)
    loader.drop_last = False
    loader.persistent_workers = False
    return loader


def linear_head(model: torch.nn.Module) -> torch.nn.Linear:
    """The linear layer ``head.fc`` of a classifier (MMPretrain's
    ``LinearClsHead`` and its mmlt subclasses)."""
    layer = getattr(getattr(model, 'head', None), 'fc', None)
    if not isinstance(layer, torch.nn.Linear):
        raise TypeError(
            'Classifier re-training needs a linear head with an nn.Linear '
            f'`head.fc` (LinearClsHead or a subclass), got '
            f'{type(getattr(model, "head", None)).__name__}.')
    return layer


@torch.no_grad()
def _extract_split(model: torch.nn.Module, loader, split: str,
                   cache_dir: str, dtype: str, feature_dim: int) -> int:
    """Write the features and labels of one split; return its size."""
    rank, world_size = get_dist_info()
    size = len(loader.dataset)
    paths = [
        osp.join(cache_dir, f'{split}_{name}.npy')
        for name in ('features', 'labels')
    ]
    if is_main_process():
        np.lib.format.open_memmap(
            paths[0], 'w+', dtype=dtype, shape=(size, feature_dim)).flush()
        np.lib.format.open_memmap(
            paths[1], 'w+', dtype=np.int64, shape=(size, )).flush()
    barrier()
    features = np.lib.format.open_memmap(paths[0], 'r+')
    labels = np.lib.format.open_memmap(paths[1], 'r+')
    # Rank r's i-th sample is position r + i * W of the padded list.
    indices = np.asarray(list(loader.sampler), dtype=np.int64)
    keep = rank + np.arange(len(indices)) * world_size < size
    start = 0
    for data_batch in loader:
        data = model.data_preprocessor(data_batch, False)
        feats = model.extract_feat(data['inputs'])
        feats = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if feats.dim() != 2 or feats.size(1) != feature_dim:
            raise ValueError(
                f'The neck gives features of shape {tuple(feats.shape)} on '
                f'the {split} split, but the checkpoint\'s head.fc expects '
                f'{feature_dim} input features: the checkpoint does not '
                'match the config.')
        batch_labels = [int(s.gt_label.reshape(-1)[0])
                        for s in data['data_samples']]
        stop = start + len(batch_labels)
        rows, mask = indices[start:stop], keep[start:stop]
        features[rows[mask]] = feats.float().cpu().numpy()[mask].astype(
            dtype)
        labels[rows[mask]] = np.asarray(batch_labels)[mask]
        start = stop
    features.flush()
    labels.flush()
    del features, labels
    barrier()
    return size


def build_feature_cache(cfg: Config,
                        checkpoint: str,
                        cache_dir: str,
                        dtype: str = 'float32',
                        config_path: Optional[str] = None) -> 'FeatureCache':
    """Extract the train / val / test features of ``checkpoint``, or open
    the cache in ``cache_dir`` if it was built from the same config and
    checkpoint.

    Call it on every rank under a distributed launcher (the config's
    ``launcher``); the runner is built with :func:`mmlt.utils.build_runner`.

    Args:
        cfg (Config): The stage-1 config, with ``work_dir`` and
            ``launcher`` set.
        checkpoint (str): The stage-1 checkpoint.
        cache_dir (str): The cache directory.
        dtype (str): ``'float32'`` or ``'float16'``. Defaults to
            ``'float32'``.
        config_path (str, optional): The config's file, recorded in the
            metadata and error messages. Defaults to None.

    Returns:
        FeatureCache: The cache (on every rank).
    """
    if dtype not in FEATURE_DTYPES:
        raise ValueError(f'dtype must be one of {FEATURE_DTYPES}, got '
                         f'{dtype!r}.')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Stage-1 checkpoint {checkpoint!r} does not '
                                'exist.')
    fingerprint = cache_fingerprint(cfg, checkpoint, dtype)
    source = dict(config=config_path or cfg.filename, checkpoint=checkpoint)
    if osp.isfile(osp.join(cache_dir, META_FILE)):
        return FeatureCache(cache_dir, fingerprint=fingerprint, source=source)
    cfg = copy.deepcopy(cfg)
    cfg.load_from = None
    runner = build_runner(cfg)
    load_checkpoints_strictly(runner, config_path or cfg.filename)
    runner.load_checkpoint(checkpoint, map_location='cpu')
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    model.eval()
    head = linear_head(model)
    if is_main_process():
        os.makedirs(cache_dir, exist_ok=True)
    barrier()
    sizes = {}
    for split in SPLITS:
        loader = Runner.build_dataloader(
            extraction_dataloader_cfg(cfg, split), seed=runner.seed)
        if split == 'train':
            classes = loader.dataset.metainfo.get('classes')
        sizes[split] = _extract_split(model, loader, split, cache_dir, dtype,
                                      head.in_features)
    if is_main_process():
        np.save(osp.join(cache_dir, 'head_weight.npy'),
                head.weight.detach().float().cpu().numpy())
        bias = (head.bias if head.bias is not None else torch.zeros(
            head.out_features))
        np.save(osp.join(cache_dir, 'head_bias.npy'),
                bias.detach().float().cpu().numpy())
        labels = np.load(osp.join(cache_dir, 'train_labels.npy'))
        counts = np.bincount(labels, minlength=head.out_features)
        meta = dict(
            fingerprint=fingerprint,
            dtype=dtype,
            num_classes=head.out_features,
            feature_dim=head.in_features,
            sizes=sizes,
            classes=None if classes is None else list(classes),
            train_class_counts=counts.tolist(),
            seed=runner.seed,
            **source)
        with open(osp.join(cache_dir, META_FILE), 'w') as f:
            json.dump(meta, f, indent=1)
    barrier()
    return FeatureCache(cache_dir, fingerprint=fingerprint, source=source)


class FeatureCache:
    """An extracted feature cache (see :func:`build_feature_cache`).

    Opening it checks that every class has training images and that the
    val / test labels are classes of the head.

    Args:
        cache_dir (str): The cache directory.
        fingerprint (str, optional): Expected fingerprint
            (:func:`cache_fingerprint`); another one is refused. Defaults to
            None (not checked).
        source (dict, optional): ``config`` and ``checkpoint`` the caller
            expects, for the refusal message. Defaults to None.
    """

    def __init__(self,
                 cache_dir: str,
                 fingerprint: Optional[str] = None,
                 source: Optional[Dict[str, str]] = None) -> None:
        meta_path = osp.join(cache_dir, META_FILE)
        if not osp.isfile(meta_path):
            raise FileNotFoundError(
                f'{cache_dir!r} holds no complete feature cache (no '
                f'{META_FILE}).')
        with open(meta_path) as f:
            self.meta = json.load(f)
        self.cache_dir = cache_dir
        if fingerprint is not None and self.meta['fingerprint'] != fingerprint:
            source = source or {}
            raise ForeignCacheError(
                f'The feature cache in {cache_dir!r} was built from config '
                f'{self.meta["config"]!r} and checkpoint '
                f'{self.meta["checkpoint"]!r}, not from config '
                f'{source.get("config")!r} and checkpoint '
                f'{source.get("checkpoint")!r} (their fingerprints differ: '
                'model, data, checkpoint bytes or feature dtype). Use another '
                'work directory, or delete the cache to rebuild it.')
        counts = np.asarray(self.meta['train_class_counts'])
        absent = np.flatnonzero(counts == 0)
        if absent.size:
            raise ValueError(
                f'Classes {absent.tolist()} have no training images in the '
                f'cached train split ({cache_dir!r}); every class of the '
                f'head ({counts.size}) needs training images for re-training '
                'and the shot groups.')
        for split in ('val', 'test'):
            labels = self.labels(split)
            bad = (labels < 0) | (labels >= counts.size)
            if bad.any():
                raise ValueError(
                    f'The {split} split has label {int(labels[bad][0])}, '
                    f'outside the {counts.size} classes of the head.')

    @property
    def train_class_counts(self) -> np.ndarray:
        """Training images per class, (C, ) int64."""
        return np.asarray(self.meta['train_class_counts'], dtype=np.int64)

    @property
    def classes(self) -> Optional[List[str]]:
        """Class names of the dataset metainfo, if any."""
        return self.meta.get('classes')

    def head(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The stage-1 weight (C, D) and bias (C, ), float32."""
        return tuple(
            torch.from_numpy(
                np.load(osp.join(self.cache_dir, f'head_{name}.npy')))
            for name in ('weight', 'bias'))

    def features(self, split: str) -> np.ndarray:
        """The features of ``split`` as a read-only memory map (N, D)."""
        return np.load(
            osp.join(self.cache_dir, f'{split}_features.npy'), mmap_mode='r')

    def labels(self, split: str) -> np.ndarray:
        """The labels of ``split``, (N, ) int64."""
        return np.load(osp.join(self.cache_dir, f'{split}_labels.npy'))
