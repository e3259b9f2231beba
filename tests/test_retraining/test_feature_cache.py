"""The feature cache against features computed image by image from the
checkpoint, its reuse, and the refusals (foreign cache, head / feature size
mismatch, classes absent from training)."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import CheckpointLoader, load_checkpoint
from mmpretrain.registry import DATASETS, MODELS

from mmlt.retraining import (FeatureCache, ForeignCacheError,
                             build_feature_cache)
from mmlt.retraining import feature_cache as feature_cache_module


def toy_cfg(toy, work_dir, options=None):
    cfg = Config.fromfile(toy.stage1_config)
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    if options:
        cfg.merge_from_dict(options)
    return cfg


def build(toy, cache_dir, checkpoint=None, options=None, dtype='float32'):
    return build_feature_cache(
        toy_cfg(toy, cache_dir.parent, options),
        checkpoint or toy.checkpoint,
        str(cache_dir),
        dtype=dtype,
        config_path=toy.stage1_config)


@torch.no_grad()
def image_by_image(toy, split):
    """Neck features and labels of a split, one image at a time, from a
    model built and loaded without the runner."""
    cfg = Config.fromfile(toy.stage1_config)
    model_cfg = cfg.model.copy()
    model_cfg.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(model_cfg)
    load_checkpoint(model, toy.checkpoint, map_location='cpu')
    model.eval()
    dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
    features, labels = [], []
    for index in range(len(dataset)):
        data = model.data_preprocessor(pseudo_collate([dataset[index]]))
        features.append(model.extract_feat(data['inputs'])[-1][0])
        labels.append(int(data['data_samples'][0].gt_label))
    return torch.stack(features).numpy(), np.array(labels)


@pytest.fixture(scope='module')
def cache(toy_stage1, tmp_path_factory):
    return build(toy_stage1, tmp_path_factory.mktemp('cache') / 'features')


def test_cache_holds_the_features_of_every_split_in_dataset_order(
        toy_stage1, cache):
    for split, size in (('train', 21), ('val', 15), ('test', 18)):
        features, labels = image_by_image(toy_stage1, split)
        cached = cache.features(split)
        assert cached.dtype == np.float32 and cached.shape == (size, 8)
        np.testing.assert_allclose(cached, features, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(cache.labels(split), labels)
    assert cache.train_class_counts.tolist() == [12, 6, 3]
    assert cache.classes == ['a', 'b', 'c']
    state = CheckpointLoader.load_checkpoint(
        toy_stage1.checkpoint, map_location='cpu')['state_dict']
    weight, bias = cache.head()
    assert torch.equal(weight, state['head.fc.weight'])
    assert torch.equal(bias, state['head.fc.bias'])


def test_cache_is_reused_without_extracting(toy_stage1, cache, monkeypatch):

    def no_runner(cfg):
        raise AssertionError('the cache was rebuilt')

    monkeypatch.setattr(feature_cache_module, 'build_runner', no_runner)
    again = build(toy_stage1, Path(cache.cache_dir))
    assert again.meta['fingerprint'] == cache.meta['fingerprint']


def test_float16_cache(toy_stage1, cache, tmp_path):
    half = build(toy_stage1, tmp_path / 'half', dtype='float16')
    assert half.features('test').dtype == np.float16
    assert half.meta['fingerprint'] != cache.meta['fingerprint']
    np.testing.assert_allclose(
        half.features('test').astype(np.float32),
        cache.features('test'),
        rtol=2e-3,
        atol=2e-3)


def test_cache_of_another_checkpoint_or_config_is_refused(
        toy_stage1, cache, tmp_path):
    cache_dir = tmp_path / 'features'
    shutil.copytree(cache.cache_dir, cache_dir)
    state = CheckpointLoader.load_checkpoint(
        toy_stage1.checkpoint, map_location='cpu')
    state['state_dict']['head.fc.bias'] += 1
    other = str(tmp_path / 'other.pth')
    torch.save(state, other)
    with pytest.raises(ForeignCacheError) as error:
        build(toy_stage1, cache_dir, checkpoint=other)
    message = str(error.value)
    assert toy_stage1.checkpoint in message and other in message
    assert toy_stage1.stage1_config in message
    with pytest.raises(ForeignCacheError, match='fingerprints differ'):
        build(toy_stage1, cache_dir,
              options={'test_dataloader.dataset.split': 'val'})


def test_head_that_does_not_match_the_features_is_refused(
        toy_stage1, tmp_path):
    # the checkpoint is loaded strictly, so its 8-input head is refused
    # before any feature is extracted
    with pytest.raises(
            ValueError,
            match=r'(?s)does not fit the model of .*size mismatch for '
            r'head.fc.weight'):
        build(toy_stage1, tmp_path / 'features',
              options={'model.head.in_channels': 16})


def test_classes_absent_from_training_are_refused(toy_stage1, tmp_path):
    with pytest.raises(ValueError, match=r'Classes \[2\] have no training'):
        build(toy_stage1, tmp_path / 'features',
              options={'train_dataloader.dataset.sizes': [5, 4, 0]})


def test_incomplete_cache_is_not_opened(tmp_path):
    with pytest.raises(FileNotFoundError, match='no complete feature cache'):
        FeatureCache(str(tmp_path))
