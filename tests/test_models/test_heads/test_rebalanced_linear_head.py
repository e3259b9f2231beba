import math

import numpy as np
import pytest
import torch

from mmlt.evaluation.rebalancers import TauNormalization
from mmlt.models.heads import LogitsLinearClsHead, RebalancedLinearClsHead

PREDICTION = 'PredictionRebalancing'
LOGIT_ADJUST = 'PosthocLogitAdjustment'
TAU_NORM = 'TauNormalization'


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
    head = RebalancedLinearClsHead(
        num_classes, in_channels, rebalance=dict(type=PREDICTION, tau=tau))
    head.init_weights()
    torch.nn.init.normal_(head.fc.weight, std=1.0)
    return head.eval()


def test_plain_predictions_without_column_mass_warn_once():
    """Single-image inference without stored masses: plain scores, marked
    in the metainfo, and one warning that says how to store masses."""
    head = build_head()
    feats = torch.randn(5, 6)
    logits = head((feats, ))
    with pytest.warns(UserWarning, match='no column masses are stored.*NOT '
                      're-balanced.*estimate_column_mass.py') as record:
        predictions = head.predict((feats, ))
        head.predict((feats[:1], ))
    assert len(record) == 1
    assert not head.has_column_mass
    for prediction, logit in zip(predictions, logits):
        torch.testing.assert_close(prediction.pred_logits, logit.detach())
        torch.testing.assert_close(prediction.pred_score,
                                   torch.softmax(logit.detach(), dim=0))
        assert prediction.rebalanced is False
        assert prediction.rebalance_method == PREDICTION


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
        assert prediction.rebalanced is True


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
        RebalancedLinearClsHead(
            4, 6, rebalance=dict(type=PREDICTION, tau=-1.0))


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


# Post-hoc logit adjustment and tau-normalised classifier
TRAIN_COUNTS = [400, 100, 25, 5]


def build_posthoc_head(method, tau=1.0, seed=0, **kwargs):
    torch.manual_seed(seed)
    head = RebalancedLinearClsHead(
        4, 6, rebalance=dict(type=method, tau=tau), **kwargs)
    torch.nn.init.normal_(head.fc.weight, std=1.0)
    torch.nn.init.normal_(head.fc.bias, std=1.0)
    return head.eval()


def softmax64(logits):
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def stacked(predictions, field):
    return torch.stack([getattr(p, field) for p in predictions])


@pytest.mark.parametrize('tau', [0.5, 1.0, 2.0])
def test_logit_adjust_matches_float64_reference(tau):
    head = build_posthoc_head(
        LOGIT_ADJUST, tau, train_class_counts=TRAIN_COUNTS)
    feats = torch.randn(40, 6)
    logits = head((feats, )).detach()
    counts = np.array(TRAIN_COUNTS, dtype=np.float64)
    adjusted = logits.double().numpy() - tau * np.log(counts / counts.sum())
    predictions = head.predict((feats, ))
    scores = stacked(predictions, 'pred_score')
    assert scores.dtype == torch.float64
    np.testing.assert_allclose(scores.numpy(), softmax64(adjusted),
                               rtol=1e-12)
    labels = stacked(predictions, 'pred_label').flatten().numpy()
    np.testing.assert_array_equal(labels, adjusted.argmax(axis=1))
    # the prior moves some predictions from head to tail classes
    assert (labels > logits.argmax(dim=1).numpy()).any()
    torch.testing.assert_close(stacked(predictions, 'pred_logits'), logits)
    assert predictions[0].rebalance_method == LOGIT_ADJUST
    assert predictions[0].rebalance_tau == tau
    assert predictions[0].rebalanced


@pytest.mark.parametrize('method', [LOGIT_ADJUST, PREDICTION])
def test_tau_zero_is_the_plain_head(method):
    head = build_posthoc_head(method, 0.0, train_class_counts=TRAIN_COUNTS)
    if method == PREDICTION:
        head.set_column_mass(torch.tensor([5.0, 2.0, 1.0, 0.5]), 10)
    plain = LogitsLinearClsHead(4, 6).eval()
    plain.fc.load_state_dict(head.fc.state_dict())
    feats = torch.randn(30, 6)
    rebalanced = head.predict((feats, ))
    reference = plain.predict((feats, ))
    torch.testing.assert_close(
        stacked(rebalanced, 'pred_score').float(),
        stacked(reference, 'pred_score'))
    assert torch.equal(
        stacked(rebalanced, 'pred_label'), stacked(reference, 'pred_label'))


@pytest.mark.parametrize('tau', [0.0, 0.7, 1.0, 1.8])
def test_tau_norm_matches_a_hand_built_normalised_linear(tau):
    head = build_posthoc_head(TAU_NORM, tau)
    # rows of very different norms, so the normalisation matters
    with torch.no_grad():
        head.fc.weight.mul_(torch.tensor([[4.0], [2.0], [1.0], [0.3]]))
    feats = torch.randn(50, 6)
    weight = head.fc.weight.detach().double()
    reference = torch.nn.Linear(6, 4, bias=False).double()
    with torch.no_grad():
        reference.weight.copy_(weight /
                               weight.norm(dim=1, keepdim=True)**tau)
        expected = torch.softmax(reference(feats.double()), dim=1)
    predictions = head.predict((feats, ))
    np.testing.assert_allclose(
        stacked(predictions, 'pred_score').numpy(),
        expected.numpy(),
        rtol=0,
        atol=1e-6)
    top2 = expected.topk(2, dim=1).values
    assert bool((top2[:, 0] - top2[:, 1] > 1e-4).all())  # no near ties
    assert torch.equal(
        stacked(predictions, 'pred_label').flatten(), expected.argmax(dim=1))
    torch.testing.assert_close(
        stacked(predictions, 'pred_logits'), head((feats, )).detach())
    assert predictions[0].rebalance_method == TAU_NORM


