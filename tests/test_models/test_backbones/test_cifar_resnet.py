import math

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.nn.modules.batchnorm import _BatchNorm

import mmlt  # noqa: F401
from mmlt.models.backbones import CifarResNet
from mmlt.models.backbones.cifar_resnet import ZeroPadShortcut


def _expected_num_params(depth, in_channels=3):
    """Parameters of He et al.'s CIFAR ResNet with option-A shortcuts.

    3x3 convs without bias (9 * c_in * c_out weights), BN with weight and
    bias (2 * c), parameter-free shortcuts.
    """
    n = (depth - 2) // 6
    total = 9 * in_channels * 16 + 2 * 16  # stem
    c_in = 16
    for c in (16, 32, 64):
        total += 9 * c_in * c + 9 * c * c + 2 * 2 * c  # first block
        total += (n - 1) * (2 * 9 * c * c + 2 * 2 * c)  # other blocks
        c_in = c
    return total


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('depth', [8, 20, 32, 44, 56, 110])
def test_num_params_match_formula(depth):
    assert _num_params(CifarResNet(depth)) == _expected_num_params(depth)


def test_resnet32_size_and_grey_input():
    # The ResNet-32 of the CIFAR-LT literature: 0.46 M parameters.
    assert _num_params(CifarResNet(32)) == 463_504
    assert _num_params(CifarResNet(
        32, in_channels=1)) == _expected_num_params(
            32, in_channels=1)


def test_output_shapes():
    x = torch.rand(2, 3, 32, 32)
    outs = CifarResNet(20)(x)
    assert isinstance(outs, tuple) and len(outs) == 1
    assert outs[0].shape == (2, 64, 8, 8)

    outs = CifarResNet(20, out_indices=(0, 1, 2))(x)
    assert [o.shape for o in outs] == [(2, 16, 32, 32), (2, 32, 16, 16),
                                       (2, 64, 8, 8)]
    model = CifarResNet(20, out_indices=-2)
    assert model.out_indices == (1, )
    assert model(x)[0].shape == (2, 32, 16, 16)

    # Fashion-MNIST: one channel, 28 x 28.
    outs = CifarResNet(8, in_channels=1)(torch.rand(2, 1, 28, 28))
    assert outs[0].shape == (2, 64, 7, 7)


def test_zero_pad_shortcut():
    x = torch.randn(2, 16, 8, 8)
    shortcut = ZeroPadShortcut(16, 32, stride=2)
    expected = torch.zeros(2, 32, 4, 4)
    for i in range(4):
        for j in range(4):
            expected[:, 8:24, i, j] = x[:, :, 2 * i, 2 * j]
    assert torch.equal(shortcut(x), expected)
    assert _num_params(shortcut) == 0
    with pytest.raises(ValueError, match='in_channels=32 > out_channels=16'):
        ZeroPadShortcut(32, 16, stride=1)


def test_frozen_stages():
    model = CifarResNet(8, frozen_stages=1)
    model.train()
    frozen = [model.conv1, model.norm1, model.layer1]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    for module in (model.layer2, model.layer3):
        assert all(p.requires_grad for p in module.parameters())
        assert all(m.training for m in module.modules())

    # Frozen BN statistics do not move in a training forward pass.
    before = model.layer1[0].norm1.running_mean.clone()
    model(torch.randn(4, 3, 16, 16))
    assert torch.equal(model.layer1[0].norm1.running_mean, before)
    assert not torch.equal(model.layer2[0].norm1.running_mean,
                           torch.zeros(32))


def test_norm_eval():
    model = CifarResNet(8, norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(bns) == 1 + 3 * 2
    assert all(not bn.training for bn in bns)
    means = [bn.running_mean.clone() for bn in bns]
    model(torch.randn(4, 3, 16, 16))
    assert all(torch.equal(bn.running_mean, m) for bn, m in zip(bns, means))
    # Weights still train.
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize('depth', [18, 33, 2, 0, 34])
def test_invalid_depth(depth):
    with pytest.raises(ValueError, match=rf'6n \+ 2 .* got {depth}'):
        CifarResNet(depth)


def test_invalid_out_indices_and_frozen_stages():
    with pytest.raises(ValueError, match='out_indices'):
        CifarResNet(20, out_indices=(3, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        CifarResNet(20, frozen_stages=4)


def test_kaiming_init():
    torch.manual_seed(0)
    model = CifarResNet(8)
    model.init_weights()
    # Kaiming normal, fan_out, ReLU gain: std = sqrt(2 / (64 * 9)).
    weight = model.layer3[0].conv2.weight
    assert weight.std().item() == pytest.approx(
        math.sqrt(2 / (64 * 9)), rel=0.05)
    assert torch.equal(model.layer3[0].norm2.weight, torch.ones(64))
    assert torch.equal(model.layer3[0].norm2.bias, torch.zeros(64))


def test_image_classifier_train_step():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='CifarResNet', depth=32),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=10,
                in_channels=64,
                loss=dict(type='CrossEntropyLoss'))))
    model.init_weights()
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    data = dict(
        inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
                for _ in range(4)],
        data_samples=[DataSample().set_gt_label(i) for i in range(4)])
    before = model.backbone.conv1.weight.clone()
    losses = model.train_step(data, optim_wrapper)
    assert torch.isfinite(losses['loss'])
    assert not torch.equal(model.backbone.conv1.weight, before)

    model.eval()
    preds = model.val_step(data)
    assert preds[0].pred_score.shape == (10, )
