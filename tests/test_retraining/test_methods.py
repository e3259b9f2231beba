"""The re-training methods: the shared loss against torch's and mmlt's
losses, the post-hoc classifiers against mmlt's post-hoc functions, and
bad grids / names."""
import pytest
import torch
import torch.nn.functional as F

from mmlt.evaluation.rebalancers import (PosthocLogitAdjustment,
                                         TauNormalization)
from mmlt.models.losses import LogitAdjustLoss
from mmlt.retraining import build_method, method_names, retraining_loss
from mmlt.retraining.trainer import stacked_logits

COUNTS = torch.tensor([50, 20, 5])


def test_every_method_of_the_issue_is_registered():
    assert method_names() == [
        'ce', 'crt', 'lws', 'balanced_softmax', 'logit_adjust', 'lort',
        'mislas', 'tau_norm', 'posthoc_la'
    ]


def test_loss_with_smoothing_is_torch_label_smoothing():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 7, 3, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 2, 1, 1, 0, 2, 2])
    smoothing = torch.tensor([[0.0] * 3, [0.9] * 3], dtype=torch.float64)
    loss = retraining_loss(logits, labels, smoothing=smoothing)
    for g, eps in enumerate((0.0, 0.9)):
        expected = F.cross_entropy(logits[g], labels, label_smoothing=eps)
        torch.testing.assert_close(loss[g], expected)


def test_loss_with_per_class_smoothing_by_hand():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]]],
                          dtype=torch.float64)
    labels = torch.tensor([0, 1])
    smoothing = torch.tensor([[0.3, 0.1, 0.0]], dtype=torch.float64)
    log_p = torch.log_softmax(logits[0], dim=1)
    # sample 0: eps 0.3 -> target (0.8, 0.1, 0.1); sample 1: eps 0.1
    # -> (1/30, 1 - 0.1 + 1/30, 1/30)
    first = -(0.8 * log_p[0, 0] + 0.1 * log_p[0, 1] + 0.1 * log_p[0, 2])
    second = -(log_p[1, 0] / 30 + (0.9 + 1 / 30) * log_p[1, 1] +
               log_p[1, 2] / 30)
    torch.testing.assert_close(
        retraining_loss(logits, labels, smoothing=smoothing)[0],
        (first + second) / 2)


def test_loss_with_adjustment_is_logit_adjust_loss():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 6, 3, generator=generator)
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    method = build_method('logit_adjust', [0.7])
    adjustment, smoothing = method.loss_terms(COUNTS)
    assert smoothing is None
    expected = LogitAdjustLoss(tau=0.7, class_counts=COUNTS)(logits[0],
                                                             labels)
    torch.testing.assert_close(
        retraining_loss(logits, labels, adjustment)[0], expected)


def test_mislas_smoothing_is_linear_in_the_count():
    _, smoothing = build_method('mislas', [(0.4, 0.1)]).loss_terms(COUNTS)
    # counts 50 / 20 / 5: positions 1, 15/45, 0
    torch.testing.assert_close(
        smoothing[0], torch.tensor([0.4, 0.1 + 0.3 / 3, 0.1]))


@pytest.mark.parametrize('name', ['tau_norm', 'posthoc_la'])
def test_post_hoc_classifiers_match_the_post_hoc_functions(name):
    generator = torch.Generator().manual_seed(2)
    weight = torch.randn(3, 4, generator=generator)
    bias = torch.randn(3, generator=generator)
    features = torch.randn(5, 4, generator=generator)
    taus = (0.0, 0.5, 1.3)
    method = build_method(name, taus)
    assert not method.trains
    weights, biases = method.classifiers({}, weight, bias, COUNTS)
    logits = stacked_logits(features, weights, biases)
    plain = features @ weight.T + bias
    for g, tau in enumerate(taus):
        if name == 'tau_norm':
            expected = TauNormalization(tau)(plain, weight=weight, bias=bias)
        else:
            expected = PosthocLogitAdjustment(tau)(
                plain, train_class_counts=COUNTS)
        torch.testing.assert_close(
            F.softmax(logits[g].double(), dim=1),
            expected,
            rtol=1e-5,
            atol=1e-6)


def test_lws_scales_the_stage1_classifier():
    weight, bias = torch.ones(3, 2), torch.tensor([1., 2., 3.])
    method = build_method('lws', [0.1, 0.2])
    params = method.init_params(weight, bias)
    params['scale'] = torch.tensor([[1., 2., 3.], [0., 1., 0.5]])
    weights, biases = method.classifiers(params, weight, bias, COUNTS)
    torch.testing.assert_close(weights[1], torch.tensor([[0.] * 2, [1.] * 2,
                                                         [0.5] * 2]))
    torch.testing.assert_close(biases[0], torch.tensor([1., 4., 9.]))


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="'crt2'.*known: ce, crt, lws"):
        build_method('crt2')


@pytest.mark.parametrize(
    'name,grid,message',
    [('lort', [], 'empty'), ('ce', (), 'empty'), ('lort', [1.0], r'\[0, 1\)'),
     ('tau_norm', [-0.5], '>= 0'), ('ce', ['0.1'], 'lr must be'),
     ('mislas', [0.3], 'pair'), ('mislas', [(0.3, 1.2)], 'pair')])
def test_bad_grids_are_refused(name, grid, message):
    with pytest.raises(ValueError, match=message):
        build_method(name, grid)
