from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dist import get_world_size
from mmpretrain.registry import MODELS

from mmlt.ops import (adjusted_cross_entropy, check_backend,
                      resolve_backend)
from .utils import (check_cls_score, check_labels, check_num_classes,
                    check_number, check_reduction, check_sample_weight,
                    reduce_with_gradient, resolve_reduction)

GALA_VARIANTS = ('paper', 'released_code')
# GALALoss's persistent statistics: theta (= phi) and negative_received (psi)
STATISTICS = ('theta', 'negative_received')


def reads_without_sync(tensor: torch.Tensor) -> bool:
    """Whether reading ``tensor`` on the host costs no device
    synchronisation (CPU tensors)."""
    return tensor.device.type == 'cpu'


@MODELS.register_module()
class GALALoss(nn.Module):
    r"""Gradient-Aware Logit Adjustment (GALA) loss.

    `Gradient-Aware Logit Adjustment Loss for Long-tailed Classifier
    (ICASSP 2024) <https://arxiv.org/abs/2403.09036>`_.

    For a sample with label :math:`k` and logits :math:`z`, the paper form
    (``variant='paper'``) trains softmax cross-entropy on

    .. math::
        \tilde z_j = z_j + \lambda_1 \log(\theta_j + \epsilon)
                     - \lambda_2 \log(\phi_k + \epsilon) \quad (j \ne k),
        \qquad \tilde z_k = z_k,

    where, with :math:`\tilde p = \mathrm{softmax}(\tilde z)` and the sums
    running over all *earlier* training samples :math:`i` of the class,

    - :math:`\theta_j = \sum_{i: y_i = j} (1 - \tilde p_{ij})` is the
      accumulated positive gradient :math:`|\partial L_i/\partial \tilde
      z_{ij}|` of class :math:`j`;
    - :math:`\phi_k = \sum_{i: y_i = k} \sum_{j \ne k} \tilde p_{ij}` is the
      accumulated negative gradient produced by class :math:`k`.

    The sums are per-sample gradient magnitudes of the unweighted
    cross-entropy, so they do not depend on the batch size, the loss
    reduction, ``weight``, ``loss_weight``, AMP loss scaling or the number of
    GPUs. They start at 0 and are accumulated in float64; the loss itself is
    computed in float32 (also under autocast), and each sample's magnitude
    is a float32 sum over classes of its probabilities (relative error about
    1e-7). One log-softmax serves the loss, its gradient (computed in the
    forward pass, so second derivatives are not available) and the
    statistics. A third statistic,
    :math:`\psi_j = \sum_{i: y_i \ne j} \tilde p_{ij}` (negative gradient
    *received* by class :math:`j`), is not used by the loss; it feeds the
    positive/negative gradient ratio :math:`\theta_j / \psi_j` that
    :class:`AccumulatedGradientHook` logs. For hard-label softmax
    cross-entropy :math:`1 - \tilde p_{ik} = \sum_{j \ne k} \tilde p_{ij}`,
    so :math:`\phi = \theta` by construction: the loss stores, all-reduces
    and checkpoints one statistic, the persistent buffer ``theta`` (``phi``
    is the same tensor, under the paper's name), beside ``negative_received``
    (:math:`\psi`); both have shape (C, ), so checkpoints carry them and a
    resumed run continues with the same adjustment. Checkpoints that also
    carry a ``phi`` buffer (mmlt before it stored one statistic) load; their
    ``phi`` must equal ``theta``.

    **The statistics' path**, from config to checkpoint:

    1. the config puts ``GALALoss`` in the head and
       :class:`AccumulatedGradientHook` in ``custom_hooks``
       (``configs/_base_/gala.py`` has both);
    2. each training forward computes the batch's per-class increments
       (:meth:`forward`) and, while the hook runs the iteration, keeps them
       pending;
    3. after the iteration the hook sums them over ranks and calls
       :meth:`commit`, which adds them to ``theta`` / ``negative_received``;
    4. the buffers are the model's state: checkpoints save and resume them.

    **Committing statistics.** The adjustment for a batch only uses
    statistics of earlier batches. Each training-mode forward computes the
    batch's per-class increments (detached, vectorised) as *pending*
    increments; they enter the statistics on :meth:`commit`:

    - with :class:`AccumulatedGradientHook` (``sync_by_hook=True``, set by the
      hook for each training iteration; :meth:`train` resets it), the hook
      sums the pending increments over all ranks after every
      training iteration and commits them, so all ranks apply identical
      statistics. With gradient accumulation (``accumulative_counts``) the
      commit still happens every iteration, so every forward sees the
      statistics of all earlier forwards, exactly as without accumulation.
    - without the hook (``sync_by_hook=False``, the default), each forward
      commits its own increments right after computing the loss. This is
      correct for single-process training; under distributed training it
      would let ranks diverge, so it is an error there.

    **Non-finite logits** (a diverging learning rate, an fp16 overflow)
    give non-finite increments. They are never committed: the statistics
    keep their last finite values and the loss records the first training
    iteration (with the hook, ``runner.iter + 1``; stand-alone, the count of
    training forwards) whose increments were non-finite.
    :meth:`check_finite` raises an error naming it. Stand-alone on the CPU
    the loss calls it after every commit; on CUDA it is called when the
    loss switches between training and evaluation mode, and
    :class:`AccumulatedGradientHook` calls it at its logging interval,
    before validation, before saving a checkpoint and after training (so no
    training step waits for the device). A step that the AMP loss scaler
    skips (inf / nan gradients) is passed to :meth:`commit` as ``skip`` by
    the hook: its increments are dropped and nothing is recorded.

    **Backends.** ``backend='torch'`` computes the loss with PyTorch
    operations; ``'triton'`` with one Triton kernel that reads each row of
    logits once and writes the loss, its gradient and the per-sample
    statistic (see :mod:`mmlt.ops.fused_cross_entropy`); ``'auto'`` (the
    default) is Triton for CUDA tensors when it imports, torch otherwise.
    They agree to float32 rounding.

    **The authors' released code** (``variant='released_code'``) differs from
    the paper: it adds :math:`\lambda_1 \log(\theta_j + 10^{-3})` to *every*
    logit, the target included, and subtracts a per-row constant. The
    :math:`\phi` term is then the same for all logits of a row and cancels, so
    the loss is logit-adjusted cross-entropy with prior :math:`\theta`
    (:math:`\lambda_2` has no effect). Their code also keeps a C x C matrix
    and adds the running statistics into themselves each step, so early
    gradients are counted many times; this bug is not copied, the
    ``released_code`` variant uses the same per-sample sums as the paper
    form. Use it to reproduce their README numbers. As :math:`\phi =
    \theta`, with :math:`\lambda_1 = \lambda_2` both variants coincide.

    Args:
        num_classes (int): Number of classes C; mmlt's heads fill in
            theirs when a config leaves it out.
        lambda1 (float): Weight :math:`\lambda_1 \ge 0` of the
            positive-gradient term. Defaults to 1.0 (1.2 in the authors'
            CIFAR-100-LT IF 100 setting).
        lambda2 (float): Weight :math:`\lambda_2 \ge 0` of the
            negative-gradient term. Defaults to 1.0 (0.9 in the authors'
            CIFAR-100-LT IF 100 setting).
        eps (float): Added inside the logarithms, finite and > 0. Defaults
            to 1e-3, as in the authors' code.
        momentum (float, optional): If given, the statistics are an
            exponential moving average over commits,
            :math:`s \leftarrow m s + (1 - m) \Delta s`, where
            :math:`\Delta s` is one iteration's increment summed over all
            ranks (so their scale is that of one global batch). Defaults to
            None: the plain running sum.
        variant (str): ``'paper'`` or ``'released_code'`` (see above).
            Defaults to ``'paper'``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        backend (str): ``'auto'``, ``'torch'`` or ``'triton'`` (see
            above). Defaults to ``'auto'``.
    """

    def __init__(self,
                 num_classes: int,
                 lambda1: float = 1.0,
                 lambda2: float = 1.0,
                 eps: float = 1e-3,
                 momentum: Optional[float] = None,
                 variant: str = 'paper',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 backend: str = 'auto') -> None:
        super().__init__()
        check_num_classes(num_classes, 'GALALoss')
        lambda1 = check_number(lambda1, 'lambda1', 'GALALoss')
        lambda2 = check_number(lambda2, 'lambda2', 'GALALoss')
        eps = check_number(eps, 'eps', 'GALALoss', positive=True)
        if momentum is not None and (isinstance(momentum, bool)
                                     or not isinstance(momentum, (int, float))
                                     or not 0 <= momentum < 1):
            raise ValueError(
                f'GALALoss: momentum must be None or a number in [0, 1), got '
                f'{momentum!r}.')
        check_backend(backend, 'GALALoss')
        if variant not in GALA_VARIANTS:
            raise ValueError(f'variant must be one of {GALA_VARIANTS}, got '
                             f'{variant!r}.')
        check_reduction(reduction, 'GALALoss')
        self.num_classes = num_classes
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.eps = eps
        self.momentum = momentum
        self.variant = variant
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.backend = backend
        self.sync_by_hook = False

        for name in STATISTICS:
            self.register_buffer(name,
                                 torch.zeros(num_classes, dtype=torch.float64))
        # (2, C) increments of theta and negative_received of the forwards
        # since the last commit; not buffers, so DDP's buffer broadcast and
        # checkpoints never touch them.
        self._pending: List[torch.Tensor] = []
        # training forwards so far, and (on the statistics' device) the first
        # iteration whose increments were non-finite, -1 for none
        self._forwards = 0
        self._first_nonfinite: Optional[torch.Tensor] = None

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, lambda1={self.lambda1}, '
                f'lambda2={self.lambda2}, eps={self.eps}, '
                f'momentum={self.momentum}, variant={self.variant!r}, '
                f'backend={self.backend!r}')

    @property
    def phi(self) -> torch.Tensor:
        """The accumulated negative gradient produced per class,
        :math:`\\phi`: ``theta`` itself (equal by construction)."""
        return self.theta

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """Load, accepting (and dropping) the ``phi`` buffer of
        checkpoints written when it was stored beside ``theta``."""
        phi = state_dict.pop(prefix + 'phi', None)
        theta = state_dict.get(prefix + 'theta')
        if phi is not None and theta is not None and not torch.equal(
                torch.as_tensor(phi), torch.as_tensor(theta)):
            raise ValueError(
                f'GALALoss: the checkpoint\'s {prefix}phi differs from its '
                f'{prefix}theta; expected them equal (phi = theta for '
                'hard-label cross-entropy, as mmlt accumulated them).')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Compute the loss and, in training mode, the statistics increments.

        Args:
            cls_score (torch.Tensor): Logits, shape (N, C).
            label (torch.Tensor): Integer class indices, shape (N, ).
            weight (torch.Tensor, optional): Sample-wise loss weight, shape
                (N, ). Scales the loss only, not the statistics.
            avg_factor (float, optional): Average factor of the mean
                reduction. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            torch.Tensor: The loss, float32.
        """
        reduction = resolve_reduction(self.reduction, reduction_override,
                                      'GALALoss')
        self._check_inputs(cls_score, label, weight)
        if self.training and not self.sync_by_hook and get_world_size() > 1:
            raise RuntimeError(
                'GALALoss in distributed training needs '
                '`custom_hooks=[dict(type="AccumulatedGradientHook")]` to sum '
                'its statistics over all ranks; without it every rank would '
                'apply different logit adjustments.')

        label = label.long()
        logits = cls_score.detach()
        if logits.dtype == torch.float64:
            logits = logits.float()
        loss, grad, produced = self._adjusted_cross_entropy(logits, label)
        if self.training:
            self._add_increments(label, produced, grad)
        return reduce_with_gradient(cls_score, loss, grad, weight, reduction,
                                    avg_factor, self.loss_weight)

    def logit_adjustment(self, label: torch.Tensor) -> torch.Tensor:
        """The float64 term added to the logits of samples with ``label``.

        Args:
            label (torch.Tensor): Class indices, shape (N, ).

        Returns:
            torch.Tensor: Shape (N, C): :math:`\\lambda_1 \\log(\\theta_j +
            \\epsilon) - \\lambda_2 \\log(\\phi_k + \\epsilon)` off the
            target and 0 on it (paper), or :math:`\\lambda_1 \\log(\\theta_j
            + \\epsilon)` everywhere (released code).
        """
        positive = self.lambda1 * torch.log(self.theta + self.eps)
        adjustment = positive.expand(label.numel(), -1)
        if self.variant == 'released_code':
            return adjustment
        negative = self.lambda2 * torch.log(self.phi + self.eps)
        adjustment = adjustment - negative[label, None]
        return adjustment.scatter(1, label[:, None], 0.0)

    def pop_pending(self) -> torch.Tensor:
        """Take the increments gathered since the last call and clear them.

        Returns:
            torch.Tensor: Shape (2, C), float64: the increments of ``theta``
            and ``negative_received`` (zeros if none).
        """
        if not self._pending:
            return self.theta.new_zeros(len(STATISTICS), self.num_classes)
        total = self._pending[0]
        for increments in self._pending[1:]:
            total = total + increments
        self._pending.clear()
        return total

    @torch.no_grad()
    def commit(self,
               increments: torch.Tensor,
               iteration: Optional[int] = None,
               skip: Optional[torch.Tensor] = None) -> None:
        """Add (or, with ``momentum``, blend) finite ``increments`` into the
        statistics; record non-finite ones instead (see
        :meth:`check_finite`). No host synchronisation.

        Args:
            increments (torch.Tensor): Shape (2, C): increments of
                ``theta`` and ``negative_received``, e.g. from
                :meth:`pop_pending`, summed over ranks.
            iteration (int, optional): The 1-based training iteration the
                increments belong to, recorded if they are non-finite.
                Defaults to the count of training forwards.
            skip (torch.Tensor, optional): Boolean scalar: drop the
                increments without recording anything (a step the AMP loss
                scaler skipped). Defaults to None (keep them).
        """
        shape = (len(STATISTICS), self.num_classes)
        if increments.shape != shape:
            raise ValueError(
                f'GALALoss.commit expects increments of shape {shape} '
                f'(theta, negative_received), got '
                f'{tuple(increments.shape)}.')
        increments = increments.to(self.theta)
        finite = torch.isfinite(increments).all()
        step = self._forwards if iteration is None else iteration
        flag = self._nonfinite_flag()
        keep = None
        if reads_without_sync(increments):
            # decide on the host: it costs no device synchronisation
            if skip is not None and bool(skip):
                return
            if not bool(finite):
                if int(flag) < 0:
                    flag.fill_(step)
                return
        else:
            keep = finite if skip is None else finite & ~skip
            bad = ~finite if skip is None else ~finite & ~skip
            flag.copy_(torch.where(bad & (flag < 0), step, flag))
            increments = torch.where(keep, increments, 0.0)
        for stat, increment in zip((self.theta, self.negative_received),
                                   increments.unbind()):
            if self.momentum is None:
                stat.add_(increment)
            elif keep is None:
                stat.mul_(self.momentum).add_(
                    increment, alpha=1 - self.momentum)
            else:
                blended = stat * self.momentum + increment * (1 -
                                                              self.momentum)
                stat.copy_(torch.where(keep, blended, stat))

    def _nonfinite_flag(self) -> torch.Tensor:
        """The int64 scalar on the statistics' device holding the first
        iteration with non-finite increments (-1 for none)."""
        if (self._first_nonfinite is None
                or self._first_nonfinite.device != self.theta.device):
            self._first_nonfinite = torch.full((),
                                               -1,
                                               dtype=torch.int64,
                                               device=self.theta.device)
        return self._first_nonfinite

    def check_finite(self) -> None:
        """Raise if a commit met non-finite increments (a host
        synchronisation on CUDA: call it at intervals, not every step).

        Raises:
            FloatingPointError: Naming the first such iteration.
        """
        if self._first_nonfinite is None:
            return
        iteration = int(self._first_nonfinite)
        if iteration >= 0:
            raise FloatingPointError(
                f'GALALoss: the logits became non-finite (nan or inf) at '
                f'training iteration {iteration}, so the loss is not finite '
                'and training has diverged. That iteration\'s statistics '
                'increments were not added: the statistics are those of '
                'the iterations before it. Lower the learning '
                'rate (or use a loss scaler under fp16 AMP) and resume from '
                'a checkpoint saved before that iteration.')

    def train(self, mode: bool = True) -> 'GALALoss':
        """Switch the mode and return to stand-alone commits, dropping the
        pending increments of an iteration that never finished (a training
        run that raised between the hook's ``before_train_iter`` and
        ``after_train_iter``); then raise if non-finite increments were met
        (:meth:`check_finite`)."""
        self.sync_by_hook = False
        self._pending.clear()
        self.check_finite()
        return super().train(mode)

    def _adjusted_cross_entropy(
        self, logits: torch.Tensor, label: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Per-sample cross-entropy on the adjusted logits, its gradient
        with respect to the logits and the per-sample statistic.

        The paper form is computed as :math:`z_j + \lambda_1 \log(\theta_j
        + \epsilon)` for all :math:`j`, plus :math:`\lambda_2 \log(\phi_k +
        \epsilon) - \lambda_1 \log(\theta_k + \epsilon)` at the target
        :math:`k`: :meth:`logit_adjustment` plus the per-row constant
        :math:`\lambda_2 \log(\phi_k + \epsilon)`, which changes neither the
        softmax nor the loss. One log-softmax gives the loss :math:`-\log
        \tilde p_{ik}` (exact also where :math:`\tilde p_{ik}` underflows)
        and the gradient :math:`\tilde p_i - e_{y_i}`; its target entry
        :math:`\tilde p_{ik} - 1 = -\sum_{j \ne k} \tilde p_{ij}` is summed
        from the off-target probabilities (no cancellation), and that float32
        sum is the sample's increment of :math:`\theta_k` and :math:`\phi_k`
        (a per-sample sum, so splitting a batch over ranks does not change
        it). The computation is float32 whatever the logits' dtype, so
        autocast changes none of it.

        Args:
            logits (torch.Tensor): Detached logits (N, C), float32, float16
                or bfloat16.
            label (torch.Tensor): Checked int64 class indices (N, ).

        Returns:
            tuple: The losses (N, ), their gradient (N, C) and the
            off-target masses (N, ), float32.
        """
        log_theta = self.theta.add(self.eps).log_()
        class_shift = log_theta.mul(self.lambda1).float()
        target_shift = None
        if self.variant == 'paper':
            # lambda2 log(phi_k + eps) - lambda1 log(theta_k + eps)
            target_shift = log_theta.mul(self.lambda2).sub_(
                log_theta, alpha=self.lambda1).float()
        backend = resolve_backend(self.backend, logits, 'GALALoss')
        return adjusted_cross_entropy(logits, label, class_shift,
                                      target_shift, 0.0, backend)

    @torch.no_grad()
    def _add_increments(self, label: torch.Tensor, produced: torch.Tensor,
                        grad: torch.Tensor) -> None:
        """Commit one training forward's increments (stand-alone) or keep
        them pending (``sync_by_hook``).

        Args:
            label (torch.Tensor): Class indices (N, ).
            produced (torch.Tensor): Per-sample float32 increments of
                ``theta`` (= ``phi``) (N, ).
            grad (torch.Tensor): The loss's float32 gradient (N, C), whose
                off-target entries are the probabilities received.
        """
        self._forwards += 1
        produced = produced.to(self.theta.dtype)
        by_class = self.theta.new_zeros(self.num_classes).index_add_(
            0, label, produced)
        # column sums of the off-target probabilities: the target entries
        # of grad are -produced
        received = grad.sum(dim=0).to(by_class.dtype).index_add_(
            0, label, produced)
        increments = torch.stack([by_class, received])
        if self.sync_by_hook:
            self._pending.append(increments)
            return
        self.commit(increments)
        if reads_without_sync(increments):
            self.check_finite()

    def _check_inputs(self, cls_score: torch.Tensor, label: torch.Tensor,
                      weight: Optional[torch.Tensor]) -> None:
        """Raise a ValueError naming the bad input."""
        check_cls_score(cls_score, 'GALALoss', self.num_classes,
                        f'was built with num_classes={self.num_classes}')
        check_sample_weight(weight, cls_score.size(0), 'GALALoss')
        check_labels(
            label,
            cls_score,
            'GALALoss',
            hard_label_reason='Soft targets are not supported: the '
            'accumulated gradients are defined for hard labels. ')
