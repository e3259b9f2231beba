import re
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmlt.datasets.train_class_counts import train_class_counts
from mmlt.evaluation.shot_groups import (check_shot_thresholds,
                                         shot_group_masks, to_counts_array)
from mmlt.models.losses.gala_loss import GALALoss
from mmlt.models.losses.utils import check_batch_labels

DATA_BATCH = Optional[dict]


@HOOKS.register_module()
class AccumulatedGradientHook(Hook):
    r"""Synchronise and commit the accumulated-gradient statistics of every
    :class:`GALALoss` in the model, and log their diagnostics.

    After every training iteration the hook sums each loss's pending
    per-class increments over all ranks (one float64 all-reduce of shape
    (2, C) per loss: :math:`\theta` and :math:`\psi`) and commits them, so
    every rank applies identical statistics. It does so every iteration,
    also when the optimizer wrapper accumulates gradients over several
    iterations. The losses are found by walking the modules of
    ``runner.model``, so any model wrapper (DDP, FSDP, ...) works. The hook
    switches the losses to ``sync_by_hook`` mode for one iteration at a time,
    from :meth:`before_train_iter` to :meth:`after_train_iter`, so that a
    training run that raises leaves them in stand-alone mode: at once when
    the error is the hook's own (non-finite statistics), else at the next
    ``train()`` of the model, which every mmengine train loop calls (see
    :meth:`GALALoss.train`).

    Every ``interval`` iterations it puts the positive/negative gradient ratio
    :math:`r_j = \theta_j / \psi_j` (accumulated positive gradient over the
    accumulated negative gradient *received* by class :math:`j`) into the
    message hub, averaged over the many / medium / few-shot classes:
    ``train/gala/pos_neg_ratio_{many,medium,few}`` (with several GALA losses,
    ``train/gala{i}/...``). Classes that have received no negative gradient
    yet are left out of the means; an empty group gives ``nan``. The logger
    hook prints them and sends them to the visualizer backends.

    **Faults.** Non-finite increments (nan / inf logits) are never
    committed (see :class:`GALALoss`); the hook raises the error naming the
    iteration where they appeared at its logging interval, before
    validation, before a checkpoint is saved and after training, so no
    training step waits for the device and no checkpoint carries
    statistics of a diverged run. Under AMP (an ``optim_wrapper`` with a
    ``loss_scaler``), an iteration whose optimizer step the loss scaler
    skips (it lowered the scale) commits nothing: the statistics stay as
    they were, and inf / nan in such a step is not an error. Training
    labels are checked on the host against ``num_classes`` before each
    iteration (the loss checks them again on the device without naming the
    value).

    **Resume.** Resuming (``resume=True``) from a checkpoint without GALA
    statistics (e.g. a cross-entropy run) would restart them from zero in
    the middle of a schedule: it is an error unless
    ``resume_without_statistics=True``. Loading weights with ``load_from``
    (a fresh start, e.g. fine-tuning a CE model) is fine.

    Shot groups follow :class:`LongTailAccuracy`: more than ``many_shot_thr``
    training images is many-shot, fewer than ``low_shot_thr`` is few-shot.
    The class counts come from ``train_class_counts``, else from the
    training dataset (:func:`~mmlt.datasets.train_class_counts`: its
    ``metainfo['train_class_counts']``, else its labels).

    Args:
        interval (int): Log the diagnostics every ``interval`` training
            iterations. Defaults to 50.
        train_class_counts (Sequence[int], optional): Training images per
            class. Defaults to None (read from the training dataset).
        many_shot_thr (int): Defaults to 100.
        low_shot_thr (int): Defaults to 20.
        resume_without_statistics (bool): Allow resuming from a checkpoint
            without GALA statistics; they then start from zero. Defaults to
            False.
    """

    priority = 'ABOVE_NORMAL'  # commit before checkpoint and logger hooks

    def __init__(self,
                 interval: int = 50,
                 train_class_counts: Optional[Sequence[int]] = None,
                 many_shot_thr: int = 100,
                 low_shot_thr: int = 20,
                 resume_without_statistics: bool = False) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}.')
        check_shot_thresholds(many_shot_thr, low_shot_thr)
        self.interval = interval
        self.train_class_counts = train_class_counts
        self.many_shot_thr = many_shot_thr
        self.low_shot_thr = low_shot_thr
        self.resume_without_statistics = resume_without_statistics
        self.losses: List[GALALoss] = []
        self.groups: Dict[str, torch.Tensor] = {}
        # GALA losses (module names) whose statistics the last loaded
        # checkpoint lacks, and the loss scale before the current iteration
        self._missing_statistics: List[str] = []
        self._scale_before: Union[torch.Tensor, float, None] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Record which GALA losses the checkpoint has no statistics for
        (checked in :meth:`before_train`, once it is known whether the run
        resumes)."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        keys = {
            re.sub(r'^module\.', '', key)
            for key in checkpoint.get('state_dict', {})
        }
        self._missing_statistics = [
            name for name, module in model.named_modules()
            if isinstance(module, GALALoss) and f'{name}.theta' not in keys
        ]

    def before_train(self, runner) -> None:
        """Find the GALA losses, switch them to hook-synchronised commits and
        build the shot groups."""
        self.losses = [
            m for m in runner.model.modules() if isinstance(m, GALALoss)
        ]
        if not self.losses:
            raise RuntimeError(
                'AccumulatedGradientHook found no GALALoss in the model; '
                'remove the hook or use `loss=dict(type="GALALoss", ...)` in '
                'the head.')
        if (self._missing_statistics and runner.iter > 0
                and not self.resume_without_statistics):
            raise RuntimeError(
                f'Resuming at iteration {runner.iter} from a checkpoint '
                'without GALA statistics (no '
                f'{", ".join(n + ".theta" for n in self._missing_statistics)}'
                ' in its state_dict): the statistics would restart from zero '
                'in the middle of training. Resume from a checkpoint of this '
                'GALA run, start a fresh run with `load_from` instead of '
                '`resume` (e.g. to fine-tune a cross-entropy model), or set '
                '`dict(type="AccumulatedGradientHook", '
                'resume_without_statistics=True)` to start the statistics '
                'from zero.')
        counts = self._train_class_counts(runner, self.losses[0].num_classes)
        for loss in self.losses:
            counts = to_counts_array(
                counts, loss.num_classes,
                f'the logits of GALALoss (num_classes={loss.num_classes})')
        self.groups = shot_group_masks(
            torch.from_numpy(counts), self.many_shot_thr, self.low_shot_thr)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        """Check the batch's labels on the host, note the AMP loss scale and
        switch the losses to hook-synchronised commits for this iteration."""
        for loss in self.losses:
            check_batch_labels(data_batch, loss.num_classes, 'GALALoss')
            loss.sync_by_hook = True
        self._scale_before = self._loss_scale(runner)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Sum the pending increments over ranks and commit them (nothing if
        the loss scaler skipped the step), return the losses to stand-alone
        commits; at the interval check them and log."""
        skip = None
        scale = self._loss_scale(runner)
        if isinstance(scale, torch.Tensor) and self._scale_before is not None:
            # the scaler lowers its scale exactly when it skips a step
            skip = scale < self._scale_before
        for loss in self.losses:
            increments = loss.pop_pending()
            all_reduce(increments, op='sum')
            loss.commit(increments, iteration=runner.iter + 1, skip=skip)
            loss.sync_by_hook = False
        if self.every_n_train_iters(runner, self.interval):
            self._check_finite()
            for i, loss in enumerate(self.losses):
                tag = 'gala' if len(self.losses) == 1 else f'gala{i}'
                for group, ratio in self.ratio_by_group(loss).items():
                    runner.message_hub.update_scalar(
                        f'train/{tag}/pos_neg_ratio_{group}', ratio)

    def before_val(self, runner) -> None:
        """Refuse to validate a diverged run."""
        self._check_finite()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to save a diverged run."""
        self._check_finite()

    def after_train(self, runner) -> None:
        """Raise if a commit met non-finite increments."""
        self._check_finite()

    def _check_finite(self) -> None:
        for loss in self.losses:
            loss.check_finite()

    @staticmethod
    def _loss_scale(runner) -> Union[torch.Tensor, float, None]:
        """The AMP loss scaler's current scale (a device tensor, copied; no
        host synchronisation), its initial scale before the first step, or
        None without an enabled loss scaler."""
        scaler = getattr(
            getattr(runner, 'optim_wrapper', None), 'loss_scaler', None)
        if scaler is None or not scaler.is_enabled():
            return None
        scale = getattr(scaler, '_scale', None)
        if scale is None:
            return float(scaler._init_scale)
        return scale.clone()

    def ratio_by_group(self, loss: GALALoss) -> Dict[str, float]:
        """Mean of :math:`\\theta_j / \\psi_j` over each shot group.

        Args:
            loss (GALALoss): The loss whose statistics are summarised.

        Returns:
            dict[str, float]: ``many``, ``medium`` and ``few``.
        """
        received = loss.negative_received.cpu()
        valid = received > 0
        ratio = loss.theta.cpu() / received.where(valid,
                                                  torch.ones_like(received))
        out = {}
        for group, in_group in self.groups.items():
            selected = ratio[in_group & valid]
            out[group] = float(
                selected.mean()) if selected.numel() else float('nan')
        return out

    def _train_class_counts(self, runner, num_classes: int) -> np.ndarray:
        """Training images per class: the ``train_class_counts`` argument,
        else those of the training dataset (:func:`train_class_counts`)."""
        if self.train_class_counts is not None:
            return np.asarray(self.train_class_counts)
        return train_class_counts(runner.train_dataloader.dataset,
                                  num_classes, 'AccumulatedGradientHook')
