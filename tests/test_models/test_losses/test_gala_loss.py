import math
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlt.models.losses import GALALoss
from mmlt.models.losses import gala_loss as gala_module

EPS = 1e-3


def reference_adjusted(z, labels, theta, phi, lambda1, lambda2, variant):
    """The adjusted logits of the formula, one sample and one class at a time
    in float64 Python arithmetic."""
    rows = []
    for i, k in enumerate(labels):
        row = []
        for j in range(len(theta)):
            if variant == 'released_code':
                row.append(z[i][j] + lambda1 * math.log(theta[j] + EPS))
            elif j == k:
                row.append(z[i][j])
            else:
                row.append(z[i][j] + lambda1 * math.log(theta[j] + EPS) -
                           lambda2 * math.log(phi[k] + EPS))
        rows.append(row)
    return rows


def reference_loss(z, labels, theta, phi, lambda1, lambda2, variant='paper'):
    """Mean softmax cross-entropy on the adjusted logits; ``z`` may be a
    float64 tensor that requires grad (for the reference gradient)."""
    total = 0
    for i, k in enumerate(labels):
        row = []
        for j in range(len(theta)):
            if variant == 'released_code':
                shift = lambda1 * math.log(theta[j] + EPS)
            elif j == k:
                shift = 0.0
            else:
                shift = (
                    lambda1 * math.log(theta[j] + EPS) -
                    lambda2 * math.log(phi[k] + EPS))
            row.append(z[i, j] + shift)
        row = torch.stack(row)
        total = total - row[k] + torch.logsumexp(row, dim=0)
    return total / len(labels)


def reference_step(z, labels, stats, lambda1, lambda2, variant='paper'):
    """Hand accumulation of one batch: returns the new (theta, phi,
    negative_received) lists, from per-sample, per-class float64 loops."""
    theta, phi, received = (list(s) for s in stats)
    adjusted = reference_adjusted(z, labels, stats[0], stats[1], lambda1,
                                  lambda2, variant)
    for i, k in enumerate(labels):
        denom = sum(math.exp(v) for v in adjusted[i])
        p = [math.exp(v) / denom for v in adjusted[i]]
        theta[k] += 1 - p[k]
        phi[k] += sum(p[j] for j in range(len(p)) if j != k)
        for j in range(len(p)):
            if j != k:
                received[j] += p[j]
    return theta, phi, received


def set_stats(loss, theta):
    """Set the accumulated statistics (``phi`` is ``theta``)."""
    loss.theta.copy_(torch.tensor(theta, dtype=torch.float64))


