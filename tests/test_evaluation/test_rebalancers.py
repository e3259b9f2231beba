import math

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mmlt.evaluation.metrics import RebalancedAccuracy
from mmlt.evaluation.rebalancers import (BaseRebalancer,
                                         PosthocLogitAdjustment,
                                         PredictionRebalancing,
                                         TauNormalization, build_rebalancer,
                                         column_mass, rebalance_probs)
from mmlt.models.heads import RebalancedLinearClsHead
from mmlt.registry import REBALANCERS

COUNTS = [400, 100, 25, 5]


def reference_rebalance(probs, mass, tau):
    """p_ij / m_j ** tau, rows renormalised; one entry at a time."""
    probs = np.asarray(probs, dtype=np.float64)
    out = np.empty_like(probs)
    for i in range(probs.shape[0]):
        for j in range(probs.shape[1]):
            out[i, j] = probs[i, j] / mass[j]**tau
        out[i] /= out[i].sum()
    return out


def softmax64(logits):
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


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


@pytest.mark.parametrize('tau', [0.0, 1.0, 1.3])
def test_prediction_rebalancing_is_transductive_without_masses(tau):
    torch.manual_seed(2)
    logits = torch.randn(11, 4)
    probs = softmax64(logits.numpy())
    out = PredictionRebalancing(tau)(logits)
    np.testing.assert_allclose(
        out.numpy(), reference_rebalance(probs, probs.sum(axis=0), tau),
        rtol=1e-12)
    mass = np.array([3.0, 1.0, 0.5, 2.5])
    out = PredictionRebalancing(tau)(logits, column_mass=torch.tensor(mass))
    np.testing.assert_allclose(
        out.numpy(), reference_rebalance(probs, mass, tau), rtol=1e-12)


def test_prediction_rebalancing_flips_a_head_biased_prediction():
    # class 0 dominates the column mass, so a near-tie moves to class 1
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.55, 0.45]],
                         dtype=torch.float64)
    out = PredictionRebalancing(1.0)(probs.log())
    # masses 2.25 and 0.75: row 3 becomes (0.244.., 0.6) / sum
    assert out.argmax(dim=1).tolist() == [0, 0, 1]
    assert out[2, 1].item() == pytest.approx(
        (0.45 / 0.75) / (0.55 / 2.25 + 0.45 / 0.75), rel=1e-12)


@pytest.mark.parametrize('tau', [0.0, 0.5, 2.0])
def test_logit_adjustment_matches_float64_reference(tau):
    torch.manual_seed(3)
    logits = torch.randn(7, 4)
    counts = np.array(COUNTS, dtype=np.float64)
    expected = softmax64(logits.double().numpy() -
                         tau * np.log(counts / counts.sum()))
    out = PosthocLogitAdjustment(tau)(logits, train_class_counts=COUNTS)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_tau_normalization_hand_worked_example():
    # w_0 = (3, 0), w_1 = (0, 1), b = (0.5, -0.5); x = (1, 2): plain logits
    # (3.5, 1.5); tau 1: w / |w| gives logits (1, 2)
    weight = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    bias = torch.tensor([0.5, -0.5])
    logits = torch.tensor([[3.5, 1.5]])
    e = math.e
    out = TauNormalization(1.0)(logits, weight=weight, bias=bias)
    np.testing.assert_allclose(out.numpy(), [[1 / (1 + e), e / (1 + e)]],
                               rtol=1e-12)
    # tau 0 drops the bias only: (3, 2)
    out = TauNormalization(0.0)(logits, weight=weight, bias=bias)
    np.testing.assert_allclose(out.numpy(), [[e / (1 + e), 1 / (1 + e)]],
                               rtol=1e-12)


