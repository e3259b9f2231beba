import os
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmpretrain.registry import DATASETS
from mmpretrain.structures import DataSample
from torch.distributed.elastic.utils.distributed import get_free_port

from mmlt.engine.hooks import AccumulatedGradientHook
from mmlt.models.losses import GALALoss
from mmlt.models.losses import gala_loss as gala_module
from toy_long_tail_runner import TOY_COUNTS, ToyLongTailDataset, build_runner

# many x2 (> 100), medium x2 (20..100, both edges), few x2 (< 20)
COUNTS = (300, 101, 100, 20, 19, 4)


class Wrapper(nn.Module):
    """Stands in for any model wrapper: the loss sits a few levels deep."""

    def __init__(self, loss):
        super().__init__()
        self.module = nn.ModuleDict(dict(head=nn.ModuleDict(dict(loss=loss))))


def make_runner(model, name, counts=COUNTS, it=0):
    dataset = SimpleNamespace(metainfo=dict(train_class_counts=counts))
    return SimpleNamespace(
        model=model,
        train_dataloader=SimpleNamespace(dataset=dataset),
        message_hub=MessageHub.get_instance(name),
        iter=it)


def test_commit_happens_in_after_train_iter():
    torch.manual_seed(0)
    loss = GALALoss(6).train()
    reference = GALALoss(6).train()  # stand-alone commits
    hook = AccumulatedGradientHook(interval=2)
    runner = make_runner(Wrapper(loss), 'gala_hook_commit')
    hook.before_train(runner)
    assert not loss.sync_by_hook  # claimed one iteration at a time

    for it in range(3):
        runner.iter = it
        hook.before_train_iter(runner, it)
        assert loss.sync_by_hook
        logits = torch.randn(8, 6)
        labels = torch.randint(0, 6, (8, ))
        # two forwards in one iteration (e.g. two losses calls) both use the
        # statistics committed before the iteration
        first = loss(logits[:4], labels[:4])
        before = loss.theta.clone()
        second = loss(logits[4:], labels[4:])
        assert torch.equal(loss.theta, before)
        expected = reference(logits, labels, reduction_override='none')
        torch.testing.assert_close(
            torch.stack([first, second]),
            torch.stack([expected[:4].mean(), expected[4:].mean()]))
        hook.after_train_iter(runner, it)
        assert not loss.sync_by_hook
        torch.testing.assert_close(loss.theta, reference.theta)
        torch.testing.assert_close(loss.negative_received,
                                   reference.negative_received)
    hook.after_train(runner)
    assert not loss.sync_by_hook


def test_logs_ratio_by_shot_group():
    loss = GALALoss(6)
    loss.theta.copy_(torch.tensor([6.0, 4.0, 3.0, 1.0, 1.0, 0.5]))
    loss.negative_received.copy_(torch.tensor([2.0, 4.0, 6.0, 4.0, 4.0, 0.0]))
    hook = AccumulatedGradientHook(interval=2)
    runner = make_runner(Wrapper(loss), 'gala_hook_log', it=1)
    hook.before_train(runner)
    hook.after_train_iter(runner, 1)  # iter 2: logs
    scalars = runner.message_hub.log_scalars
    assert scalars['train/gala/pos_neg_ratio_many'].current() == \
        pytest.approx((3.0 + 1.0) / 2)
    # counts 100 and 20: both edges of the medium group
    assert scalars['train/gala/pos_neg_ratio_medium'].current() == \
        pytest.approx((0.5 + 0.25) / 2)
    # class 5 has received no negative gradient yet: left out of the mean
    assert scalars['train/gala/pos_neg_ratio_few'].current() == \
        pytest.approx(0.25)

    runner2 = make_runner(Wrapper(GALALoss(6)), 'gala_hook_nolog', it=2)
    hook.before_train(runner2)
    hook.after_train_iter(runner2, 2)  # iter 3: no log
    assert 'train/gala/pos_neg_ratio_many' not in \
        runner2.message_hub.log_scalars


def test_class_counts_fallback_and_errors():
    hook = AccumulatedGradientHook()
    dataset = SimpleNamespace(metainfo={}, get_gt_labels=lambda: [0, 0, 2])
    runner = SimpleNamespace(
        model=Wrapper(GALALoss(4)),
        train_dataloader=SimpleNamespace(dataset=dataset))
    hook.before_train(runner)
    assert hook.groups['few'].tolist() == [True] * 4

    with pytest.raises(
            ValueError, match=r'train_class_counts has 6 entries but the '
            r'logits of GALALoss \(num_classes=5\) have 5 classes'):
        hook.before_train(make_runner(Wrapper(GALALoss(5)), 'gala_bad'))
    # validated as every metric's counts are, not cast
    for bad in ((300, 101, 100, 20, 19.5, 4), (300, 101, 100, 20, -1, 4)):
        with pytest.raises(ValueError, match='non-negative integers'):
            hook.before_train(
                make_runner(Wrapper(GALALoss(6)), 'gala_bad', counts=bad))
    with pytest.raises(RuntimeError, match='found no GALALoss'):
        hook.before_train(make_runner(nn.Linear(2, 2), 'gala_none'))
    with pytest.raises(ValueError, match='interval'):
        AccumulatedGradientHook(interval=0)


