import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmlt.models.losses import LORTLoss, lort_eps_from_ratio, lort_target_ratio


def retargeted_ce(logits: torch.Tensor, target: torch.Tensor,
                  eps: float) -> torch.Tensor:
    """Independent float64 reference: build the B x K target explicitly,
    ``t = (1 - eps) q + eps / K``, and take ``-sum_j t_j log softmax_j``."""
    logits = logits.double()
    num_classes = logits.size(1)
    if target.dim() == 1:
        target = F.one_hot(target, num_classes)
    smoothed = (1 - eps) * target.double() + eps / num_classes
    return -(smoothed * torch.log_softmax(logits, dim=1)).sum(dim=1)


@pytest.mark.parametrize('eps', [0.0, 0.1, 0.5, 0.98, 0.999])
def test_equals_label_smoothed_cross_entropy(eps):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 100, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 100, (16, ), generator=generator)
    loss_fn = LORTLoss(eps=eps, reduction='none')

    loss = loss_fn(logits, labels)
    expected = F.cross_entropy(
        logits, labels, label_smoothing=eps, reduction='none')
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        loss, retargeted_ce(logits, labels, eps), rtol=1e-12, atol=1e-12)


def test_paper_targets_on_cifar100():
    # eps = 0.98, K = 100: true class 0.0298, every other class 0.0098.
    logits = torch.zeros(1, 100, dtype=torch.float64)
    logits[0, 3] = 1.0
    loss = LORTLoss(eps=0.98)(logits, torch.tensor([3]))
    log_p = torch.log_softmax(logits, dim=1)[0]
    expected = -(0.0298 * log_p[3] + 0.0098 * (log_p.sum() - log_p[3]))
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)


def test_soft_labels_are_retargeted_the_same_way():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 10, generator=generator, dtype=torch.float64)
    # Mixup-style targets: lam * onehot(a) + (1 - lam) * onehot(b).
    a = torch.randint(0, 10, (8, ), generator=generator)
    b = torch.randint(0, 10, (8, ), generator=generator)
    lam = torch.rand(8, 1, generator=generator, dtype=torch.float64)
    soft = lam * F.one_hot(a, 10) + (1 - lam) * F.one_hot(b, 10)

    loss = LORTLoss(eps=0.9, reduction='none')(logits, soft)
    torch.testing.assert_close(
        loss, retargeted_ce(logits, soft, 0.9), rtol=1e-12, atol=1e-12)
    # A one-hot soft label gives the hard-label loss.
    hard = LORTLoss(eps=0.9, reduction='none')(logits, a)
    onehot = LORTLoss(
        eps=0.9, reduction='none')(logits, F.one_hot(a, 10).double())
    torch.testing.assert_close(onehot, hard, rtol=1e-12, atol=1e-12)


def test_gradcheck_float64():
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(
        5, 7, generator=generator, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 7, (5, ), generator=generator)
    soft = torch.softmax(
        torch.randn(5, 7, generator=generator, dtype=torch.float64), dim=1)
    loss_fn = LORTLoss(eps=0.98)
    assert torch.autograd.gradcheck(lambda z: loss_fn(z, labels), (logits, ))
    assert torch.autograd.gradcheck(lambda z: loss_fn(z, soft), (logits, ))
    # The analytic gradient of the mean loss: (softmax(z) - t) / B.
    loss_fn(logits, labels).backward()
    target = (1 - 0.98) * F.one_hot(labels, 7).double() + 0.98 / 7
    expected = (torch.softmax(logits.detach(), dim=1) - target) / 5
    torch.testing.assert_close(logits.grad, expected, rtol=1e-10, atol=1e-12)


