import numpy as np
import pytest
import torch

from mmlt.evaluation.metrics import LongTailAccuracy
from mmlt.evaluation.rebalancing import tau_sweep

COUNTS = [500, 300, 60, 30, 10, 5]


def split(seed=0, num=90, in_channels=5):
    """Features, labels and a head-biased linear classifier."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(num) % len(COUNTS)
    weight = torch.randn(len(COUNTS), in_channels, generator=gen)
    weight *= torch.linspace(3.0, 0.5, len(COUNTS))[:, None]
    bias = torch.linspace(1.0, -1.0, len(COUNTS))
    feats = weight[labels] * 0.4 + torch.randn(num, in_channels,
                                               generator=gen)
    return feats, labels, weight, bias


def expected_figures(probs, labels):
    probs = np.asarray(probs, dtype=np.float64)
    return LongTailAccuracy.calculate(
        probs.argmax(axis=1), labels.numpy(), len(COUNTS),
        probs.max(axis=1), COUNTS)


def softmax64(logits):
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def check_rows(rows, taus, references, labels):
    assert [row['tau'] for row in rows] == taus
    for row, probs in zip(rows, references):
        top2 = np.sort(probs, axis=1)[:, -2:]
        assert (top2[:, 1] - top2[:, 0] > 1e-5).all()  # no near ties
        for key, value in expected_figures(probs, labels).items():
            assert row[key] == pytest.approx(value, abs=1e-6), key


def test_sweep_logit_adjust():
    feats, labels, weight, bias = split()
    logits = feats @ weight.T + bias
    taus = [0.0, 0.5, 1.0, 1.5]
    rows = tau_sweep(logits, labels, taus, COUNTS, 'PosthocLogitAdjustment')
    counts = np.array(COUNTS, dtype=np.float64)
    log_prior = np.log(counts / counts.sum())
    references = [
        softmax64(logits.double().numpy() - tau * log_prior) for tau in taus
    ]
    check_rows(rows, taus, references, labels)
    plain = tau_sweep(logits, labels, [0.0], COUNTS)[0]
    assert rows[0] == pytest.approx(plain, abs=1e-12)  # tau 0: plain
    assert rows[2]['few'] > rows[0]['few']


def test_sweep_tau_norm():
    feats, labels, weight, bias = split(seed=1)
    logits = feats @ weight.T + bias
    taus = [0.0, 1.0, 2.0]
    rows = tau_sweep(
        logits,
        labels,
        taus,
        COUNTS,
        'TauNormalization',
        weight=weight,
        bias=bias)
    references = []
    for tau in taus:
        normalised = torch.nn.Linear(5, len(COUNTS), bias=False).double()
        with torch.no_grad():
            normalised.weight.copy_(
                weight.double() / weight.double().norm(dim=1,
                                                       keepdim=True)**tau)
            references.append(
                torch.softmax(normalised(feats.double()), dim=1).numpy())
    check_rows(rows, taus, references, labels)
    # the normalisation changes predictions (and the tail figures)
    assert (references[0].argmax(1) != references[2].argmax(1)).any()
    assert rows[2]['few'] > rows[0]['few']


def test_sweep_prediction_is_transductive():
    feats, labels, weight, bias = split(seed=2)
    logits = feats @ weight.T + bias
    probs = softmax64(logits.double().numpy())
    mass = probs.sum(axis=0)
    references = []
    for tau in (0.0, 1.0):
        rebalanced = probs / mass**tau
        references.append(rebalanced / rebalanced.sum(axis=1, keepdims=True))
    check_rows(tau_sweep(logits, labels, [0.0, 1.0], COUNTS), [0.0, 1.0],
               references, labels)


def test_sweep_errors():
    feats, labels, weight, bias = split()
    logits = feats @ weight.T + bias
    with pytest.raises(ValueError, match="needs `weight`"):
        tau_sweep(logits, labels, [1.0], COUNTS, 'TauNormalization')
    with pytest.raises(ValueError, match="Unknown re-balancing type 'lws'"):
        tau_sweep(logits, labels, [1.0], COUNTS, 'lws')
    with pytest.raises(
            ValueError, match='has 5 entries but the logits have 6'):
        tau_sweep(logits, labels, [1.0], COUNTS[:5], 'PosthocLogitAdjustment')
