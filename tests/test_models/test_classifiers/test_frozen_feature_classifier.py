import copy

import pytest
import torch
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmlt  # noqa: F401


def model_cfg(**kwargs):
    cfg = dict(
        type='FrozenFeatureClassifier',
        backbone=dict(type='CifarResNet', depth=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=3,
            in_channels=64,
            loss=dict(type='LORTLoss', eps=0.9)))
    cfg.update(kwargs)
    return cfg


def batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(4, 3, 8, 8, generator=generator) * 2 + 1
    samples = [DataSample().set_gt_label(y) for y in (0, 1, 2, 1)]
    return inputs, samples


def backbone_norms(model):
    return [m for m in model.backbone.modules() if isinstance(m, _BatchNorm)]


def test_only_the_head_is_trainable():
    model = MODELS.build(model_cfg())
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    inputs, samples = batch()
    model.train()
    model.loss(inputs, samples)['loss'].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.head.parameters())


@pytest.mark.parametrize('norm_eval', [True, False])
def test_batch_norm_statistics(norm_eval):
    model = MODELS.build(model_cfg(norm_eval=norm_eval))
    model.train()
    norms = backbone_norms(model)
    assert norms and all(m.training != norm_eval for m in norms)
    assert model.head.training
    before = copy.deepcopy(model.backbone.state_dict())
    inputs, samples = batch()
    model.loss(inputs, samples)
    after = model.backbone.state_dict()
    running = [k for k in before if 'running_' in k]
    assert running
    # Frozen statistics stay bit-identical; drifting ones move.
    assert all(torch.equal(before[k], after[k]) for k in running) == norm_eval
    # Weights and affine parameters never change here.
    for name, _ in model.backbone.named_parameters():
        assert torch.equal(before[name], after[name])
    model.eval()
    assert not any(m.training for m in norms)


def test_frozen_eval_features_are_the_test_features():
    model = MODELS.build(model_cfg())
    inputs, samples = batch()
    model.eval()
    with torch.no_grad():
        test_feats = model.extract_feat(inputs)[0]
    model.train()
    with torch.no_grad():
        train_feats = model.extract_feat(inputs)[0]
    torch.testing.assert_close(train_feats, test_feats, rtol=0, atol=0)


def test_errors():
    with pytest.raises(ValueError, match='needs a `head`'):
        MODELS.build(model_cfg(head=None))
    head = MODELS.build(model_cfg()['head'])
    head.requires_grad_(False)
    with pytest.raises(ValueError, match='no trainable parameters'):
        MODELS.build(model_cfg(head=head))
