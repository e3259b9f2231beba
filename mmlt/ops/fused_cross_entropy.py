r"""Softmax cross-entropy of adjusted, smoothed targets with its gradient, in
one pass over each row of logits.

For logits :math:`z \in \mathbb{R}^{N \times C}`, labels :math:`k_i`, an
optional per-class shift :math:`s \in \mathbb{R}^C` and an optional shift
:math:`t \in \mathbb{R}^C` added at the target only, the adjusted logits are
:math:`a_{ij} = z_{ij} + s_j + [j = k_i]\, t_{k_i}`. With :math:`\tilde p_i
= \mathrm{softmax}(a_i)` and label smoothing :math:`\epsilon` the op returns,
in float32,

- the loss :math:`\ell_i = -(1 - \epsilon) \log \tilde p_{ik_i} -
  \frac{\epsilon}{C} \sum_j \log \tilde p_{ij}`,
- its gradient with respect to the logits, :math:`\tilde p_{ij} -
  \frac{\epsilon}{C} - (1 - \epsilon) [j = k_i]`, whose target entry is
  computed as :math:`\epsilon (1 - \frac{1}{C}) - \sum_{j \ne k_i} \tilde
  p_{ij}` (no cancellation where :math:`\tilde p_{ik_i} \approx 1`),
- the off-target probability mass :math:`\sum_{j \ne k_i} \tilde p_{ij}`
  (GALA's per-sample gradient magnitude).

:class:`GALALoss` uses it with :math:`\epsilon = 0`, :class:`LORTLoss` with
no shifts. ``backend='torch'`` computes it with PyTorch operations;
``backend='triton'`` with a Triton kernel that reads each row once (rows of
up to ``MAX_SINGLE_BLOCK`` classes; longer rows are read twice, block by
block) and writes the three outputs. ``'auto'`` picks Triton for CUDA
tensors when Triton imports, PyTorch otherwise. With ``TRITON_INTERPRET=1``
set before mmlt is imported, the kernel also runs (slowly) on CPU tensors;
the tests use that.
"""
import os
from typing import Optional, Tuple

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # Triton ships with torch's CUDA wheels only
    triton = None

BACKENDS = ('auto', 'torch', 'triton')
# Rows of up to this many classes are held in one block (read once).
MAX_SINGLE_BLOCK = 16384
# Rows of narrow logits share a program, up to this many elements.
ELEMENTS_PER_PROGRAM = 4096


def triton_available() -> bool:
    """Whether Triton imports."""
    return triton is not None


def _interpreting() -> bool:
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


def check_backend(backend: str, owner: str) -> None:
    """Raise unless ``backend`` is ``'auto'``, ``'torch'`` or ``'triton'``."""
    if backend not in BACKENDS:
        raise ValueError(f"{owner}: backend must be 'auto', 'torch' or "
                         f"'triton', got {backend!r}.")


def resolve_backend(backend: str, logits: torch.Tensor, owner: str) -> str:
    """The backend a call on ``logits`` runs: ``'torch'`` or ``'triton'``.

    ``'auto'`` is Triton for CUDA tensors when Triton imports, else torch.
    An explicit ``'triton'`` without Triton, or on CPU tensors outside the
    interpreter, is an error.
    """
    check_backend(backend, owner)
    if backend == 'auto':
        return ('triton' if logits.is_cuda and triton is not None else
                'torch')
    if backend == 'triton':
        if triton is None:
            raise RuntimeError(
                f"{owner}: backend='triton' needs Triton, which does not "
                "import here; use backend='torch' or 'auto'.")
        if not logits.is_cuda and not _interpreting():
            raise RuntimeError(
                f"{owner}: backend='triton' needs CUDA tensors, got logits on "
                f"{logits.device} (set TRITON_INTERPRET=1 before importing "
                "mmlt to run the kernel on the CPU, slowly); use "
                "backend='auto' to fall back to torch.")
    return backend


