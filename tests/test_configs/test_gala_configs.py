import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import PARAM_SCHEDULERS
from mmpretrain.registry import MODELS

import mmlt  # noqa: F401

CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'gala')
CIFAR = {ir: f'resnet32_cifar100-lt-ir{ir}.py' for ir in (200, 100, 50, 10)}
LARGE = {
    'resnext50_imagenet-lt.py': ('ImageNetLT', 1000, 1.7, 'test'),
    'resnet50_inat2018.py': ('INaturalist2018', 8142, 1.5, 'val'),
    'resnet152_places-lt.py': ('PlacesLT', 365, 1.4, 'test'),
}


def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def check_gala_parts(cfg, num_classes, tau):
    head = cfg.model.head
    assert head.type == 'RebalancedLinearClsHead'
    assert head.num_classes == num_classes
    assert head.loss.type == 'GALALoss'
    assert 'num_classes' not in head.loss  # stated once, in the head
    rebalance = dict(type='PredictionRebalancing', tau=tau)
    assert head.rebalance == rebalance
    assert cfg.data_preprocessor.num_classes == num_classes
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.type == 'RebalancedAccuracy'
        assert evaluator.rebalance == rebalance
    assert [h.type for h in cfg.custom_hooks] == ['AccumulatedGradientHook']
    assert 'mmlt' in cfg.custom_imports.imports
    assert cfg.tta_model.type == 'AverageClsLogitsTTA'


@pytest.mark.parametrize('imbalance_factor', sorted(CIFAR))
def test_cifar_configs(imbalance_factor):
    cfg = load(CIFAR[imbalance_factor])
    check_gala_parts(cfg, 100, 1.0)
    assert (cfg.model.head.loss.lambda1, cfg.model.head.loss.lambda2) == \
        (1.2, 0.9)
    assert cfg.model.backbone == dict(type='CifarResNet', depth=32)
    train, val, test = (cfg.train_dataloader, cfg.val_dataloader,
                        cfg.test_dataloader)
    for loader, split in ((train, 'train'), (val, 'test'), (test, 'test')):
        assert loader.dataset.type == 'CIFAR100LT'
        assert loader.dataset.split == split
        # every split needs the training counts of the same profile
        assert loader.dataset.imbalance_factor == imbalance_factor
    assert train.batch_size == 64
    pipeline = [t['type'] for t in train.dataset.pipeline]
    assert pipeline == [
        'RandomCrop', 'RandomFlip', 'AutoAugment', 'Cutout', 'PackInputs'
    ]
    assert len(train.dataset.pipeline[2]['policies']) == 25
    assert train.dataset.pipeline[3]['shape'] == 16
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.1, 0.9, 5e-4)
    assert cfg.train_cfg.max_epochs == 200


def test_cifar_learning_rate_schedule():
    cfg = load(CIFAR[100])
    epoch_length = 10
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = [
        PARAM_SCHEDULERS.build(
            copy.deepcopy(s),
            default_args=dict(optimizer=optimizer, epoch_length=epoch_length))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for epoch in range(200):
        for _ in range(epoch_length):
            lrs.append(optimizer.param_groups[0]['lr'])
            optimizer.step()
            for scheduler in schedulers:
                if not scheduler.by_epoch:
                    scheduler.step()
        for scheduler in schedulers:
            if scheduler.by_epoch:
                scheduler.step()
    assert lrs[0] == pytest.approx(0.05)
    assert lrs[epoch_length] == pytest.approx(0.075, rel=0.05)
    assert lrs[2 * epoch_length] == pytest.approx(0.1)
    assert max(lrs) == pytest.approx(0.1)
    assert lrs[101 * epoch_length] == pytest.approx(0.05, rel=0.02)
    assert lrs[-1] < 1e-4


def test_cifar_model_is_resnet32():
    cfg = load(CIFAR[100])
    model = MODELS.build(
        dict(**cfg.model, data_preprocessor=cfg.data_preprocessor))
    backbone_params = sum(p.numel() for p in model.backbone.parameters())
    assert 0.45e6 < backbone_params < 0.47e6
    assert model(torch.zeros(2, 3, 32, 32), mode='tensor').shape == (2, 100)
    assert model.head.loss_module.num_classes == 100  # from the head


@pytest.mark.parametrize('name', sorted(LARGE))
def test_large_dataset_configs(name):
    dataset, num_classes, tau, test_split = LARGE[name]
    cfg = load(name)
    check_gala_parts(cfg, num_classes, tau)
    assert cfg.train_dataloader.dataset.type == dataset
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.val_dataloader.dataset.split == 'val'
    assert cfg.test_dataloader.dataset.split == test_split
    # 8 processes: the global batch of the schedule
    assert cfg.train_dataloader.batch_size * 8 == \
        cfg.auto_scale_lr.base_batch_size
    # the recipe of the cross-entropy baseline, only the head differs
    baseline = Config.fromfile(
        osp.join(CONFIG_DIR, '..', 'baselines', name.replace('.py', '_ce.py')))
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader', 'val_dataloader', 'test_dataloader',
                'data_preprocessor'):
        assert cfg[key] == baseline[key], key
    assert cfg.model.backbone == baseline.model.backbone
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pop('init_cfg', None)  # no download in tests
    model = MODELS.build(model_cfg).eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 32, 32), mode='tensor')
    assert logits.shape == (1, num_classes)
    assert model.head.loss_module.num_classes == num_classes  # from the head