def test_reduction_weight_and_avg_factor():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 5, (6, ), generator=generator)
    weight = torch.rand(6, generator=generator, dtype=torch.float64)
    per_sample = retargeted_ce(logits, labels, 0.5)

    loss_fn = LORTLoss(eps=0.5, loss_weight=2.0)
    torch.testing.assert_close(
        loss_fn(logits, labels), 2.0 * per_sample.mean(), rtol=1e-6, atol=0)
    torch.testing.assert_close(
        loss_fn(logits, labels, reduction_override='sum'),
        2.0 * per_sample.sum(),
        rtol=1e-6,
        atol=0)
    torch.testing.assert_close(
        loss_fn(logits, labels, weight=weight, avg_factor=4),
        2.0 * (per_sample * weight).sum() / 4,
        rtol=1e-6,
        atol=0)
    with pytest.raises(ValueError, match='reduction_override'):
        loss_fn(logits, labels, reduction_override='max')


@pytest.mark.parametrize('soft', [False, True])
def test_per_sample_losses_and_upstream_gradient(soft):
    """reduction 'none' and a non-uniform upstream gradient (for hard labels
    the gradient is built in the forward pass) against autograd through the
    float64 reference."""
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(6, 5, generator=generator) * 3
    labels = torch.randint(0, 5, (6, ), generator=generator)
    if soft:
        labels = torch.softmax(torch.randn(6, 5, generator=generator), dim=1)
    z = logits.clone().requires_grad_(True)
    value = LORTLoss(eps=0.9, loss_weight=0.5, reduction='none')(z, labels)
    z_ref = logits.double().requires_grad_(True)
    expected = 0.5 * retargeted_ce(z_ref, labels, 0.9)
    torch.testing.assert_close(
        value.double(), expected.detach(), rtol=1e-6, atol=1e-7)
    upstream = torch.randn(6, generator=generator)
    value.backward(upstream)
    expected.backward(upstream.double())
    torch.testing.assert_close(
        z.grad.double(), z_ref.grad, rtol=1e-5, atol=1e-7)


def test_hard_labels_have_no_second_derivatives():
    logits = torch.randn(3, 4, requires_grad=True)
    loss = LORTLoss(eps=0.5)(logits, torch.tensor([0, 3, 1]))
    with pytest.raises(RuntimeError, match='second derivatives'):
        torch.autograd.grad(loss, logits, create_graph=True)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_logits_are_stable(dtype):
    # Logits far outside exp()'s half-precision range.
    generator = torch.Generator().manual_seed(4)
    logits = (torch.randn(8, 100, generator=generator) * 5e3).to(dtype)
    labels = torch.randint(0, 100, (8, ), generator=generator)
    logits.requires_grad_(True)
    loss = LORTLoss(eps=0.98)(logits, labels)
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss)
    expected = retargeted_ce(logits.detach(), labels, 0.98).mean()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=0)
    loss.backward()
    assert logits.grad.dtype == dtype
    assert torch.isfinite(logits.grad.float()).all()


def test_under_cpu_autocast_bf16():
    torch.manual_seed(5)
    fc = torch.nn.Linear(16, 10)
    feats = torch.randn(4, 16) * 100
    labels = torch.tensor([0, 3, 9, 1])
    with torch.autocast('cpu', dtype=torch.bfloat16):
        logits = fc(feats)
        loss = LORTLoss(eps=0.98)(logits, labels)
    assert logits.dtype == torch.bfloat16
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    expected = retargeted_ce(logits.detach(), labels, 0.98).mean()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=0)
    loss.backward()
    assert torch.isfinite(fc.weight.grad).all()


@pytest.mark.parametrize('eps', [-0.1, 1.0, 1.5, True, '0.5', None])
def test_invalid_eps(eps):
    with pytest.raises(ValueError, match=r'eps must be a number in \[0, 1\)'):
        LORTLoss(eps=eps)