@pytest.mark.parametrize('variant', ['paper', 'released_code'])
def test_loss_and_gradient_match_float64_reference(variant):
    torch.manual_seed(0)
    num_classes, lambda1, lambda2 = 5, 1.2, 0.9
    theta = [40.0, 12.5, 3.0, 0.0, 0.7]
    logits = torch.randn(7, num_classes) * 2
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 3])

    loss = GALALoss(num_classes, lambda1, lambda2, variant=variant).eval()
    set_stats(loss, theta)
    z = logits.clone().requires_grad_(True)
    value = loss(z, labels)
    value.backward()

    z_ref = logits.double().requires_grad_(True)
    expected = reference_loss(z_ref, labels.tolist(), theta, theta, lambda1,
                              lambda2, variant)
    expected.backward()
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    torch.testing.assert_close(
        z.grad.double(), z_ref.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('variant', ['paper', 'released_code'])
def test_per_sample_losses_and_upstream_gradient(variant):
    """reduction 'none' and a non-uniform upstream gradient (the gradient is
    built in the forward pass) against autograd through the formula."""
    torch.manual_seed(8)
    theta = [30.0, 4.0, 0.0, 1.5]
    logits = torch.randn(6, 4) * 2
    labels = [0, 1, 2, 3, 1, 0]
    loss = GALALoss(4, 1.2, 0.9, variant=variant, loss_weight=1.5).eval()
    set_stats(loss, theta)
    z = logits.clone().requires_grad_(True)
    value = loss(z, torch.tensor(labels), reduction_override='none')
    z_ref = logits.double().requires_grad_(True)
    expected = 1.5 * torch.stack([
        reference_loss(z_ref[i:i + 1], [k], theta, theta, 1.2, 0.9, variant)
        for i, k in enumerate(labels)
    ])
    torch.testing.assert_close(
        value.double(), expected.detach(), rtol=1e-6, atol=1e-7)
    upstream = torch.randn(6)
    value.backward(upstream)
    expected.backward(upstream.double())
    torch.testing.assert_close(
        z.grad.double(), z_ref.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('variant', ['paper', 'released_code'])
def test_equals_cross_entropy_on_the_documented_adjustment(variant):
    """The loss (computed with the adjustment moved to the target column)
    equals cross-entropy on ``z + logit_adjustment(label)``."""
    torch.manual_seed(9)
    loss = GALALoss(6, 1.2, 0.9, variant=variant).eval()
    set_stats(loss, [50.0, 9.0, 3.0, 0.5, 0.0, 2.0])
    logits = torch.randn(10, 6) * 3
    labels = torch.randint(0, 6, (10, ))
    expected = F.cross_entropy(
        logits.double() + loss.logit_adjustment(labels), labels)
    assert loss(logits, labels).item() == pytest.approx(
        expected.item(), rel=1e-6)


def test_underflowing_target_probability():
    """A target probability below float32's range: the loss, its gradient
    and the statistics stay exact."""
    logits = torch.tensor([[0.0, 130.0, 0.0, -5.0], [1.0, 0.0, 0.5, 0.0],
                           [-60.0, 60.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 2])
    loss = GALALoss(4).train()
    z = logits.clone().requires_grad_(True)
    value = loss(z, labels)
    value.backward()
    zero = [0.0] * 4
    z_ref = logits.double().requires_grad_(True)
    expected = reference_loss(z_ref, labels.tolist(), zero, zero, 1.0, 1.0)
    expected.backward()
    assert expected.item() > 40  # sample 0 alone: about 130 / 3
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    torch.testing.assert_close(
        z.grad.double(), z_ref.grad, rtol=1e-5, atol=1e-7)
    stats = reference_step(logits.tolist(), labels.tolist(),
                           (zero, zero, zero), 1.0, 1.0)
    for buffer, reference in zip(
        (loss.theta, loss.phi, loss.negative_received), stats):
        torch.testing.assert_close(
            buffer,
            torch.tensor(reference, dtype=torch.float64),
            rtol=1e-6,
            atol=1e-9)


def test_received_sums_to_produced():
    """Sum over classes of the negative gradient received equals the sum of
    the negative gradient produced (phi): both sum the same float32
    probabilities, in a different order (float32 rounding)."""
    torch.manual_seed(10)
    loss = GALALoss(50, 1.2, 0.9).train()
    for _ in range(5):
        loss(torch.randn(32, 50) * 4, torch.randint(0, 50, (32, )))
    assert loss.negative_received.sum().item() == pytest.approx(
        loss.phi.sum().item(), rel=1e-6)
    assert torch.equal(loss.theta, loss.phi)


def test_no_second_derivatives():
    z = torch.randn(4, 3, requires_grad=True)
    value = GALALoss(3)(z, torch.tensor([0, 1, 2, 0]))
    with pytest.raises(RuntimeError, match='second derivatives'):
        torch.autograd.grad(value, z, create_graph=True)


def test_sample_weight_shape():
    with pytest.raises(ValueError, match=r'weight must have shape \(2,\)'):
        GALALoss(3)(
            torch.randn(2, 3), torch.tensor([0, 1]), weight=torch.ones(2, 1))


def test_phi_term_changes_paper_loss():
    """With lambda1 != lambda2 the two variants differ: the paper form's
    target column gets lambda2 log(phi_k + eps) where the released code's
    gets lambda1 log(theta_k + eps)."""
    logits = torch.tensor([[1.0, 0.5, -0.3], [0.2, 0.1, 0.0]])
    labels = torch.tensor([0, 2])
    values = {}
    for variant in ('paper', 'released_code'):
        loss = GALALoss(3, 1.2, 0.9, variant=variant).eval()
        set_stats(loss, [10.0, 5.0, 1.0])
        values[variant] = loss(logits, labels).item()
    assert abs(values['paper'] - values['released_code']) > 1e-2


def test_hand_worked_first_step():
    """C = 2, zero statistics, lambda1 == lambda2: adjusted logits equal the
    logits (0, 0), so p~ = (0.5, 0.5)."""
    loss = GALALoss(2).train()
    value = loss(torch.zeros(1, 2), torch.tensor([0]))
    assert value.item() == pytest.approx(math.log(2), rel=1e-7)
    assert loss.theta.tolist() == [0.5, 0.0]
    assert loss.phi.tolist() == [0.5, 0.0]
    assert loss.negative_received.tolist() == [0.0, 0.5]


@pytest.mark.parametrize('variant', ['paper', 'released_code'])
def test_statistics_match_hand_accumulation(variant):
    torch.manual_seed(1)
    num_classes, lambda1, lambda2 = 4, 1.2, 0.9
    loss = GALALoss(num_classes, lambda1, lambda2, variant=variant).train()
    stats = ([0.0] * num_classes, [0.0] * num_classes, [0.0] * num_classes)
    for _ in range(4):
        logits = torch.randn(6, num_classes) * 3
        labels = torch.randint(0, num_classes, (6, ))
        # the batch's loss uses only the statistics of earlier batches
        expected = reference_loss(logits.double(), labels.tolist(), stats[0],
                                  stats[1], lambda1, lambda2, variant)
        assert loss(logits, labels).item() == pytest.approx(
            expected.item(), rel=1e-6)
        stats = reference_step(logits.tolist(), labels.tolist(), stats,
                               lambda1, lambda2, variant)
    for buffer, expected in zip((loss.theta, loss.phi, loss.negative_received),
                                stats):
        assert buffer.dtype == torch.float64
        torch.testing.assert_close(
            buffer,
            torch.tensor(expected, dtype=torch.float64),
            rtol=1e-6,
            atol=1e-9)
    # hard-label softmax CE: the negative gradient a class produces equals
    # its positive gradient, so phi == theta
    torch.testing.assert_close(loss.phi, loss.theta, rtol=1e-12, atol=1e-12)


def test_variants_coincide_when_lambdas_are_equal():
    torch.manual_seed(2)
    losses = [
        GALALoss(5, 1.3, 1.3, variant=v).train()
        for v in ('paper', 'released_code')
    ]
    for _ in range(3):
        logits = torch.randn(8, 5)
        labels = torch.randint(0, 5, (8, ))
        a, b = (loss(logits, labels) for loss in losses)
        assert a.item() == pytest.approx(b.item(), rel=1e-5)
    torch.testing.assert_close(
        losses[0].theta, losses[1].theta, rtol=1e-6, atol=1e-9)


def test_statistics_ignore_reduction_and_weights():
    torch.manual_seed(3)
    logits = torch.randn(10, 6)
    labels = torch.randint(0, 6, (10, ))
    plain = GALALoss(6).train()
    plain(logits, labels)
    other = GALALoss(6, reduction='sum', loss_weight=3.0).train()
    other(logits, labels, weight=torch.rand(10), reduction_override='none')
    for name in ('theta', 'negative_received'):
        assert torch.equal(getattr(plain, name), getattr(other, name))


def test_weight_avg_factor_and_loss_weight():
    torch.manual_seed(4)
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 1, 0])
    weight = torch.rand(5)
    per_sample = GALALoss(3).eval()(logits, labels, reduction_override='none')
    value = GALALoss(
        3, loss_weight=2.0).eval()(
            logits, labels, weight=weight, avg_factor=4.0)
    assert value.item() == pytest.approx(
        2.0 * (per_sample * weight).sum().item() / 4.0, rel=1e-6)


def test_eval_mode_does_not_accumulate():
    loss = GALALoss(3).eval()
    loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
    assert loss.theta.abs().sum() == 0
    assert loss.pop_pending().abs().sum() == 0


def test_sync_by_hook_defers_commit():
    torch.manual_seed(5)
    loss = GALALoss(3).train()
    reference = GALALoss(3).train()
    loss.sync_by_hook = True
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, 1, 2, 2])
    first = loss(logits, labels)
    second = loss(logits, labels)
    # nothing committed: both forwards use the zero statistics
    assert first.item() == second.item()
    assert loss.theta.abs().sum() == 0
    reference(logits, labels)
    pending = loss.pop_pending()
    torch.testing.assert_close(pending[0], 2 * reference.theta)
    torch.testing.assert_close(pending[1], 2 * reference.negative_received)
    loss.commit(pending)
    torch.testing.assert_close(loss.theta, 2 * reference.theta)
    assert loss.pop_pending().abs().sum() == 0