def _worker(rank, world_size, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch_dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)
        batches = [(torch.randn(8, 5), torch.randint(0, 5, (8, )))
                   for _ in range(3)]
        loss = GALALoss(5, 1.2, 0.9).train()
        hook = AccumulatedGradientHook()
        runner = make_runner(
            Wrapper(loss), f'gala_dist_{rank}', counts=(200, 90, 40, 10, 3))
        hook.before_train(runner)
        for it, (logits, labels) in enumerate(batches):
            runner.iter = it
            half = slice(rank * 4, rank * 4 + 4)  # each rank: half a batch
            hook.before_train_iter(runner, it)
            loss(logits[half], labels[half])
            hook.after_train_iter(runner, it)
        torch.save(
            dict(
                theta=loss.theta, received=loss.negative_received),
            os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        torch_dist.destroy_process_group()


def test_statistics_are_summed_over_ranks(tmp_path):
    mp.spawn(
        _worker,
        args=(2, get_free_port(), str(tmp_path)),
        nprocs=2,
        join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pth') for r in range(2)]
    for key in ('theta', 'received'):
        assert torch.equal(ranks[0][key], ranks[1][key])

    # a single process seeing the whole global batches
    torch.manual_seed(0)
    batches = [(torch.randn(8, 5), torch.randint(0, 5, (8, )))
               for _ in range(3)]
    single = GALALoss(5, 1.2, 0.9).train()
    for logits, labels in batches:
        single(logits, labels)
    torch.testing.assert_close(
        ranks[0]['theta'], single.theta, rtol=1e-12, atol=1e-12)
    # theta (= phi) adds per-sample sums, so splitting the batch over ranks
    # changes them only by float64 rounding; negative_received adds a float32
    # sum over the samples of each rank
    torch.testing.assert_close(
        ranks[0]['received'], single.negative_received, rtol=1e-6, atol=0)


@DATASETS.register_module(force=True)
class ToyNaNFromSecondBatch(ToyLongTailDataset):
    """The toy data with nan features from sample 4 on: with batches of 4
    the logits become non-finite at iteration 2."""

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        if index >= 4:
            item['inputs'] = torch.full_like(item['inputs'], float('nan'))
        return item


GALA_LOSS = dict(type='GALALoss', num_classes=len(TOY_COUNTS))


def test_run_with_non_finite_logits_fails_naming_the_iteration(tmp_path):
    """A run whose logits turn nan at iteration 2 stops before saving a
    checkpoint with the error naming iteration 2; theta holds iteration 1's
    increments only."""
    runner = build_runner(
        tmp_path,
        GALA_LOSS,
        [dict(type='AccumulatedGradientHook', interval=100)],
        name='gala_nan',
        dataset=dict(type='ToyNaNFromSecondBatch'))
    with pytest.raises(
            FloatingPointError,
            match='non-finite .* at training iteration 2,'):
        runner.train()
    loss = runner.model.head.loss_module
    assert torch.isfinite(loss.theta).all()
    # one commit of 4 samples: each adds its off-target mass (0, 1)
    assert 0 < loss.theta.sum() < 4
    assert not list(tmp_path.glob('**/*.pth'))
    # the failed run leaves the loss in stand-alone mode
    assert not loss.sync_by_hook


class RaiseAfterTheLoss(Hook):
    """Raises in the first ``after_train_iter``, before
    AccumulatedGradientHook collects the iteration's increments."""

    priority = 'HIGHEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        raise RuntimeError('failed inside the iteration')


def test_run_that_raises_inside_an_iteration_leaves_no_hook_mode(tmp_path):
    """An error between the loss's forward and the hook's commit leaves the
    claim and the iteration's pending increments; the model's next
    ``train()`` (every train loop calls it) drops both, and the loss commits
    stand-alone again."""
    runner = build_runner(
        tmp_path,
        GALA_LOSS,
        [dict(type='AccumulatedGradientHook'),
         RaiseAfterTheLoss()],
        name='gala_raise_in_iter')
    with pytest.raises(RuntimeError, match='failed inside the iteration'):
        runner.train()
    loss = runner.model.head.loss_module
    assert loss.sync_by_hook and loss.theta.sum() == 0
    runner.model.train()
    assert not loss.sync_by_hook
    assert loss.pop_pending().abs().sum() == 0
    logits = torch.randn(4, 3)
    loss(logits, torch.tensor([0, 1, 2, 0]))  # commits at once
    reference = GALALoss(3).train()
    reference(logits, torch.tensor([0, 1, 2, 0]))
    torch.testing.assert_close(loss.theta, reference.theta)


def test_non_finite_error_at_interval_before_val_and_checkpoint():
    loss = GALALoss(6).train()
    hook = AccumulatedGradientHook(interval=3)
    runner = make_runner(Wrapper(loss), 'gala_hook_nan')
    hook.before_train(runner)
    logits = torch.randn(4, 6)
    logits[0, 0] = float('inf')
    runner.iter = 0
    hook.before_train_iter(runner, 0)
    loss(logits, torch.tensor([0, 1, 2, 3]))
    hook.after_train_iter(runner, 0)  # no check before the interval
    assert loss.theta.sum() == 0
    for check in (lambda: hook.before_val(runner),
                  lambda: hook.before_save_checkpoint(runner, {})):
        with pytest.raises(FloatingPointError, match='iteration 1,'):
            check()
    runner.iter = 2
    with pytest.raises(FloatingPointError, match='iteration 1,'):
        hook.after_train_iter(runner, 2)  # iteration 3: the interval
    with pytest.raises(FloatingPointError, match='iteration 1,'):
        hook.after_train(runner)
    assert not loss.sync_by_hook


@pytest.mark.parametrize('device_path', [False, True])
def test_step_skipped_by_the_loss_scaler_commits_nothing(
        monkeypatch, device_path):
    """A real (CPU) GradScaler skips the step whose loss is inf; the
    statistics stay untouched and it is no error. The next, finite step commits. Also
    with the device-side commit decisions CUDA uses."""
    if device_path:
        monkeypatch.setattr(gala_module, 'reads_without_sync',
                            lambda tensor: False)
    torch.manual_seed(1)
    fc = nn.Linear(3, 6)
    loss = GALALoss(6).train()
    model = Wrapper(loss)
    model.fc = fc
    scaler = torch.amp.GradScaler('cpu', init_scale=2.0**4)
    optimizer = torch.optim.SGD(fc.parameters(), lr=0.1)
    runner = make_runner(model, 'gala_hook_amp')
    runner.optim_wrapper = SimpleNamespace(loss_scaler=scaler)
    hook = AccumulatedGradientHook(interval=1)
    hook.before_train(runner)
    labels = torch.tensor([0, 1, 2, 3])
    for it, features in enumerate(
        (torch.full((4, 3), float('inf')), torch.randn(4, 3))):
        runner.iter = it
        hook.before_train_iter(runner, it)
        before = fc.weight.detach().clone()
        scaler.scale(loss(fc(features), labels)).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
        hook.after_train_iter(runner, it)
        if it == 0:
            assert torch.equal(fc.weight, before)  # the scaler skipped
            assert scaler.get_scale() == 2.0**3
            assert loss.theta.sum() == 0
            assert loss.negative_received.sum() == 0
        else:
            assert not torch.equal(fc.weight, before)
            assert loss.theta.sum() > 0
    hook.after_train(runner)  # no error


def test_labels_checked_on_the_host():
    hook = AccumulatedGradientHook()
    runner = make_runner(Wrapper(GALALoss(6)), 'gala_hook_labels')
    hook.before_train(runner)
    samples = [
        DataSample(metainfo=dict(img_path=f'img{i}.png')).set_gt_label(label)
        for i, label in enumerate((0, 5, 6))
    ]
    hook.before_train_iter(runner, 0, dict(data_samples=samples[:2]))
    with pytest.raises(
            ValueError,
            match=r'GALALoss: training label 6 of sample img2.png is '
            r'outside the class range \[0, 6\) \(num_classes=6\)'):
        hook.before_train_iter(runner, 0, dict(data_samples=samples))


@pytest.fixture(scope='module')
def ce_checkpoint(tmp_path_factory):
    """A one-epoch cross-entropy run of the toy model: a checkpoint without
    GALA statistics."""
    work_dir = tmp_path_factory.mktemp('ce')
    build_runner(
        work_dir, dict(type='CrossEntropyLoss'), [], name='gala_ce').train()
    return str(work_dir / 'epoch_1.pth')


def test_resume_from_a_checkpoint_without_statistics_is_refused(
        tmp_path, ce_checkpoint):
    runner = build_runner(
        tmp_path / 'resume',
        GALA_LOSS, [dict(type='AccumulatedGradientHook')],
        max_epochs=2,
        name='gala_resume_ce',
        load_from=ce_checkpoint,
        resume=True)
    with pytest.raises(
            RuntimeError,
            match=r'Resuming at iteration 3 from a checkpoint without GALA '
            r'statistics \(no head.loss_module.theta .*'
            r'resume_without_statistics=True'):
        runner.train()


def test_resume_without_statistics_on_request_and_load_from(
        tmp_path, ce_checkpoint):
    for name, resume, hook in (
        ('asked', True, dict(resume_without_statistics=True)),
        ('load_from', False, {})):
        runner = build_runner(
            tmp_path / name,
            GALA_LOSS, [dict(type='AccumulatedGradientHook', **hook)],
            max_epochs=2,
            name=f'gala_resume_{name}',
            load_from=ce_checkpoint,
            resume=resume)
        runner.train()
        assert runner.iter == 6
        assert runner.model.head.loss_module.theta.sum() > 0