def test_invalid_labels():
    loss_fn = LORTLoss(eps=0.5)
    logits = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r'label 4 \(sample 1\).*\[0, 4\)'):
        loss_fn(logits, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match='label -1'):
        loss_fn(logits, torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match='integer class indices'):
        loss_fn(logits, torch.tensor([0., 1., 1.]))
    with pytest.raises(ValueError, match='2 labels for 3 rows'):
        loss_fn(logits, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='shape of cls_score'):
        loss_fn(logits, torch.full((3, 5), 0.2))
    with pytest.raises(ValueError, match='row 2 sums to 2'):
        loss_fn(logits,
                torch.tensor([[1., 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]]))
    with pytest.raises(ValueError, match=r'shape \(N, K\)'):
        loss_fn(logits[0], torch.tensor(0))
    with pytest.raises(ValueError, match='weight must have shape'):
        loss_fn(logits, torch.tensor([0, 1, 2]), weight=torch.ones(2))


def test_in_a_classification_head_with_mixup_scores():
    head = MODELS.build(
        dict(
            type='LinearClsHead',
            num_classes=4,
            in_channels=3,
            loss=dict(type='LORTLoss', eps=0.98)))
    feats = (torch.randn(2, 3), )
    scores = torch.tensor([[0.7, 0.3, 0., 0.], [0., 0., 0.4, 0.6]])
    samples = [DataSample().set_gt_score(s) for s in scores]
    loss = head.loss(feats, samples)['loss']
    expected = retargeted_ce(head(feats).detach(), scores, 0.98).mean()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-6, atol=0)


def test_target_ratio_and_eps_from_ratio():
    # CIFAR-100, eps 0.98: targets 0.0298 and 0.0098.
    assert lort_target_ratio(0.98, 100) == pytest.approx(0.0298 / 0.0098)
    assert lort_eps_from_ratio(0.0298 / 0.0098, 100) == pytest.approx(0.98)
    for num_classes in (10, 1000, 8142):
        eps = lort_eps_from_ratio(3.0, num_classes)
        target = (1 - eps + eps / num_classes, eps / num_classes)
        assert target[0] / target[1] == pytest.approx(3.0)
        assert lort_target_ratio(eps, num_classes) == pytest.approx(3.0)
    with pytest.raises(ValueError, match='ratio must be > 1'):
        lort_eps_from_ratio(1.0, 100)
    with pytest.raises(ValueError, match=r'eps must be in \(0, 1\)'):
        lort_target_ratio(0.0, 100)
    with pytest.raises(ValueError, match='num_classes'):
        lort_eps_from_ratio(2.0, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_under_cuda_autocast_fp16():
    torch.manual_seed(6)
    fc = torch.nn.Linear(64, 100).cuda()
    feats = torch.randn(32, 64, device='cuda') * 300
    labels = torch.randint(0, 100, (32, ), device='cuda')
    with torch.autocast('cuda', dtype=torch.float16):
        logits = fc(feats)
        loss = LORTLoss(eps=0.98)(logits, labels)
    assert logits.dtype == torch.float16
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    expected = retargeted_ce(logits.detach(), labels, 0.98).mean()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_triton_backend_equals_torch(reduction, weighted, dtype):
    """Loss and gradient of the Triton kernel (on the CPU via Triton's
    interpreter) equal the torch backend's within float32 rounding; bf16
    logits are read as they are by both and computed in float32."""
    torch.manual_seed(10)
    logits = (torch.randn(3, 100) * 3).to(dtype)
    labels = torch.randint(0, 100, (3, ))
    weight = torch.rand(3) if weighted else None
    values, grads = [], []
    for backend in ('torch', 'triton'):
        z = logits.clone().requires_grad_()
        value = LORTLoss(0.98, backend=backend)(
            z, labels, weight=weight, reduction_override=reduction)
        value.sum().backward()
        values.append(value)
        grads.append(z.grad)
    assert grads[1].dtype == dtype
    torch.testing.assert_close(values[1], values[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=1e-6)


def test_triton_backend_refuses_out_of_range_labels_and_bad_backend():
    with pytest.raises(ValueError, match=r'label -1 \(sample 1\)'):
        LORTLoss(backend='triton')(torch.randn(2, 5), torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="LORTLoss: backend must be"):
        LORTLoss(backend='Triton')