def test_tau_norm_hand_worked_example():
    # w_0 = (3, 0), w_1 = (0, 1), b = (0.5, -0.5); x = (1, 2) and (1, 0.25)
    head = RebalancedLinearClsHead(
        2, 2, rebalance=dict(type=TAU_NORM, tau=1.0)).eval()
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
        head.fc.bias.copy_(torch.tensor([0.5, -0.5]))
    feats = torch.tensor([[1.0, 2.0], [1.0, 0.25]])
    # plain logits (3.5, 1.5) and (3.5, -0.25): class 0 for both
    predictions = head.predict((feats, ))
    assert stacked(predictions, 'pred_logits').tolist() == [[3.5, 1.5],
                                                           [3.5, -0.25]]
    # tau 1: w_0 / 3 = (1, 0), w_1 / 1: logits (1, 2) and (1, 0.25)
    e = math.e
    np.testing.assert_allclose(
        predictions[0].pred_score.numpy(), [1 / (1 + e), e / (1 + e)],
        rtol=1e-6)
    assert [int(p.pred_label) for p in predictions] == [1, 0]
    # tau 0.5: logits (sqrt 3, 2) and (sqrt 3, 0.25) -> classes 1, 0
    head.rebalancer = TauNormalization(0.5)
    assert [int(p.pred_label) for p in head.predict((feats, ))] == [1, 0]
    # tau 0 keeps the weights but drops the bias: (3, 2) -> class 0
    head.rebalancer = TauNormalization(0.0)
    np.testing.assert_allclose(
        head.predict((feats, ))[0].pred_score.numpy(),
        [e / (1 + e), 1 / (1 + e)],
        rtol=1e-6)


def test_posthoc_errors():
    with pytest.raises(ValueError, match="Unknown re-balancing type 'lws'"):
        RebalancedLinearClsHead(4, 6, rebalance=dict(type='lws', tau=1.0))
    for method in (PREDICTION, LOGIT_ADJUST, TAU_NORM):
        with pytest.raises(ValueError, match='tau must be .*>= 0, got -0.5'):
            RebalancedLinearClsHead(
                4, 6, rebalance=dict(type=method, tau=-0.5))
    with pytest.raises(ValueError, match='needs a `rebalance`'):
        RebalancedLinearClsHead(4, 6, rebalance=None)

    head = build_posthoc_head(LOGIT_ADJUST)
    with pytest.raises(ValueError, match='no train class counts.*TRAIN split'
                       '.*train_class_counts'):
        head.predict((torch.randn(2, 6), ))
    with pytest.raises(ValueError, match="has 3 entries but the head's "
                       'predictions have 4 classes'):
        RebalancedLinearClsHead(
            4, 6, rebalance=dict(type=LOGIT_ADJUST),
            train_class_counts=[10, 5, 1])
    with pytest.raises(ValueError, match='class 1 has 0'):
        head.set_class_counts([10, 0, 3, 2])


def test_train_class_counts_in_the_checkpoint():
    head = build_posthoc_head(LOGIT_ADJUST, train_class_counts=TRAIN_COUNTS)
    state = head.state_dict()
    assert state['train_class_counts'].tolist() == TRAIN_COUNTS
    restored = RebalancedLinearClsHead(
        4, 6, rebalance=dict(type=LOGIT_ADJUST)).eval()
    restored.load_state_dict(state)
    feats = torch.randn(3, 6)
    for a, b in zip(head.predict((feats, )), restored.predict((feats, ))):
        assert torch.equal(a.pred_score, b.pred_score)

    # a checkpoint saved without counts keeps the configured ones
    without = RebalancedLinearClsHead(4, 6).state_dict()
    assert not without['train_class_counts'].any()
    configured = RebalancedLinearClsHead(
        4, 6, rebalance=dict(type=LOGIT_ADJUST),
        train_class_counts=TRAIN_COUNTS)
    configured.load_state_dict(without)
    assert configured.class_counts.tolist() == TRAIN_COUNTS
    # different counts in the checkpoint are refused
    other = dict(state, train_class_counts=torch.tensor([4.0, 3, 2, 1]))
    with pytest.raises(ValueError, match='differ from the configured'):
        configured.load_state_dict(other)


def test_class_counts_hook_sets_the_head_counts():
    from types import SimpleNamespace

    from mmlt.engine.hooks import ClassCountsHook
    head = build_posthoc_head(LOGIT_ADJUST)
    assert head.class_counts is None
    dataset = SimpleNamespace(metainfo=dict(train_class_counts=TRAIN_COUNTS))
    runner = SimpleNamespace(
        model=head, train_dataloader=SimpleNamespace(dataset=dataset))
    ClassCountsHook().before_train(runner)
    assert head.class_counts.tolist() == TRAIN_COUNTS


@pytest.mark.parametrize('method', [LOGIT_ADJUST, TAU_NORM])
def test_posthoc_methods_train_on_plain_logits(method):
    from mmpretrain.structures import DataSample
    head = build_posthoc_head(method, train_class_counts=TRAIN_COUNTS).train()
    feats = torch.randn(4, 6)
    samples = [DataSample().set_gt_label(i % 4) for i in range(4)]
    loss = head.loss((feats, ), samples)['loss']
    expected = torch.nn.functional.cross_entropy(
        head((feats, )), torch.arange(4))
    torch.testing.assert_close(loss, expected)
