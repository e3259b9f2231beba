"""The training recipes derived from one cross-entropy config: what each
changes (against the papers' settings written out here), the base config's
order of overrides, and the refusals."""
import os.path as osp
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mmlt.experiments import recipes
from mmlt.experiments.recipes import (TRAININGS, base_config,
                                      check_split_counts, fixed_reason,
                                      paper_ratio_eps, training_config)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CE_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo',
                     'ce_smallconvnet_fashion-mnist-lt.py')


@pytest.fixture(scope='module')
def ce():
    return base_config(CE_CONFIG, 'unused', 3, imbalance_factor=10.0)


def test_paper_ratio_eps():
    # r = 1 + K (1 - eps) / eps of eps 0.98 on K = 100: 3.0408...
    ratio = 1 + 100 * 0.02 / 0.98
    assert paper_ratio_eps(100) == 0.98
    assert paper_ratio_eps(10) == round(10 / (10 + ratio - 1), 3) == 0.831
    assert paper_ratio_eps(1000) == 0.998


def test_base_config(ce):
    assert ce.model.head.type == 'LogitsLinearClsHead'
    assert ce.randomness.seed == 3 and ce.load_from is None
    assert ce.log_level == 'WARNING' and ce.work_dir == 'unused'
    for split in ('train', 'val', 'test'):
        assert ce[f'{split}_dataloader'].dataset.imbalance_factor == 10.0
    # options after the imbalance factor, epochs after the options
    cfg = base_config(
        CE_CONFIG, 'w', imbalance_factor=10.0, epochs=4, cfg_options={
            'train_dataloader.dataset.imbalance_factor': 50.0,
            'train_cfg.max_epochs': 7})
    assert cfg.train_dataloader.dataset.imbalance_factor == 50.0
    assert cfg.val_dataloader.dataset.imbalance_factor == 10.0
    assert cfg.train_cfg.max_epochs == 4
    # a dataset config replaces the dataloaders and the pre-processor
    cifar = base_config(CE_CONFIG, 'w', dataset_config=osp.join(
        REPO_ROOT, 'configs/_base_/datasets/cifar100-lt.py'))
    assert 'CIFAR' in cifar.train_dataloader.dataset.type


def test_training_configs(ce):
    assert training_config('ce', ce).to_dict() == ce.to_dict()
    la = training_config('logit_adjust', ce)
    assert la.model.head.loss == dict(type='LogitAdjustLoss', tau=1.0)
    assert training_config('balanced_softmax', ce).model.head.loss == dict(
        type='BalancedSoftmaxLoss')
    assert [h['type'] for h in la.custom_hooks] == ['ClassCountsHook']
    ldam = training_config('ldam_drw', ce)
    assert ldam.model.head.type == 'NormedLinearClsHead'
    assert ldam.model.head.scale == 30.0
    assert ldam.model.head.loss.drw_start_epoch == 24  # 80 % of 30 epochs
    assert (ldam.model.head.loss.max_margin,
            ldam.model.head.loss.drw_beta) == (0.5, 0.9999)
    assert [h['type'] for h in ldam.custom_hooks
            ] == ['ClassCountsHook', 'LossEpochHook']
    gala = training_config('gala', ce, (1.2, 0.9))
    assert (gala.model.head.loss.lambda1, gala.model.head.loss.lambda2,
            gala.model.head.loss.num_classes) == (1.2, 0.9, 10)
    assert gala.custom_hooks[-1] == dict(type='AccumulatedGradientHook',
                                         interval=50)
    lort = training_config('lort', ce, 0.83, 'ce.pth', 20)
    assert lort.model.type == 'FrozenFeatureClassifier'
    assert lort.load_from == 'ce.pth'
    assert lort.model.head.loss == dict(type='LORTLoss', eps=0.83)
    assert lort.param_scheduler.end == 20 and lort.train_cfg.max_epochs == 20
    assert lort.optim_wrapper.optimizer == dict(
        type='SGD', lr=5e-4, momentum=0.9, weight_decay=0.)
    assert 'custom_hooks' not in ce or not ce.custom_hooks  # not mutated
    assert set(TRAININGS) == {
        'ce', 'logit_adjust', 'balanced_softmax', 'ldam_drw', 'gala', 'lort'}


def test_refusals(ce, tmp_path):
    with pytest.raises(ValueError, match="Unknown training 'focal'"):
        training_config('focal', ce)
    with pytest.raises(ValueError, match='stage-1 checkpoint'):
        training_config('lort', ce, 0.9)
    config = tmp_path / 'arcface.py'
    config.write_text(f"_base_ = ['{CE_CONFIG}']\n"
                      "model = dict(head=dict(type='ArcFaceClsHead'))\n")
    with pytest.raises(ValueError, match='linear head with cross-entropy'):
        base_config(str(config), 'w')
    assert Config.fromfile(str(config)).model.head.type == 'ArcFaceClsHead'


def test_fixed_reason():
    assert fixed_reason('gala', (1.2, 0.9), 10) == 'one-value grid, not chosen'
    assert 'logit adjustment' in fixed_reason('gala', [1.0, 1.0], 10)
    assert 'ratio 3.04' in fixed_reason('lort', 0.831, 10)
    assert fixed_reason('lort', 0.9, 10) == 'one-value grid, not chosen'


def test_split_counts_must_agree(ce, monkeypatch):
    counts = (500, 300, 200, 120, 80, 50, 30, 20, 10, 5)
    built = []

    def build(cfg):
        built.append(cfg.type)
        return SimpleNamespace(metainfo=dict(train_class_counts=counts))

    monkeypatch.setattr(recipes, 'DATASETS', SimpleNamespace(build=build))
    same = dict(train_class_counts=counts)
    assert check_split_counts(ce, same, same) == list(counts)
    assert built == ['LongTailDataset']  # the train split's
    with pytest.raises(ValueError, match=r'The test split reports .*\(1, 2\)'):
        check_split_counts(ce, same, dict(train_class_counts=(1, 2)))
    with pytest.raises(ValueError, match='val split reports train_class_counts None'):
        check_split_counts(ce, {}, same)
    ce_5 = base_config(CE_CONFIG, 'w', cfg_options={
        'model.head.num_classes': 5})
    with pytest.raises(ValueError, match='10 classes but model.head.num_c'):
        check_split_counts(ce_5, same, same)
