import math

import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from mmlt.models.heads import NormedLinearClsHead


def reference_cosines(feats, weight):
    """cos(x_i, w_j), one pair at a time, in float64."""
    feats = np.asarray(feats, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    out = np.empty((feats.shape[0], weight.shape[0]))
    for i, x in enumerate(feats):
        for j, w in enumerate(weight):
            out[i, j] = float(x @ w) / (math.sqrt(float(x @ x)) *
                                        math.sqrt(float(w @ w)))
    return out


def build_head(**kwargs):
    torch.manual_seed(0)
    head = NormedLinearClsHead(num_classes=5, in_channels=7, **kwargs)
    head.init_weights()
    return head


def test_forward_is_the_cosine_matrix():
    head = build_head()
    assert head.fc.bias is None
    feats = torch.randn(6, 7) * 3
    out = head((feats, ))
    np.testing.assert_allclose(
        out.detach().numpy(),
        reference_cosines(feats, head.fc.weight.detach()),
        rtol=1e-5,
        atol=1e-6)
    # invariant to a positive rescaling of each sample and each class weight
    with torch.no_grad():
        head.fc.weight.mul_(torch.arange(1., 6.)[:, None])
    rescaled = head((feats * torch.arange(1., 7.)[:, None], ))
    torch.testing.assert_close(rescaled, out, rtol=1e-5, atol=1e-6)


def test_ldam_initialisation_gives_unit_class_weights_once():
    head = build_head()
    weight = head.fc.weight.detach().clone()
    torch.testing.assert_close(weight.norm(dim=1), torch.ones(5))
    assert len(set(weight[:, 0].tolist())) == 5  # random directions
    head.init_weights()  # already initialised: unchanged (e.g. after load)
    torch.testing.assert_close(head.fc.weight.detach(), weight)
    custom = NormedLinearClsHead(
        5, 7, init_cfg=dict(type='Constant', layer='Linear', val=0.5))
    custom.init_weights()
    torch.testing.assert_close(custom.fc.weight.detach(),
                               torch.full((5, 7), 0.5))


def test_gradient_matches_finite_differences():
    head = build_head().double()
    feats = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    # w.r.t. the features, and w.r.t. the class weights
    assert torch.autograd.gradcheck(lambda x: head((x, )), (feats, ))
    weight = head.fc.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda w: torch.func.functional_call(head, {'fc.weight': w},
                                             ((feats.detach(), ), )),
        (weight, ))


@pytest.mark.parametrize('scale', [1.0, 30.0])
def test_predictions_use_the_scaled_cosines(scale):
    head = build_head(scale=scale).eval()
    feats = torch.randn(3, 7)
    samples = head.predict((feats, ), [DataSample() for _ in range(3)])
    cosines = reference_cosines(feats, head.fc.weight.detach())
    logits = scale * cosines
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    for i, sample in enumerate(samples):
        np.testing.assert_allclose(
            sample.pred_logits.numpy(), logits[i], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            sample.pred_score.detach().numpy(), probs[i], rtol=1e-4, atol=1e-6)
        assert int(sample.pred_label) == int(cosines[i].argmax())


def test_ldam_loss_on_the_cosines():
    counts = [100, 30, 10, 5, 2]
    head = build_head(
        scale=30.0,
        loss=dict(type='LDAMLoss', max_margin=0.5, scale=30.0,
                  class_counts=counts))
    feats = torch.randn(4, 7)
    labels = [0, 2, 4, 1]
    samples = [DataSample().set_gt_label(y) for y in labels]
    loss = head.loss((feats, ), samples)['loss']
    # by hand: CE of 30 * (cos - m_y e_y), m_j = 0.5 * (2 / n_j) ** 0.25
    cosines = reference_cosines(feats, head.fc.weight.detach())
    margins = 0.5 * (min(counts) / np.array(counts, dtype=np.float64))**0.25
    expected = 0.0
    for i, y in enumerate(labels):
        z = 30 * cosines[i]
        z[y] -= 30 * margins[y]
        expected += -(z[y] - math.log(np.exp(z).sum())) / len(labels)
    assert loss.item() == pytest.approx(expected, rel=1e-4)


def test_bad_scale_is_refused():
    for scale in (0, -1.0, float('inf'), 'big'):
        with pytest.raises(ValueError, match='scale must be a finite number'):
            NormedLinearClsHead(5, 7, scale=scale)
