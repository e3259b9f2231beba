import numpy as np
import pytest
import torch

from mmlt.models.heads import RebalancedLinearClsHead
from mmlt.models.heads.rebalanced_linear_head import (column_mass,
                                                      rebalance_probs)


def reference_rebalance(probs, mass, tau):
    """p_ij / m_j ** tau, rows renormalised; one entry at a time."""
    probs = np.asarray(probs, dtype=np.float64)
    out = np.empty_like(probs)
    for i in range(probs.shape[0]):
        for j in range(probs.shape[1]):
            out[i, j] = probs[i, j] / mass[j]**tau
        out[i] /= out[i].sum()
    return out


def build_head(num_classes=4, in_channels=6, tau=1.0):
    torch.manual_seed(0)
    head = RebalancedLinearClsHead(num_classes, in_channels, tau=tau)
    head.init_weights()
    torch.nn.init.normal_(head.fc.weight, std=1.0)
    return head.eval()


@pytest.mark.parametrize('tau', [0.0, 0.5, 1.0, 1.7])
def test_rebalance_probs_matches_reference(tau):
    torch.manual_seed(1)
    probs = torch.softmax(torch.randn(9, 5, dtype=torch.float64), dim=1)
    mass = column_mass(probs)
    np.testing.assert_allclose(
        mass.numpy(), [sum(probs[:, j].tolist()) for j in range(5)],
        rtol=1e-12)
    out = rebalance_probs(probs, mass, tau)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(
        out.numpy(), reference_rebalance(probs, mass.numpy(), tau), rtol=1e-12)


def test_rebalancing_flips_a_head_biased_prediction():
    # class 0 dominates the column mass, so a near-tie moves to class 1
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.55, 0.45]],
                         dtype=torch.float64)
    out = rebalance_probs(probs, column_mass(probs), 1.0)
    # masses 2.25 and 0.75: row 3 becomes (0.244.., 0.6) / sum
    assert out.argmax(dim=1).tolist() == [0, 0, 1]
    assert out[2, 1].item() == pytest.approx(
        (0.45 / 0.75) / (0.55 / 2.25 + 0.45 / 0.75), rel=1e-12)


def test_rebalance_probs_errors():
    probs = torch.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match='expected \\(N, C\\) and \\(C, \\)'):
        rebalance_probs(probs, torch.ones(4), 1.0)
    with pytest.raises(ValueError, match='finite and positive'):
        rebalance_probs(probs, torch.tensor([1.0, 0.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match='N >= 1'):
        column_mass(torch.zeros(0, 3))


def test_plain_predictions_without_column_mass():
    head = build_head()
    feats = torch.randn(5, 6)
    logits = head((feats, ))
    predictions = head.predict((feats, ))
    assert not head.has_column_mass
    for prediction, logit in zip(predictions, logits):
        torch.testing.assert_close(prediction.pred_logits, logit.detach())
        torch.testing.assert_close(prediction.pred_score,
                                   torch.softmax(logit.detach(), dim=0))
        assert 'rebalance_tau' not in prediction


@pytest.mark.parametrize('tau', [1.0, 1.4])
def test_stored_column_mass_rebalances_predictions(tau):
    head = build_head(tau=tau)
    feats = torch.randn(7, 6)
    logits = head((feats, )).detach()
    probs = torch.softmax(logits.double(), dim=1)
    mass = torch.tensor([3.0, 1.0, 0.5, 2.5], dtype=torch.float64)
    head.set_column_mass(mass, num_samples=7)
    assert head.has_column_mass
    expected = reference_rebalance(probs, mass.numpy(), tau)
    for i, prediction in enumerate(head.predict((feats, ))):
        np.testing.assert_allclose(
            prediction.pred_score.numpy(), expected[i], rtol=1e-12)
        assert prediction.pred_label.item() == expected[i].argmax()
        torch.testing.assert_close(prediction.pred_logits, logits[i])
        assert prediction.rebalance_tau == tau


def test_column_mass_is_in_the_checkpoint():
    head = build_head()
    head.set_column_mass(torch.tensor([1.0, 2.0, 3.0, 4.0]), num_samples=10)
    state = head.state_dict()
    assert state['column_mass'].dtype == torch.float64
    assert int(state['column_mass_samples']) == 10
    restored = RebalancedLinearClsHead(4, 6).eval()
    restored.load_state_dict(state)
    assert restored.has_column_mass
    feats = torch.randn(3, 6)
    for a, b in zip(head.predict((feats, )), restored.predict((feats, ))):
        assert torch.equal(a.pred_score, b.pred_score)


def test_set_column_mass_errors():
    head = build_head()
    with pytest.raises(ValueError, match='shape \\(4, \\)'):
        head.set_column_mass(torch.ones(3), 5)
    with pytest.raises(ValueError, match='finite and positive'):
        head.set_column_mass(torch.tensor([1.0, 0.0, 1.0, 1.0]), 5)
    with pytest.raises(ValueError, match='num_samples'):
        head.set_column_mass(torch.ones(4), 0)
    with pytest.raises(ValueError, match='tau'):
        RebalancedLinearClsHead(4, 6, tau=-1.0)


def test_training_loss_uses_plain_logits():
    head = build_head().train()
    feats = torch.randn(4, 6)
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i % 4) for i in range(4)]
    head.set_column_mass(torch.tensor([5.0, 1.0, 1.0, 1.0]), 4)
    loss = head.loss((feats, ), samples)['loss']
    expected = torch.nn.functional.cross_entropy(
        head((feats, )), torch.arange(4))
    torch.testing.assert_close(loss, expected)