def test_momentum(commit_path):
    loss = GALALoss(3, momentum=0.75)
    loss.theta.fill_(4.0)
    increments = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]],
                              dtype=torch.float64)
    loss.commit(increments)
    assert loss.theta.tolist() == [3.25, 3.5, 3.75]
    assert loss.negative_received.tolist() == [0.5, 1.0, 1.5]


def test_momentum_without_hook_matches_commit():
    """A stand-alone forward with momentum blends its increments exactly as
    commit() of the same increments does."""
    torch.manual_seed(7)
    alone = GALALoss(4, 1.2, 0.9, momentum=0.9).train()
    by_hook = GALALoss(4, 1.2, 0.9, momentum=0.9).train()
    by_hook.sync_by_hook = True
    for _ in range(3):
        logits, labels = torch.randn(6, 4) * 2, torch.randint(0, 4, (6, ))
        before = alone.theta.clone()
        alone(logits, labels)
        by_hook(logits, labels)
        increments = by_hook.pop_pending()
        by_hook.commit(increments)
        torch.testing.assert_close(
            alone.theta, 0.9 * before + 0.1 * increments[0], rtol=1e-12,
            atol=1e-12)
        for name in ('theta', 'negative_received'):
            torch.testing.assert_close(
                getattr(alone, name), getattr(by_hook, name), rtol=1e-12,
                atol=1e-12)


