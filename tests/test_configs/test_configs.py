"""Every config under configs/ loads, builds its model and names registered
datasets, samplers and metrics whose class count matches the model's."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmlt  # noqa: F401  (registers the hooks of the runtime config)
from mmlt.models.heads import LogitsLinearClsHead

from mmpretrain.registry import (DATA_SAMPLERS, DATASETS, HOOKS, METRICS,
                                 MODELS)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT) for path in glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True))
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
RUNTIME_CONFIG = 'configs/_base_/default_runtime.py'
# fragments that only make sense in a `_base_` list after other configs
FRAGMENTS = (RUNTIME_CONFIG, 'configs/_base_/gala.py',
             'configs/_base_/lort_stage2.py')


def dataset_num_classes(dataset_cfg):
    """Number of classes of a dataset config, from the config itself or the
    class attributes of its type (no data is read)."""
    if dataset_cfg.get('num_classes') is not None:
        return dataset_cfg['num_classes']
    classes = (dataset_cfg.get('metainfo') or {}).get('classes') or \
        dataset_cfg.get('classes')
    if classes:
        return len(classes)
    if 'dataset' in dataset_cfg:  # a wrapper such as LongTailDataset
        return dataset_num_classes(dataset_cfg['dataset'])
    dataset_cls = DATASETS.get(dataset_cfg['type'])
    if getattr(dataset_cls, 'NUM_CLASSES', 0):
        return dataset_cls.NUM_CLASSES
    classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
    return len(classes) if classes else None


def dataset_types(dataset_cfg):
    """The type of a dataset config and of the datasets it wraps."""
    types = [dataset_cfg['type']]
    for key in ('dataset', 'datasets'):
        inner = dataset_cfg.get(key)
        for inner_cfg in inner if isinstance(inner, list) else [inner]:
            if isinstance(inner_cfg, dict):
                types += dataset_types(inner_cfg)
    return types


def model_num_classes(cfg):
    """Every positive ``num_classes`` in the model config (heads, losses,
    data preprocessor)."""
    found = []

    def visit(node):
        if isinstance(node, dict):
            value = node.get('num_classes')
            if isinstance(value, int) and value > 0:
                found.append(value)
            for item in node.values():
                visit(item)
        elif isinstance(node, (list, tuple)):
            for item in node:
                visit(item)

    visit(cfg.model)
    visit(cfg.get('data_preprocessor'))
    return found


def test_configs_are_found():
    assert 'configs/baselines/resnet32_cifar100-lt-ir100_ce.py' in CONFIGS
    assert 'configs/_base_/datasets/fashion-mnist-lt.py' in CONFIGS


@pytest.mark.parametrize('config', CONFIGS)
def test_config(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    if config not in FRAGMENTS:  # the dataset configs import mmlt for them
        assert cfg.get('custom_imports') == dict(
            imports=['mmlt'], allow_failed_imports=False), config
    init_default_scope('mmpretrain')
    for name, hook in (cfg.get('default_hooks') or {}).items():
        assert hook is None or HOOKS.get(hook['type']) is not None, \
            f'{config}: default hook {name} {hook["type"]!r} unknown'

    class_counts = set()
    for loader in LOADERS:
        if cfg.get(loader) is None:
            continue
        dataset_cfg = cfg[loader]['dataset']
        for dataset_type in dataset_types(dataset_cfg):
            assert DATASETS.get(dataset_type) is not None, \
                f'{config}: {loader} dataset type {dataset_type!r} unknown'
        sampler = cfg[loader].get('sampler')
        if sampler is not None:
            assert DATA_SAMPLERS.get(sampler['type']) is not None, \
                f'{config}: {loader} sampler {sampler["type"]!r} unknown'
        num_classes = dataset_num_classes(dataset_cfg)
        assert num_classes is not None, \
            f'{config}: cannot tell the class count of {loader}'
        class_counts.add(num_classes)
    assert len(class_counts) <= 1, \
        f'{config}: dataloaders disagree on the class count {class_counts}'

    for evaluator in ('val_evaluator', 'test_evaluator'):
        metrics = cfg.get(evaluator) or []
        for metric in metrics if isinstance(metrics, list) else [metrics]:
            assert METRICS.get(metric['type']) is not None, \
                f'{config}: metric {metric["type"]!r} unknown'

    if 'model' in cfg:
        model_cfg = cfg.model.copy()
        if cfg.get('data_preprocessor') is not None:
            # As mmengine's Runner does.
            model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
        MODELS.build(model_cfg)
        for num_classes in model_num_classes(cfg):
            assert {num_classes} == class_counts, \
                f'{config}: num_classes {num_classes} but dataset classes ' \
                f'{class_counts}'
    elif cfg.get('data_preprocessor') is not None:
        assert {cfg.data_preprocessor.num_classes} == class_counts


@pytest.mark.parametrize('config', CONFIGS)
def test_num_classes_is_stated_once(config):
    """The head fills in its loss's num_classes (LogitsLinearClsHead and
    the heads built on it): a config that also gives it to the loss states
    the class count twice."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    head = (cfg.get('model') or {}).get('head') or {}
    head_type = MODELS.get(head['type']) if 'type' in head else None
    if head_type is not None and issubclass(head_type, LogitsLinearClsHead):
        assert 'num_classes' not in (head.get('loss') or {}), config


def evaluator_types(evaluator):
    """The metric types of an evaluator config (a dict or a list)."""
    if evaluator is None:
        return []
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    return [metric['type'] for metric in metrics]


@pytest.mark.parametrize('config', CONFIGS)
def test_tta_averages_the_logits_the_evaluator_reads(config):
    """`--tta` (mmlt's and MMPretrain's tools/test.py use the config's
    tta_model) must average `pred_logits` when a metric scores them."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    types = evaluator_types(cfg.get('val_evaluator')) + evaluator_types(
        cfg.get('test_evaluator'))
    if set(types) & {'RebalancedAccuracy', 'LogitsStatistics'}:
        assert cfg.get('tta_model', {}).get('type') == \
            'AverageClsLogitsTTA', config