def test_errors():
    logits = torch.zeros(2, 4)
    with pytest.raises(ValueError, match='expected \\(N, C\\) and \\(C, \\)'):
        rebalance_probs(torch.full((2, 3), 1 / 3), torch.ones(4), 1.0)
    with pytest.raises(ValueError, match='finite and positive'):
        PredictionRebalancing(1.0)(
            logits, column_mass=torch.tensor([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match='N >= 1'):
        column_mass(torch.zeros(0, 3))
    for cls in (PredictionRebalancing, PosthocLogitAdjustment,
                TauNormalization):
        for tau in (-1, float('nan'), '1', True):
            with pytest.raises(ValueError, match=f'{cls.__name__}: tau must '
                               'be a finite number >= 0'):
                cls(tau)
    with pytest.raises(ValueError, match='PosthocLogitAdjustment\\(tau=1\\) '
                       'needs `train_class_counts`'):
        PosthocLogitAdjustment()(logits)
    with pytest.raises(ValueError, match='TauNormalization\\(tau=1\\) needs '
                       '`weight`'):
        TauNormalization()(logits)
    with pytest.raises(
            ValueError,
            match='train_class_counts has 5 entries but the logits have 4'):
        PosthocLogitAdjustment()(logits, train_class_counts=[9, 5, 3, 2, 1])
    zero_row = torch.ones(4, 3)
    zero_row[2] = 0
    with pytest.raises(ValueError, match='Class 2 has a zero weight'):
        TauNormalization()(logits, weight=zero_row)
    with pytest.raises(ValueError, match='shape \\(N, C\\) with N >= 1'):
        PredictionRebalancing()(torch.zeros(3))


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_logits_are_named(bad):
    logits = torch.zeros(5, 3)
    logits[3, 1] = bad
    for rebalancer in (PredictionRebalancing(), PosthocLogitAdjustment(),
                       TauNormalization()):
        with pytest.raises(ValueError, match='logits became non-finite.*1 of '
                           '5 samples, first sample 3.*diverged'):
            rebalancer(logits, train_class_counts=[3, 2, 1],
                       weight=torch.ones(3, 2))


def test_build_rebalancer():
    built = build_rebalancer(dict(type='PosthocLogitAdjustment', tau=0.5))
    assert isinstance(built, PosthocLogitAdjustment) and built.tau == 0.5
    assert build_rebalancer(built) is built
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        built = build_rebalancer(
            dict(type='TauNormalization', tau=2.0, _scope_='mmlt'))
    assert isinstance(built, TauNormalization) and built.tau == 2.0
    assert build_rebalancer(None) is None
    with pytest.raises(ValueError, match="Unknown re-balancing type 'lws'; "
                       "expected one of \\['PosthocLogitAdjustment', "
                       "'PredictionRebalancing', 'TauNormalization'"):
        build_rebalancer(dict(type='lws'))
    with pytest.raises(TypeError, match='must be a dict with a `type`'):
        build_rebalancer(dict(tau=1.0))


def test_a_new_method_is_one_class():
    """A re-balancer registered once serves the head and the metric."""

    class HalveLogits(BaseRebalancer):

        def rebalance(self, logits, **inputs):
            return torch.softmax(logits * 0.5**self.tau, dim=1)

    REBALANCERS.register_module(module=HalveLogits)
    try:
        cfg = dict(type='HalveLogits', tau=1.0)
        head = RebalancedLinearClsHead(4, 3, rebalance=cfg).eval()
        feats = torch.randn(6, 3)
        logits = head((feats, )).detach()
        predictions = head.predict((feats, ))
        expected = softmax64(logits.double().numpy() / 2)
        np.testing.assert_allclose(
            torch.stack([p.pred_score for p in predictions]).numpy(),
            expected,
            rtol=1e-12)
        assert predictions[0].rebalance_method == 'HalveLogits'
        metric = RebalancedAccuracy(
            rebalance=cfg, train_class_counts=COUNTS)
        metric.process(None, [p.set_gt_label(0).to_dict()
                              for p in predictions])
        metrics = metric.evaluate(6)
        assert metrics['long-tail/rebalanced/top1'] == pytest.approx(
            100 * float((expected.argmax(axis=1) == 0).mean()))
    finally:
        REBALANCERS.module_dict.pop('HalveLogits')