def test_state_dict_carries_statistics():
    torch.manual_seed(6)
    loss = GALALoss(4, 1.2, 0.9).train()
    loss(torch.randn(6, 4), torch.randint(0, 4, (6, )))
    state = loss.state_dict()
    # one statistic for theta and phi (equal by construction), and psi
    assert set(state) == {'theta', 'negative_received'}
    restored = GALALoss(4, 1.2, 0.9)
    restored.load_state_dict(state)
    logits = torch.randn(3, 4)
    labels = torch.tensor([0, 3, 1])
    assert torch.equal(loss.eval()(logits, labels),
                       restored.eval()(logits, labels))


def test_loads_checkpoints_that_carry_phi():
    """A state dict of the time when theta and phi were both buffers (phi
    equal to theta) loads strictly, through torch and through mmengine's
    loader, inside a model; a phi that differs from theta is refused."""
    from mmengine.runner.checkpoint import load_state_dict
    torch.manual_seed(6)
    trained = GALALoss(4, 1.2, 0.9).train()
    trained(torch.randn(6, 4), torch.randint(0, 4, (6, )))
    old = {f'loss.{k}': v for k, v in trained.state_dict().items()}
    old['loss.phi'] = old['loss.theta'].clone()
    for load in (lambda m, sd: m.load_state_dict(sd, strict=True),
                 lambda m, sd: load_state_dict(m, sd, strict=True)):
        model = nn.Module()
        model.loss = GALALoss(4, 1.2, 0.9)
        load(model, dict(old))
        assert torch.equal(model.loss.theta, trained.theta)
        assert torch.equal(model.loss.negative_received,
                           trained.negative_received)
    old['loss.phi'] = old['loss.theta'] + 1
    model = nn.Module()
    model.loss = GALALoss(4)
    with pytest.raises(ValueError, match='loss.phi differs from its '
                       'loss.theta'):
        model.load_state_dict(old)