def adjusted_cross_entropy(
        logits: torch.Tensor,
        label: torch.Tensor,
        class_shift: Optional[torch.Tensor] = None,
        target_shift: Optional[torch.Tensor] = None,
        smoothing: float = 0.0,
        backend: str = 'torch',
        block_size: Optional[int] = None
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss, gradient and off-target mass (see the module docstring).

    Args:
        logits (torch.Tensor): Detached logits (N, C). The computation is
            float32, or float64 for float64 logits with the torch backend.
        label (torch.Tensor): Checked int64 class indices (N, ) in [0, C).
        class_shift (torch.Tensor, optional): float32 :math:`s` (C, ).
        target_shift (torch.Tensor, optional): float32 :math:`t` (C, ).
        smoothing (float): :math:`\\epsilon \\in [0, 1)`. Defaults to 0.
        backend (str): ``'torch'`` or ``'triton'`` (resolved).
        block_size (int, optional): Triton block width (a power of 2);
            defaults to the row length rounded up to a power of 2, capped at
            ``MAX_SINGLE_BLOCK``. Smaller values test the block loop.

    Returns:
        tuple: The losses (N, ), the gradient (N, C) and the off-target
        masses (N, ), in the computation's dtype.
    """
    if backend == 'triton':
        return _triton_forward(logits, label, class_shift, target_shift,
                               smoothing, block_size)
    return _torch_forward(logits, label, class_shift, target_shift,
                          smoothing)


def _torch_forward(
        logits: torch.Tensor, label: torch.Tensor,
        class_shift: Optional[torch.Tensor],
        target_shift: Optional[torch.Tensor],
        smoothing: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The op with PyTorch operations: one log-softmax, exponentiated in
    place for the gradient."""
    index = label.unsqueeze(1)
    adjusted = logits if logits.dtype == torch.float64 else logits.float()
    if class_shift is not None:
        adjusted = adjusted + class_shift
    if target_shift is not None:
        if adjusted is logits:
            adjusted = adjusted.clone()
        adjusted.scatter_add_(1, index,
                              target_shift.index_select(0, label)[:, None])
    log_probs = torch.log_softmax(adjusted, dim=1)
    del adjusted  # lower peak memory
    num_classes = logits.size(1)
    loss = log_probs.gather(1, index).squeeze(1).neg_()
    if smoothing:
        loss = loss.mul_(1 - smoothing).sub_(
            log_probs.sum(dim=1), alpha=smoothing / num_classes)
    grad = log_probs.exp_().scatter_(1, index, 0.0)  # off-target p~_ij
    produced = grad.sum(dim=1)  # sum_{j != k} p~_ij = 1 - p~_ik
    target_grad = produced.neg()
    if smoothing:
        grad.sub_(smoothing / num_classes)
        target_grad.add_(smoothing * (1 - 1 / num_classes))
    grad.scatter_(1, index, target_grad.unsqueeze(1))
    return loss, grad, produced


if triton is not None:

    @triton.jit
    def _load_shifted_block(row_logits, class_shift_ptr, offsets, row_valid,
                            num_classes, HAS_CLASS_SHIFT: tl.constexpr):
        """float32 logits (ROWS, BLOCK) at ``offsets`` plus the class shift;
        -inf outside the row, and whether each entry is inside."""
        in_row = offsets < num_classes
        valid = row_valid[:, None] & in_row[None, :]
        block = tl.load(
            row_logits[:, None] + offsets[None, :],
            mask=valid,
            other=float('-inf')).to(tl.float32)
        if HAS_CLASS_SHIFT:
            block += tl.load(
                class_shift_ptr + offsets, mask=in_row, other=0.0)[None, :]
        return block, valid

    @triton.jit
    def _adjusted_cross_entropy_kernel(logits_ptr, row_stride, label_ptr,
                                       class_shift_ptr, target_shift_ptr,
                                       loss_ptr, grad_ptr, produced_ptr,
                                       num_samples, num_classes, smoothing,
                                       HAS_CLASS_SHIFT: tl.constexpr,
                                       HAS_TARGET_SHIFT: tl.constexpr,
                                       ROWS: tl.constexpr,
                                       BLOCK: tl.constexpr,
                                       SINGLE_BLOCK: tl.constexpr):
        """ROWS rows per program, BLOCK classes at a time: loss, gradient
        and off-target mass of each row."""
        rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
        row_valid = rows < num_samples
        label = tl.load(label_ptr + rows, mask=row_valid, other=-1)
        in_range = row_valid & (label >= 0) & (label < num_classes)
        row_logits = logits_ptr + rows * row_stride
        row_grad = grad_ptr + rows * num_classes
        target_shift = tl.zeros((ROWS, ), dtype=tl.float32)
        if HAS_TARGET_SHIFT:
            target_shift = tl.load(
                target_shift_ptr + label, mask=in_range, other=0.0)
        uniform = smoothing / num_classes
        cols = tl.arange(0, BLOCK)
        if SINGLE_BLOCK:
            adjusted, valid = _load_shifted_block(row_logits, class_shift_ptr,
                                                  cols, row_valid,
                                                  num_classes,
                                                  HAS_CLASS_SHIFT)
            is_target = cols[None, :] == label[:, None]
            adjusted = tl.where(is_target, adjusted + target_shift[:, None],
                                adjusted)
            # rows past the batch compute a zero row (stored nowhere)
            adjusted = tl.where(row_valid[:, None], adjusted, 0.0)
            row_max = tl.max(adjusted, axis=1)
            shifted = adjusted - row_max[:, None]
            log_norm = tl.log(tl.sum(tl.exp(shifted), axis=1))
            log_probs = shifted - log_norm[:, None]
            probs = tl.exp(log_probs)
            produced = tl.sum(tl.where(is_target | ~valid, 0.0, probs), axis=1)
            target_log_prob = tl.sum(
                tl.where(is_target, log_probs, 0.0), axis=1)
            sum_log_probs = tl.sum(tl.where(valid, log_probs, 0.0), axis=1)
            grad = tl.where(is_target,
                            (smoothing - uniform - produced)[:, None],
                            probs - uniform)
            tl.store(
                row_grad[:, None] + cols[None, :], grad, mask=valid)
        else:
            row_max = tl.full((ROWS, ), float('-inf'), dtype=tl.float32)
            norm = tl.zeros((ROWS, ), dtype=tl.float32)
            sum_adjusted = tl.zeros((ROWS, ), dtype=tl.float32)
            for start in range(0, num_classes, BLOCK):
                offsets = start + cols
                adjusted, valid = _load_shifted_block(
                    row_logits, class_shift_ptr, offsets, row_valid,
                    num_classes, HAS_CLASS_SHIFT)
                adjusted = tl.where(offsets[None, :] == label[:, None],
                                    adjusted + target_shift[:, None],
                                    adjusted)
                adjusted = tl.where(row_valid[:, None], adjusted, 0.0)
                new_max = tl.maximum(row_max, tl.max(adjusted, axis=1))
                norm = norm * tl.exp(row_max - new_max) + tl.sum(
                    tl.exp(adjusted - new_max[:, None]), axis=1)
                row_max = new_max
                sum_adjusted += tl.sum(tl.where(valid, adjusted, 0.0), axis=1)
            log_norm = row_max + tl.log(norm)
            target = tl.load(
                row_logits + label, mask=in_range,
                other=float('nan')).to(tl.float32) + target_shift
            if HAS_CLASS_SHIFT:
                target += tl.load(
                    class_shift_ptr + label, mask=in_range, other=0.0)
            target_log_prob = target - log_norm
            sum_log_probs = sum_adjusted - num_classes * log_norm
            produced = tl.zeros((ROWS, ), dtype=tl.float32)
            for start in range(0, num_classes, BLOCK):
                offsets = start + cols
                adjusted, valid = _load_shifted_block(
                    row_logits, class_shift_ptr, offsets, row_valid,
                    num_classes, HAS_CLASS_SHIFT)
                probs = tl.exp(adjusted - log_norm[:, None])
                is_target = offsets[None, :] == label[:, None]
                produced += tl.sum(
                    tl.where(is_target | ~valid, 0.0, probs), axis=1)
                tl.store(
                    row_grad[:, None] + offsets[None, :],
                    probs - uniform,
                    mask=valid & ~is_target)
            tl.store(
                row_grad + label,
                smoothing - uniform - produced,
                mask=in_range)
        loss = -(1 - smoothing) * target_log_prob - uniform * sum_log_probs
        tl.store(loss_ptr + rows, loss, mask=row_valid)
        tl.store(produced_ptr + rows, produced, mask=row_valid)


def _triton_forward(
        logits: torch.Tensor, label: torch.Tensor,
        class_shift: Optional[torch.Tensor],
        target_shift: Optional[torch.Tensor], smoothing: float,
        block_size: Optional[int]
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Launch the kernel over blocks of ``ROWS`` rows."""
    num_samples, num_classes = logits.shape
    if logits.stride(1) != 1:
        logits = logits.contiguous()
    label = label.contiguous()
    loss = logits.new_empty(num_samples, dtype=torch.float32)
    produced = torch.empty_like(loss)
    grad = logits.new_empty((num_samples, num_classes), dtype=torch.float32)
    if num_samples == 0:
        return loss, grad, produced
    if block_size is None:
        block_size = min(triton.next_power_of_2(num_classes),
                         MAX_SINGLE_BLOCK)
    rows = min(max(ELEMENTS_PER_PROGRAM // block_size, 1),
               triton.next_power_of_2(num_samples))
    elements = rows * block_size
    num_warps = 4 if elements <= 2048 else (8 if elements <= 8192 else 16)
    _adjusted_cross_entropy_kernel[(triton.cdiv(num_samples, rows), )](
        logits,
        logits.stride(0),
        label,
        loss if class_shift is None else class_shift,
        loss if target_shift is None else target_shift,
        loss,
        grad,
        produced,
        num_samples,
        num_classes,
        float(smoothing),
        HAS_CLASS_SHIFT=class_shift is not None,
        HAS_TARGET_SHIFT=target_shift is not None,
        ROWS=rows,
        BLOCK=block_size,
        SINGLE_BLOCK=block_size >= num_classes,
        num_warps=num_warps)
    return loss, grad, produced
