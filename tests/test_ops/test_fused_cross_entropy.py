"""The Triton kernel against the torch backend (on the CPU through Triton's
interpreter, see tests/conftest.py), and the torch backend against a float64
reference. The interpreter is slow: large C runs with B=1.

Both backends compute in float32 and sum in different orders, so they agree
to float32 rounding: within ``rtol=1e-6`` plus ``atol=1e-6`` (the losses,
probabilities and their sums are of order 1; one rounding of a
log-normaliser of about 10 moves every probability by about 1e-6
relative)."""
import pytest
import torch

from mmlt.ops import adjusted_cross_entropy, resolve_backend
from mmlt.ops import fused_cross_entropy as ace_module

pytestmark = pytest.mark.skipif(
    not ace_module.triton_available(), reason='needs Triton')

# (B, C, block): C not a multiple of the block; blocks smaller than C run
# the kernel's two-pass loop
SHAPES = [(3, 1, None), (3, 7, None), (256, 7, None), (3, 100, None),
          (1, 1000, None), (1, 8142, None), (3, 100, 32), (1, 8142, 1024)]


def inputs(batch, classes, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    logits = (torch.randn(batch, classes, generator=generator) * 3).to(dtype)
    label = torch.randint(0, classes, (batch, ), generator=generator)
    class_shift = torch.randn(classes, generator=generator)
    target_shift = torch.randn(classes, generator=generator)
    return logits, label, class_shift, target_shift


def reference(logits, label, class_shift, target_shift, smoothing):
    """float64 from the definition: adjusted logits, log-softmax, the loss
    against the smoothed one-hot target and softmax minus the target."""
    adjusted = logits.double().clone()
    onehot = torch.nn.functional.one_hot(label, logits.size(1)).double()
    if class_shift is not None:
        adjusted += class_shift.double()
    if target_shift is not None:
        adjusted += onehot * target_shift.double()[label, None]
    log_probs = torch.log_softmax(adjusted, dim=1)
    target = (1 - smoothing) * onehot + smoothing / logits.size(1)
    probs = log_probs.exp()
    return (-(target * log_probs).sum(1), probs - target,
            (probs * (1 - onehot)).sum(1))


@pytest.mark.parametrize('batch,classes,block', SHAPES)
@pytest.mark.parametrize('shifts,smoothing', [(True, 0.0), (False, 0.98),
                                              (True, 0.5)])
def test_triton_equals_torch_float32(batch, classes, block, shifts,
                                     smoothing):
    logits, label, class_shift, target_shift = inputs(batch, classes)
    if not shifts:
        class_shift = target_shift = None
    expected = adjusted_cross_entropy(logits, label, class_shift,
                                      target_shift, smoothing, 'torch')
    got = adjusted_cross_entropy(
        logits,
        label,
        class_shift,
        target_shift,
        smoothing,
        'triton',
        block_size=block)
    for name, e, g in zip(('loss', 'grad', 'produced'), expected, got):
        assert g.dtype == torch.float32 and g.shape == e.shape, name
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-6, msg=name)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('classes,block', [(100, None), (100, 32)])
def test_triton_equals_torch_half_precision(dtype, classes, block):
    """Half-precision logits are read as they are and computed in float32
    by both backends, so they agree as for float32 inputs (much tighter than
    the inputs' precision, 1e-3 for float16 and 8e-3 for bfloat16)."""
    logits, label, class_shift, target_shift = inputs(3, classes, 1, dtype)
    expected = adjusted_cross_entropy(logits, label, class_shift,
                                      target_shift, 0.0, 'torch')
    got = adjusted_cross_entropy(
        logits,
        label,
        class_shift,
        target_shift,
        0.0,
        'triton',
        block_size=block)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('smoothing', [0.0, 0.9])
def test_torch_backend_matches_float64_reference(smoothing):
    logits, label, class_shift, target_shift = inputs(5, 9, 2)
    expected = reference(logits, label, class_shift, target_shift, smoothing)
    got = adjusted_cross_entropy(logits, label, class_shift, target_shift,
                                 smoothing, 'torch')
    for e, g in zip(expected, got):
        torch.testing.assert_close(g.double(), e, rtol=1e-5, atol=1e-6)


def test_target_gradient_without_cancellation():
    """A target probability of 1 - 1e-12: float32 p - 1 would be 0, the
    off-target sum keeps the gradient."""
    logits = torch.tensor([[30.0, 2.4, 0.0]])
    label = torch.tensor([0])
    exact = -reference(logits, label, None, None, 0.0)[2]
    for backend in ('torch', 'triton'):
        grad = adjusted_cross_entropy(logits, label, backend=backend)[1]
        assert grad[0, 0].item() == pytest.approx(exact.item(), rel=1e-5)


def test_empty_batch():
    for backend in ('torch', 'triton'):
        loss, grad, produced = adjusted_cross_entropy(
            torch.zeros(0, 5), torch.zeros(0, dtype=torch.long),
            backend=backend)
        assert loss.shape == (0, ) and grad.shape == (0, 5)


def test_resolve_backend(monkeypatch):
    cpu = torch.zeros(2, 3)
    assert resolve_backend('auto', cpu, 'X') == 'torch'
    assert resolve_backend('torch', cpu, 'X') == 'torch'
    assert resolve_backend('triton', cpu, 'X') == 'triton'  # interpreter
    with pytest.raises(ValueError, match=r"X: backend must be .* 'cuda'"):
        resolve_backend('cuda', cpu, 'X')
    monkeypatch.setenv('TRITON_INTERPRET', '0')
    with pytest.raises(RuntimeError, match='X: .*needs CUDA tensors.*cpu'):
        resolve_backend('triton', cpu, 'X')
    monkeypatch.setattr(ace_module, 'triton', None)
    with pytest.raises(RuntimeError, match='X: .*needs Triton'):
        resolve_backend('triton', cpu, 'X')
    assert resolve_backend('auto', cpu, 'X') == 'torch'


def test_strided_logits_and_labels():
    """Views (a transposed logits matrix, every other label) read right."""
    logits, label, class_shift, target_shift = inputs(6, 9, 3)
    logits_t = logits.t().contiguous().t()  # column-major view
    label_view = torch.stack([label, label], 1)[:, 0]
    expected = adjusted_cross_entropy(logits, label, class_shift,
                                      target_shift, 0.0, 'torch')
    got = adjusted_cross_entropy(logits_t, label_view, class_shift,
                                 target_shift, 0.0, 'triton')
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-6)