def test_autocast_keeps_float32_loss_and_float64_statistics():
    torch.manual_seed(7)
    fc = nn.Linear(8, 5)
    feats = torch.randn(6, 8)
    labels = torch.randint(0, 5, (6, ))
    loss = GALALoss(5, 1.2, 0.9).train()
    loss.theta.fill_(3.0)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        logits = fc(feats)
        value = loss(logits, labels)
    assert logits.dtype == torch.bfloat16
    assert value.dtype == torch.float32
    assert loss.theta.dtype == torch.float64
    expected = reference_loss(logits.detach().double(), labels.tolist(),
                              [3.0] * 5, [3.0] * 5, 1.2, 0.9)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    value.backward()
    assert fc.weight.grad is not None


def test_soft_labels_are_refused():
    loss = GALALoss(3)
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]])
    with pytest.raises(ValueError, match='Soft targets'):
        loss(torch.randn(2, 3), soft)
    with pytest.raises(ValueError, match='integer class index'):
        loss(torch.randn(2, 3), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize('bad', [-1, 3])
def test_out_of_range_labels(bad):
    with pytest.raises(
            ValueError, match=rf'label {bad} \(sample 1\) .*\[0, 3\)'):
        GALALoss(3)(torch.randn(2, 3), torch.tensor([0, bad]))


def test_num_classes_mismatch():
    with pytest.raises(ValueError, match='num_classes=4 .* shape \\(2, 3\\)'):
        GALALoss(4)(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='3 labels for 2 rows'):
        GALALoss(3)(torch.randn(2, 3), torch.tensor([0, 1, 2]))


def test_bad_arguments():
    with pytest.raises(ValueError, match='variant'):
        GALALoss(3, variant='code')
    with pytest.raises(ValueError, match='momentum'):
        GALALoss(3, momentum=1.0)
    with pytest.raises(ValueError, match='num_classes'):
        GALALoss(1)
    with pytest.raises(ValueError, match='shape \\(2, 3\\).*got \\(3, 3\\)'):
        GALALoss(3).commit(torch.zeros(3, 3, dtype=torch.float64))


def test_distributed_training_without_hook_is_an_error(monkeypatch):
    monkeypatch.setattr(gala_module, 'get_world_size', lambda: 2)
    loss = GALALoss(3).train()
    with pytest.raises(RuntimeError, match='AccumulatedGradientHook'):
        loss(torch.randn(2, 3), torch.tensor([0, 1]))
    loss.sync_by_hook = True
    loss(torch.randn(2, 3), torch.tensor([0, 1]))
    loss.eval()
    loss.sync_by_hook = False
    loss(torch.randn(2, 3), torch.tensor([0, 1]))  # evaluation is fine


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), '1', -0.5,
                                 True, None])
@pytest.mark.parametrize('name', ['lambda1', 'lambda2', 'eps'])
def test_non_finite_negative_or_non_numeric_arguments(name, bad):
    with pytest.raises(
            ValueError,
            match=rf'GALALoss: {name} must be a finite number .*got '
            rf'{re.escape(repr(bad))}'):
        GALALoss(3, **{name: bad})


def test_zero_lambdas_and_positive_eps():
    assert GALALoss(3, lambda1=0, lambda2=0).lambda1 == 0.0
    with pytest.raises(ValueError, match='eps must be a finite number > 0'):
        GALALoss(3, eps=0.0)
    with pytest.raises(ValueError, match="momentum .* got '0.9'"):
        GALALoss(3, momentum='0.9')
    with pytest.raises(ValueError, match="backend must be .* got 'gpu'"):
        GALALoss(3, backend='gpu')


