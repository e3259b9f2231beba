import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmlt.models.losses import LDAMLoss

COUNTS = np.array([5000, 1200, 300, 60, 10], dtype=np.float64)


def reference_margins(counts, max_margin):
    margins = 1.0 / np.sqrt(np.sqrt(counts))
    return margins * (max_margin / margins.max())


def reference_drw_weights(counts, beta):
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return weights / weights.sum() * len(counts)


def reference_losses(scores, labels, counts, max_margin, scale):
    """Per-sample float64 LDAM loss -log softmax(s (z - m_y e_y))_y."""
    margins = reference_margins(counts, max_margin)
    losses = []
    for row, label in zip(scores.astype(np.float64), labels):
        logits = row.copy()
        logits[label] -= margins[label]
        logits *= scale
        top = logits.max()
        losses.append(top + np.log(np.exp(logits - top).sum()) -
                      logits[label])
    return np.array(losses)


def make_batch(seed, num=16):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.rand(num, 5, generator=generator) * 2 - 1  # cosine-like
    labels = torch.randint(0, 5, (num, ), generator=generator)
    return scores, labels


def test_matches_float64_reference_without_drw():
    scores, labels = make_batch(0)
    loss = LDAMLoss(max_margin=0.5, scale=30.0, class_counts=COUNTS)
    expected = reference_losses(scores.numpy(), labels.numpy(), COUNTS, 0.5,
                                30.0)
    np.testing.assert_allclose(
        loss(scores, labels, reduction_override='none').numpy(),
        expected,
        rtol=1e-5,
        atol=1e-5)
    np.testing.assert_allclose(
        loss(scores, labels).item(), expected.mean(), rtol=1e-5)


def test_hand_worked_example():
    # counts (16, 1): margins proportional to (1/2, 1), largest 0.5, so
    # (0.25, 0.5). With z = 0 and s = 1 the loss of label 0 is
    # log(1 + e^0.25) and of label 1 log(1 + e^0.5).
    loss = LDAMLoss(scale=1.0, class_counts=[16, 1], reduction='none')
    np.testing.assert_allclose(loss.margins.numpy(), [0.25, 0.5])
    np.testing.assert_allclose(
        loss(torch.zeros(2, 2), torch.tensor([0, 1])).numpy(),
        [0.8259394, 0.9740770],
        rtol=1e-6)


def test_drw_weights_and_schedule():
    scores, labels = make_batch(1)
    loss = LDAMLoss(drw_start_epoch=3, class_counts=COUNTS)
    weights = reference_drw_weights(COUNTS, 0.9999)
    np.testing.assert_allclose(loss.drw_weights.numpy(), weights, rtol=1e-6)
    plain = reference_losses(scores.numpy(), labels.numpy(), COUNTS, 0.5,
                             30.0)
    for epoch in (0, 2):
        loss.set_epoch(epoch)
        assert not loss.drw_active
        np.testing.assert_allclose(
            loss(scores, labels).item(), plain.mean(), rtol=1e-5)
    for epoch in (3, 7):
        loss.set_epoch(epoch)
        assert loss.drw_active
        sample_weights = weights[labels.numpy()]
        np.testing.assert_allclose(
            loss(scores, labels, reduction_override='none').numpy(),
            sample_weights * plain,
            rtol=1e-5,
            atol=1e-5)
        np.testing.assert_allclose(
            loss(scores, labels).item(),
            (sample_weights * plain).sum() / sample_weights.sum(),
            rtol=1e-5)


def test_drw_mean_matches_weighted_cross_entropy_of_the_paper_code():
    # The authors' loss: F.cross_entropy(s * output, target, weight=w).
    scores, labels = make_batch(2, num=32)
    loss = LDAMLoss(drw_start_epoch=0, class_counts=COUNTS)
    loss.set_epoch(0)
    margins = torch.from_numpy(reference_margins(COUNTS, 0.5))
    output = scores.double() - F.one_hot(labels, 5) * margins
    expected = F.cross_entropy(
        30.0 * output,
        labels,
        weight=torch.from_numpy(reference_drw_weights(COUNTS, 0.9999)))
    np.testing.assert_allclose(
        loss(scores, labels).item(), expected.item(), rtol=1e-5)
    # MMPretrain heads pass avg_factor = batch size: same value.
    np.testing.assert_allclose(
        loss(scores, labels, avg_factor=32).item(),
        expected.item(),
        rtol=1e-5)


def test_gradient_against_closed_form():
    scores, labels = make_batch(3, num=8)
    scores = scores.double().requires_grad_()
    loss = LDAMLoss(
        scale=10.0, drw_start_epoch=1, drw_beta=0.999, class_counts=COUNTS)
    loss.set_epoch(1)
    loss(scores, labels).backward()
    onehot = np.eye(5)[labels.numpy()]
    logits = 10.0 * (scores.detach().numpy() -
                     onehot * reference_margins(COUNTS, 0.5))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    sample_weights = reference_drw_weights(COUNTS, 0.999)[labels.numpy()]
    expected = 10.0 * sample_weights[:, None] * (
        probs - onehot) / sample_weights.sum()
    np.testing.assert_allclose(scores.grad.numpy(), expected, atol=1e-6)


def test_needs_epoch_when_drw_is_configured():
    scores, labels = make_batch(4, num=2)
    loss = MODELS.build(
        dict(type='LDAMLoss', drw_start_epoch=160, class_counts=COUNTS))
    with pytest.raises(RuntimeError, match='LossEpochHook'):
        loss(scores, labels)
    with pytest.raises(ValueError, match='epoch'):
        loss.set_epoch(-1)
    LDAMLoss(class_counts=COUNTS)(scores, labels)  # no DRW: no epoch needed


def test_rejects_soft_labels():
    scores, _ = make_batch(5, num=3)
    soft = torch.full((3, 5), 0.2)
    with pytest.raises(ValueError, match='needs hard labels'):
        LDAMLoss(class_counts=COUNTS)(scores, soft)


@pytest.mark.parametrize(
    'kwargs, match',
    [(dict(max_margin=0), 'max_margin'), (dict(scale=-1.0), 'scale'),
     (dict(drw_start_epoch=1.5), 'drw_start_epoch'),
     (dict(drw_start_epoch=-1), 'drw_start_epoch'),
     (dict(drw_beta=1.0), 'drw_beta'), (dict(drw_beta=0), 'drw_beta')])
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LDAMLoss(**kwargs)


def test_drw_with_sample_weights_and_sum():
    scores, labels = make_batch(6, num=8)
    sample_weight = torch.linspace(0.0, 2.0, 8)
    loss = LDAMLoss(drw_start_epoch=0, class_counts=COUNTS, loss_weight=0.5)
    loss.set_epoch(0)
    plain = reference_losses(scores.numpy(), labels.numpy(), COUNTS, 0.5,
                             30.0)
    class_weight = reference_drw_weights(COUNTS, 0.9999)[labels.numpy()]
    weighted = sample_weight.numpy() * class_weight * plain
    np.testing.assert_allclose(
        loss(scores, labels, weight=sample_weight).item(),
        0.5 * weighted.sum() / class_weight.sum(),
        rtol=1e-5)
    np.testing.assert_allclose(
        loss(scores, labels, weight=sample_weight, avg_factor=16).item(),
        0.5 * weighted.sum() / (16 * class_weight.mean()),
        rtol=1e-5)
    np.testing.assert_allclose(
        loss(scores, labels, reduction_override='sum').item(),
        0.5 * (class_weight * plain).sum(),
        rtol=1e-5)
