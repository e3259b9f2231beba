import os.path as osp
from types import SimpleNamespace

import pytest
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop
from toy_long_tail_runner import TOY_COUNTS, build_runner

from mmlt.engine.hooks import LossEpochHook
from mmlt.models.losses import LDAMLoss, LogitAdjustLoss


class DRWRecorder(Hook):
    """Records (epoch, drw_active) of the head's loss at every iteration."""

    def __init__(self) -> None:
        self.seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        loss = runner.model.head.loss_module
        self.seen.append((runner.epoch, loss.drw_active))


LDAM = dict(
    type='LDAMLoss', scale=1.0, drw_start_epoch=2, class_counts=TOY_COUNTS)


def test_drw_schedule_survives_resume(tmp_path):
    first = DRWRecorder()
    runner = build_runner(
        tmp_path,
        loss=LDAM,
        custom_hooks=[dict(type='LossEpochHook'), first],
        max_epochs=2,
        name='drw_first')
    runner.train()
    # 10 samples, batch 4: 3 iterations per epoch.
    assert first.seen == [(0, False)] * 3 + [(1, False)] * 3
    assert osp.isfile(osp.join(tmp_path, 'epoch_2.pth'))

    resumed = DRWRecorder()
    runner = build_runner(
        tmp_path,
        loss=LDAM,
        custom_hooks=[dict(type='LossEpochHook'), resumed],
        max_epochs=4,
        name='drw_resumed',
        resume=True,
        load_from=osp.join(tmp_path, 'epoch_2.pth'))
    runner.train()
    assert resumed.seen == [(2, True)] * 3 + [(3, True)] * 3


def test_sets_epoch_on_every_consumer():
    losses = nn.ModuleList([LDAMLoss(drw_start_epoch=5), LDAMLoss()])
    runner = SimpleNamespace(model=losses, epoch=7)
    LossEpochHook().before_train_epoch(runner)
    assert [loss.epoch for loss in losses] == [7, 7]


def test_needs_an_epoch_based_loop():
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    runner = SimpleNamespace(model=LDAMLoss(), train_loop=loop)
    with pytest.raises(ValueError, match='epoch-based train loop'):
        LossEpochHook().before_train(runner)


def test_model_without_consumer(tmp_path):
    runner = build_runner(
        tmp_path,
        loss=dict(type='LogitAdjustLoss', class_counts=TOY_COUNTS),
        custom_hooks=[dict(type='LossEpochHook')],
        name='no_epoch_consumer')
    assert not hasattr(LogitAdjustLoss(), 'set_epoch')
    with pytest.raises(ValueError, match='no module with a `set_epoch`'):
        runner.train()
