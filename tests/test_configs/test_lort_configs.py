import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmlt  # noqa: F401
from mmlt.models.losses import lort_target_ratio

CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'lort')
CIFAR_IFS = (100, 50, 10)


def cifar(stage: int, imbalance_factor: int) -> str:
    return osp.join(
        CONFIG_DIR,
        f'lort-stage{stage}_resnet34_cifar100-lt-ir{imbalance_factor}.py')


def test_every_config_is_listed():
    names = {osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))}
    expected = {osp.basename(cifar(s, f)) for s in (1, 2) for f in CIFAR_IFS}
    expected |= {
        f'lort-stage{s}_{name}.py'
        for s in (1, 2)
        for name in ('resnext50_imagenet-lt', 'resnet50_inat2018')
    }
    assert names == expected


@pytest.mark.parametrize('imbalance_factor', CIFAR_IFS)
def test_cifar_stage1(imbalance_factor):
    cfg = Config.fromfile(cifar(1, imbalance_factor))
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone.type == 'ResNet_CIFAR'
    assert cfg.model.backbone.depth == 34
    assert cfg.model.head.type == 'LogitsLinearClsHead'
    assert cfg.model.head.loss.type == 'CrossEntropyLoss'
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-3)
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_cfg.max_epochs == 200
    assert cfg.param_scheduler.type == 'CosineAnnealingLR'
    assert cfg.param_scheduler.T_max == 200
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
        'RandomCrop', 'RandomFlip', 'PackInputs'
    ]
    for loader in ('train', 'val', 'test'):
        dataset = cfg[f'{loader}_dataloader'].dataset
        assert dataset.type == 'CIFAR100LT'
        assert dataset.imbalance_factor == imbalance_factor
    assert cfg.tta_model.type == 'AverageClsLogitsTTA'


@pytest.mark.parametrize('imbalance_factor', CIFAR_IFS)
def test_cifar_stage2(imbalance_factor):
    cfg = Config.fromfile(cifar(2, imbalance_factor))
    assert cfg.model.type == 'FrozenFeatureClassifier'
    assert cfg.model.norm_eval is True
    assert cfg.model.head.loss == dict(type='LORTLoss', eps=0.98)
    assert cfg.load_from is None
    hook, = cfg.custom_hooks
    assert hook.type == 'ClassifierRetrainingHook'
    assert osp.basename(hook.stage1_config) == osp.basename(
        cifar(1, imbalance_factor))
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=5e-4, momentum=0.9, weight_decay=0.)
    assert cfg.train_cfg.max_epochs == 20
    assert cfg.param_scheduler.T_max == 20
    assert cfg.train_dataloader.sampler.type == 'DefaultSampler'
    for loader in ('train', 'val', 'test'):
        dataset = cfg[f'{loader}_dataloader'].dataset
        assert dataset.imbalance_factor == imbalance_factor


def test_cifar_stage2_model_trains_only_the_head():
    cfg = Config.fromfile(cifar(2, 100))
    model = MODELS.build(cfg.model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ['head.fc.weight', 'head.fc.bias']


@pytest.mark.parametrize('name, num_classes, backbone, val_split', [
    ('resnext50_imagenet-lt', 1000, 'ResNeXt', 'val'),
    ('resnet50_inat2018', 8142, 'ResNet', 'val'),
])
def test_large_scale(name, num_classes, backbone, val_split):
    stage1 = Config.fromfile(osp.join(CONFIG_DIR, f'lort-stage1_{name}.py'))
    stage2 = Config.fromfile(osp.join(CONFIG_DIR, f'lort-stage2_{name}.py'))
    for cfg in (stage1, stage2):
        assert cfg.model.backbone.type == backbone
        assert cfg.model.backbone.depth == 50
        assert cfg.model.head.num_classes == num_classes
        assert cfg.data_preprocessor.num_classes == num_classes
        assert cfg.val_dataloader.dataset.split == val_split
        assert cfg.tta_model.type == 'AverageClsLogitsTTA'
    # Stage 1: MMPretrain's ImageNet schedule, 8 GPUs x 32 = 256 images.
    assert stage1.optim_wrapper.optimizer.lr == 0.1
    assert stage1.train_dataloader.batch_size == 32
    assert stage1.train_cfg.max_epochs == 100
    # Stage 2: CIFAR's ratio r = 3.04 carried to K classes (untuned).
    assert stage2.model.type == 'FrozenFeatureClassifier'
    loss = stage2.model.head.loss
    assert loss.type == 'LORTLoss'
    assert lort_target_ratio(loss.eps, num_classes) == pytest.approx(
        lort_target_ratio(0.98, 100), abs=0.05)
    assert stage2.load_from is None
    assert stage2.optim_wrapper.optimizer.weight_decay == 0
    assert stage2.train_cfg.max_epochs == 20