@pytest.mark.parametrize('momentum', [None, 0.9])
def test_non_finite_logits_are_never_committed(momentum, commit_path):
    """The forward that meets nan logits leaves the statistics of the
    earlier ones; the error names its iteration: stand-alone on the CPU
    from that forward, on the device path (CUDA) from check_finite() and
    the next mode switch."""
    torch.manual_seed(8)
    loss = GALALoss(4, momentum=momentum).train()
    labels = torch.tensor([0, 1, 2, 3])
    loss(torch.randn(4, 4), labels)
    before = [s.clone() for s in (loss.theta, loss.negative_received)]
    logits = torch.randn(4, 4)
    logits[2, 1] = float('nan')
    message = 'non-finite .* at training iteration 2.*not added'
    if commit_path == 'host':
        with pytest.raises(FloatingPointError, match=message):
            loss(logits, labels)
    else:
        loss(logits, labels)
        with pytest.raises(FloatingPointError, match=message):
            loss.check_finite()
    for stat, old in zip((loss.theta, loss.negative_received), before):
        assert torch.equal(stat, old)
    with pytest.raises(FloatingPointError, match='iteration 2'):
        loss.eval()


@pytest.fixture(params=['host', 'device'])
def commit_path(request, monkeypatch):
    """Run a test with the CPU's host-side commit decisions, and with the
    device-side ones CUDA uses (no host read of the flags)."""
    if request.param == 'device':
        monkeypatch.setattr(gala_module, 'reads_without_sync',
                            lambda tensor: False)
    return request.param


def test_commit_records_the_first_non_finite_iteration_only(commit_path):
    loss = GALALoss(3)
    bad = torch.full((2, 3), float('inf'), dtype=torch.float64)
    good = torch.ones(2, 3, dtype=torch.float64)
    loss.commit(good, iteration=4)
    loss.commit(bad, iteration=5)
    loss.commit(good, iteration=6)
    loss.commit(bad, iteration=7)
    assert loss.theta.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(FloatingPointError, match='iteration 5,'):
        loss.check_finite()


@pytest.mark.parametrize('momentum', [None, 0.5])
def test_skipped_step_leaves_statistics_untouched(momentum, commit_path):
    """A step the AMP loss scaler skipped: its increments, finite or not,
    are dropped and nothing is recorded."""
    loss = GALALoss(3, momentum=momentum)
    loss.commit(torch.ones(2, 3, dtype=torch.float64), iteration=1)
    before = loss.theta.clone()
    for increments in (torch.full((2, 3), float('nan'), dtype=torch.float64),
                       torch.full((2, 3), 2.0, dtype=torch.float64)):
        loss.commit(increments, iteration=2, skip=torch.tensor(True))
        assert torch.equal(loss.theta, before)
    loss.check_finite()
    loss.commit(
        torch.full((2, 3), 2.0, dtype=torch.float64),
        iteration=3,
        skip=torch.tensor(False))
    expected = 3.0 if momentum is None else 0.5 * 0.5 + 0.5 * 2.0
    assert loss.theta.tolist() == [expected] * 3


@pytest.mark.parametrize('variant', ['paper', 'released_code'])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('weighted', [False, True])
def test_triton_backend_equals_torch(variant, reduction, weighted):
    """Loss, gradient and statistics of the Triton kernel (on the CPU via
    Triton's interpreter) equal the torch backend's within float32
    rounding, over three training forwards."""
    torch.manual_seed(9)
    losses = {
        backend: GALALoss(7, 1.2, 0.9, variant=variant,
                          backend=backend).train()
        for backend in ('torch', 'triton')
    }
    for _ in range(3):
        logits = torch.randn(3, 7) * 3
        labels = torch.randint(0, 7, (3, ))
        weight = torch.rand(3) if weighted else None
        values, grads = {}, {}
        for backend, loss in losses.items():
            z = logits.clone().requires_grad_()
            value = loss(z, labels, weight=weight, reduction_override=reduction)
            value.sum().backward()
            values[backend], grads[backend] = value, z.grad
        torch.testing.assert_close(
            values['triton'], values['torch'], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(
            grads['triton'], grads['torch'], rtol=1e-6, atol=1e-6)
    for name in ('theta', 'negative_received'):
        torch.testing.assert_close(
            getattr(losses['triton'], name),
            getattr(losses['torch'], name),
            rtol=1e-6,
            atol=1e-6)


def test_triton_backend_refuses_out_of_range_labels():
    with pytest.raises(ValueError, match=r'label 7 \(sample 0\)'):
        GALALoss(7, backend='triton')(torch.randn(1, 7), torch.tensor([7]))
