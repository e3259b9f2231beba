import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import mmlt  # noqa: F401
from mmlt.models.backbones import SmallConvNet


def test_output_shape():
    model = MODELS.build(dict(type='SmallConvNet'))
    model.init_weights()
    out = model(torch.randn(2, 1, 28, 28))
    assert isinstance(out, tuple) and len(out) == 1
    assert out[0].shape == (2, 128, 7, 7)
    out = SmallConvNet(in_channels=3, channels=(8, 16))(torch.randn(
        1, 3, 32, 32))
    assert out[0].shape == (1, 16, 16, 16)


def test_matches_hand_written_network():
    torch.manual_seed(0)
    model = SmallConvNet(channels=(4, 6, 5))
    model.init_weights()
    model.eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:  # non-trivial statistics and affine parameters
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-1, 1)
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    expected = x
    for i, (conv, norm) in enumerate(zip(convs, norms)):
        if i > 0:
            expected = F.max_pool2d(expected, 2)
        expected = F.conv2d(expected, conv.weight.double(), None, padding=1)
        if conv.bias is not None:
            expected = expected + conv.bias.double()[:, None, None]
        expected = (expected - norm.running_mean.double()[:, None, None]) / (
            norm.running_var.double()[:, None, None] + norm.eps).sqrt()
        expected = expected * norm.weight.double()[:, None, None] + \
            norm.bias.double()[:, None, None]
        expected = expected.clamp(min=0)
    torch.testing.assert_close(
        model(x.float())[0].double(), expected, rtol=1e-4, atol=1e-4)


def test_gradients_reach_every_parameter():
    model = SmallConvNet()
    model(torch.randn(4, 1, 28, 28))[0].square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_empty_channels_is_an_error():
    with pytest.raises(ValueError, match='at least one stage'):
        SmallConvNet(channels=())
